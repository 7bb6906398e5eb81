"""Retrievers the core provides itself: reading precomputed TREC runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit.files import file_checksum
from rankkit.trec import read_run
from rankkit.types import Query, Ranking, Run

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry


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
    def from_params(cls, path: str = "", run: str = "", dataset: str = "", registry: Registry | None = None) -> RunFileRetriever:
        """Build from ``path``, or from the run named ``run`` shipped with ``dataset``.

        Args:
            path: A TREC run file.
            run: The name of a run ``dataset`` ships.
            dataset: The dataset that ships ``run``.
            registry: Resolves ``dataset``; required with ``run`` (the registry that builds the component
                passes itself, so ``--disable-plugin`` applies; no other registry is loaded).

        Raises:
            ConfigError: When neither or both are given, ``run`` without ``dataset`` or ``registry``,
                or the run does not exist.
        """
        if bool(path) == bool(run):
            raise ConfigError("retriever 'run' needs exactly one of `path` (a TREC file) or `run` (a dataset run name)")
        if path:
            return cls(path)
        if not dataset:
            raise ConfigError(f"retriever 'run' with run={run!r} needs the `dataset` that ships it")
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
