"""Stage tables of experiment and training files: ``{ retriever = "bm25", index = "scifact-bm25", k = 100 }``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rankkit.errors import ConfigError
from rankkit.fusion import FUSION_OPTIONS, check_options

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

STAGE_KINDS = ("retriever", "reranker", "scorer", "cutoff", "fusion")

#: Keys a retriever stage takes besides the component's own parameters.
RETRIEVER_STAGE_KEYS = ("k",)
#: Keys a scorer stage takes besides the component's own parameters (Elasticsearch rescore semantics).
SCORER_STAGE_KEYS = ("window", "query_weight", "rescore_query_weight", "score_mode", "normalization", "interpolation", "cache")


@dataclass(frozen=True)
class StageConfig:
    """One stage of a pipeline as written in the file.

    Attributes:
        kind: ``retriever``, ``reranker``, ``scorer``, ``cutoff`` or ``fusion``.
        component: The component name (the method for a fusion, empty for a cutoff).
        params: Everything else in the stage table (a fusion's options).
        where: ``file: pipelines.<name>.stages[i]`` for error messages.
        of: For a fusion, the pipelines it fuses: each a tuple of stages starting with a retriever.
    """

    kind: str
    component: str
    params: dict[str, Any]
    where: str
    of: tuple[tuple[StageConfig, ...], ...] = ()


def no_unknown(table: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    """Raise a :class:`ConfigError` naming ``where`` when ``table`` has keys outside ``valid``."""
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}")


def fusion_options(method: Any, n: int, options: dict[str, Any], where: str) -> dict[str, Any]:
    """Check a fusion of ``n`` rankings: its method and options (``k``/``depth`` for RRF, ``weights``/``normalization``
    for CombSUM).

    Raises:
        ConfigError: Naming ``where``.
    """
    if not isinstance(method, str) or method not in FUSION_OPTIONS:
        raise ConfigError(f"{where}.fusion: {method!r} is not one of {', '.join(FUSION_OPTIONS)}")
    no_unknown(options, FUSION_OPTIONS[method], f"{where} ({method})")
    try:
        return check_options(method, n, options)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def parse_retrieval(table: Any, where: str) -> tuple[StageConfig, ...]:
    """A first stage and what follows it: one stage table or a list of them, starting with a retriever or a fusion.

    Raises:
        ConfigError: Naming ``where`` and the stage.
    """
    stages = [table] if isinstance(table, dict) else table
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{where}: must be a stage table or a non-empty list of stage tables")
    parsed = tuple(parse_stage(stage, f"{where}[{i}]") for i, stage in enumerate(stages))
    if parsed[0].kind not in ("retriever", "fusion"):
        raise ConfigError(f"{where}[0]: the first stage must be a retriever or a fusion of retrievers, got a {parsed[0].kind}")
    for stage in parsed[1:]:
        if stage.kind in ("retriever", "fusion"):
            raise ConfigError(f"{stage.where}: only the first stage may retrieve (fuse retrievers with a fusion stage)")
    return parsed


def parse_stage(table: Any, where: str) -> StageConfig:
    """One stage table (``{ retriever = "bm25", k = 100 }``).

    A fusion stage fuses first stages run on the same queries::

        { fusion = "combsum", normalization = "minmax", of = [
            { retriever = "bm25", index = "scifact-bm25", k = 1000 },
            { retriever = "dense", index = "scifact-dense", k = 1000 } ] }

    Raises:
        ConfigError: Naming ``where``.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a stage must be a table like {{ retriever = \"bm25\", ... }}")
    kinds = [k for k in STAGE_KINDS if k in table]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: a stage needs exactly one of {', '.join(STAGE_KINDS)}; got {kinds or 'none'}")
    kind = kinds[0]
    params = {k: v for k, v in table.items() if k != kind}
    if kind == "fusion":
        of = params.pop("of", None)
        if not isinstance(of, list) or len(of) < 2:
            raise ConfigError(f"{where}.of: list at least two first stages to fuse (stage tables, or lists of them)")
        fused = tuple(parse_retrieval(sub, f"{where}.of[{i}]") for i, sub in enumerate(of))
        return StageConfig(kind, table[kind], fusion_options(table[kind], len(fused), params, where), where, fused)
    if kind == "cutoff":
        if not isinstance(table["cutoff"], int) or table["cutoff"] < 1 or params:
            raise ConfigError(f"{where}: a cutoff stage is {{ cutoff = K }} with a positive integer K")
        return StageConfig(kind, "", {"k": table["cutoff"]}, where)
    if not isinstance(table[kind], str):
        raise ConfigError(f"{where}.{kind}: must be a component name (string)")
    return StageConfig(kind, table[kind], params, where)



def stage_versions(stages: Iterable[StageConfig], registry: Registry) -> dict[str, str]:
    """The versions (rankkit, plugins, backend libraries) that the components of ``stages`` depend on, fused
    pipelines' included (:meth:`rankkit.registry.RegisteredComponent.versions`)."""
    versions: dict[str, str] = {}
    for stage in stages:
        if stage.kind in ("retriever", "reranker", "scorer"):
            versions.update(registry.get(stage.kind, stage.component).versions())  # type: ignore[arg-type]
        for fused in stage.of:
            versions.update(stage_versions(fused, registry))
    return dict(sorted(versions.items()))
