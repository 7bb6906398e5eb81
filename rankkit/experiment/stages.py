"""Stage tables of experiment and training files: ``{ retriever = "bm25", index = "scifact-bm25", k = 100 }``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rankkit.errors import ConfigError

STAGE_KINDS = ("retriever", "reranker", "scorer", "cutoff")
#: Keys a retriever stage takes besides the component's own parameters.
RETRIEVER_STAGE_KEYS = ("k",)
#: Keys a scorer stage takes besides the component's own parameters (Elasticsearch rescore semantics).
SCORER_STAGE_KEYS = ("window", "query_weight", "rescore_query_weight", "score_mode", "normalization", "interpolation", "cache")


@dataclass(frozen=True)
class StageConfig:
    """One stage of a pipeline as written in the file.

    Attributes:
        kind: ``retriever``, ``reranker``, ``scorer`` or ``cutoff``.
        component: The component name (empty for a cutoff).
        params: Everything else in the stage table.
        where: ``file: pipelines.<name>.stages[i]`` for error messages.
    """

    kind: str
    component: str
    params: dict[str, Any]
    where: str



def no_unknown(table: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    """Raise a :class:`ConfigError` naming ``where`` when ``table`` has keys outside ``valid``."""
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}")


def parse_stage(table: Any, where: str) -> StageConfig:
    """One stage table (``{ retriever = "bm25", k = 100 }``).

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
    if kind == "cutoff":
        if not isinstance(table["cutoff"], int) or table["cutoff"] < 1 or params:
            raise ConfigError(f"{where}: a cutoff stage is {{ cutoff = K }} with a positive integer K")
        return StageConfig(kind, "", {"k": table["cutoff"]}, where)
    if not isinstance(table[kind], str):
        raise ConfigError(f"{where}.{kind}: must be a component name (string)")
    return StageConfig(kind, table[kind], params, where)

