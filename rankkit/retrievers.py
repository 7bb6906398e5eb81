"""Retrievers the core provides itself: reading precomputed TREC runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit.files import file_checksum
from rankkit.params import Settings, param
from rankkit.trec import read_run
from rankkit.types import Query, Ranking, Run

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry


@dataclass(frozen=True)
class RunFileSettings(Settings):
    """Where the run retriever's run comes from: a file, or a run a dataset ships."""

    path: str = param("", help="TREC run file to read")
    run: str = param("", help="name of a run in the dataset's runs/ folder (e.g. 'bm25')")
    dataset: str = param("", help="dataset whose runs/ folder holds `run`")

    def __post_init__(self) -> None:
        super().__post_init__()
        if bool(self.path) == bool(self.run):
            raise ConfigError("retriever 'run' needs exactly one of `path` (a TREC file) or `run` (a dataset run name)")
        if self.run and not self.dataset:
            raise ConfigError(f"retriever 'run' with run={self.run!r} needs the `dataset` that ships it")


class RunFileRetriever:
    """Serves rankings from a TREC run file: a first stage computed elsewhere.

    Queries the file lacks get an empty ranking, as a retriever that found
    nothing would return.

    Args:
        path: The run file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"run file {self.path} does not exist")
        self.fingerprint = fingerprint("retriever", "run", {"sha256": file_checksum(self.path)})
        self._run: Run | None = None

    @classmethod
    def from_settings(cls, settings: RunFileSettings, registry: Registry | None = None) -> RunFileRetriever:
        """Build from ``settings.path``, or from the run named ``settings.run`` shipped with ``settings.dataset``.

        Args:
            settings: The run file, or the run's name and dataset.
            registry: Resolves the dataset; required with ``run`` (the registry that builds the component
                passes itself, so ``--disable-plugin`` applies; no other registry is loaded).

        Raises:
            ConfigError: When neither or both are given, ``run`` without ``dataset`` or ``registry``,
                or the run does not exist.
        """
        path, run, dataset = settings.path, settings.run, settings.dataset
        if path:
            return cls(path)
        if registry is None:
            raise ConfigError(f"retriever 'run' with run={run!r} resolves dataset {dataset!r} through the plugin "
                              "registry: build it with registry.build('retriever', 'run', ...) or pass registry=")
        from rankkit.datasets import resolve_dataset

        runs = resolve_dataset(dataset, registry).run_files()
        if run not in runs:
            raise ConfigError(f"dataset {dataset!r} has no run {run!r}; it has: {', '.join(runs) or 'none'}")
        return cls(runs[run])

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """The file's top ``k`` for each query."""
        if self._run is None:
            self._run = read_run(self.path)
        return [self._run.get(q.query_id, Ranking.empty(q.query_id)).top(k) for q in queries]
