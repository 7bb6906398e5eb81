"""From an experiment's stage tables to pipeline stages: components, indexes, caches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.cache import CachedScorer, ScoreCache
from rankkit.components import TunedScorer, fingerprint
from rankkit.datasets.base import Dataset
from rankkit.errors import ConfigError, RankkitError
from rankkit.experiment.stages import RETRIEVER_STAGE_KEYS, SCORER_STAGE_KEYS, StageConfig
from rankkit.indexes import BuiltIndex, ensure_index, find_manifest
from rankkit.pipeline import Cutoff, Fusion, RerankerStage, RetrieverStage, ScorerReranker, Sequential, Stage
from rankkit.registry import Registry
from rankkit.rescore import RescoreSettings
from rankkit.types import Query, Ranking, Run

#: Parameters the experiment fills in for a component that declares them and the stage leaves unset.
CONTEXT_PARAMS = ("dataset",)


if TYPE_CHECKING:  # pragma: no cover
    from rankkit.experiment.config import ExperimentConfig, PipelineConfig

#: Prefix of a parameter value that names a model trained in the same file (``model = "train:ce"``).
TRAINED_PREFIX = "train:"


@dataclass
class PlanContext:
    """What building stages needs.

    Attributes:
        registry: Where components come from.
        dataset: The dataset the stages run on.
        dataset_name: Its name as written (filled into components' ``dataset`` parameter).
        index_dirs: Folders searched for index manifests.
        score_cache: Cache for scorers, or ``None``.
        on_index: Called with an index name before it is checked or built.
        on_index_done: Called with an index name and the index once it was reused, built or resumed
            (:meth:`~rankkit.indexes.BuiltIndex.summary` says which, and how long it took).
        indexes: Indexes already ensured, by the name used in the file.
        trained: Model folders of the file's ``[train.*]`` sections, by name.
    """

    registry: Registry
    dataset: Dataset
    dataset_name: str
    index_dirs: list[Path]
    score_cache: ScoreCache | None = None
    on_index: Callable[[str], None] = lambda name: None
    on_index_done: Callable[[str, BuiltIndex], None] = lambda name, built: None
    indexes: dict[str, BuiltIndex] = field(default_factory=dict)
    trained: dict[str, Path] = field(default_factory=dict)


def _split(params: dict[str, Any], keys: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    stage = {k: params[k] for k in keys if k in params}
    rest = {k: v for k, v in params.items() if k not in keys}
    return stage, rest


def _component_params(stage: StageConfig, kind: str, params: dict[str, Any], ctx: PlanContext) -> dict[str, Any]:
    try:
        spec = ctx.registry.get(kind, stage.component).spec  # type: ignore[arg-type]
    except RankkitError as error:
        raise ConfigError(f"{stage.where}.{kind}: {error}") from None
    names = {p.name for p in spec.params}
    for key in CONTEXT_PARAMS:
        if key in names and key not in params:
            params[key] = ctx.dataset_name
    if "index" in params and "index" in names:
        built = _index(params["index"], stage, ctx)
        params["index"] = str(built.path)
    return {key: substitute_trained(value, ctx.trained, f"{stage.where}.{key}") for key, value in params.items()}


def substitute_trained(value: Any, trained: Mapping[str, Path], where: str) -> Any:
    """``value`` with every ``"train:NAME"`` string (also inside lists and tables) replaced by the model's folder.

    Raises:
        ConfigError: For a name with no ``[train.NAME]`` section trained before, naming the known ones.
    """
    if isinstance(value, str) and value.startswith(TRAINED_PREFIX):
        name = value[len(TRAINED_PREFIX) :]
        if name not in trained:
            known = ", ".join(sorted(trained)) or "none"
            raise ConfigError(f"{where}: no [train.{name}] section before this one in the file; trained models: {known}")
        return str(trained[name])
    if isinstance(value, list):
        return [substitute_trained(v, trained, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute_trained(v, trained, f"{where}.{k}") for k, v in value.items()}
    return value


def trained_references(value: Any) -> list[str]:
    """The ``NAME`` of every ``"train:NAME"`` string in ``value`` (lists and tables included)."""
    if isinstance(value, str):
        return [value[len(TRAINED_PREFIX) :]] if value.startswith(TRAINED_PREFIX) else []
    if isinstance(value, list):
        return [n for v in value for n in trained_references(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in trained_references(v)]
    return []


def _index(name: Any, stage: StageConfig, ctx: PlanContext) -> BuiltIndex:
    if not isinstance(name, str):
        raise ConfigError(f"{stage.where}.index: must be an index manifest name or path, got {name!r}")
    if name not in ctx.indexes:
        if Path(name).is_dir() and not name.endswith(".toml"):
            from rankkit.indexes import read_stamp

            stamp = read_stamp(Path(name)) or {}
            ctx.indexes[name] = BuiltIndex(Path(name), stamp)
        else:
            try:
                manifest = find_manifest(name, ctx.index_dirs)
            except ConfigError as error:
                raise ConfigError(f"{stage.where}.index: {error}") from None
            ctx.on_index(manifest.name)
            ctx.indexes[name] = ensure_index(manifest, ctx.registry)
            ctx.on_index_done(manifest.name, ctx.indexes[name])
    return ctx.indexes[name]


def build_stage(stage: StageConfig, ctx: PlanContext) -> Stage:
    """One stage object for one stage table.

    Raises:
        ConfigError: For an unknown component or bad parameters, naming file and key.
    """
    if stage.kind == "cutoff":
        return Cutoff(stage.params["k"])
    if stage.kind == "fusion":
        fused = [Sequential([build_stage(s, ctx) for s in sub]) for sub in stage.of]
        try:
            return Fusion(fused, stage.component, **stage.params)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{stage.where}: {error}") from None
    if stage.kind == "retriever":
        extra, params = _split(dict(stage.params), RETRIEVER_STAGE_KEYS)
        params = _component_params(stage, "retriever", params, ctx)
        k = extra.get("k", 1000)
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"{stage.where}.k: must be a positive integer, got {k!r}")
        return RetrieverStage(_build(ctx, "retriever", stage, params), k)
    if stage.kind == "reranker":
        params = _component_params(stage, "reranker", dict(stage.params), ctx)
        return RerankerStage(_build(ctx, "reranker", stage, params), ctx.dataset.doc_store())
    extra, params = _split(dict(stage.params), SCORER_STAGE_KEYS)
    params = _component_params(stage, "scorer", params, ctx)
    scorer = _build(ctx, "scorer", stage, params)
    weights = _interpolation(stage, extra, scorer)
    if ctx.score_cache is not None and extra.pop("cache", True):
        scorer = CachedScorer(scorer, ctx.score_cache)
    try:
        settings = RescoreSettings(window_size=extra.get("window", 100), score_mode=extra.get("score_mode", "total"), **weights)
    except (RankkitError, TypeError, ValueError) as error:
        raise ConfigError(f"{stage.where}: {error}") from None
    return ScorerReranker(scorer, ctx.dataset.doc_store(), settings)


def _interpolation(stage: StageConfig, extra: dict[str, Any], scorer: Any) -> dict[str, Any]:
    """The stage's weights and normalization: as written, or (``interpolation = "tuned"``) the ones the
    scorer's model was tuned to on validation data held out of its training (:class:`~rankkit.components.TunedScorer`).

    Raises:
        ConfigError: For "tuned" with weights also given, or a scorer without tuned weights.
    """
    keys = ("query_weight", "rescore_query_weight", "normalization")
    mode = extra.get("interpolation", "given")
    if mode == "given":
        return {"query_weight": float(extra.get("query_weight", 1.0)),
                "rescore_query_weight": float(extra.get("rescore_query_weight", 1.0)),
                "normalization": extra.get("normalization", "none")}
    if mode != "tuned":
        raise ConfigError(f"{stage.where}.interpolation: 'given' (the stage's weights) or 'tuned' (the model's), got {mode!r}")
    if any(k in extra for k in keys):
        raise ConfigError(f"{stage.where}: interpolation = \"tuned\" takes the weights from the model; remove {[k for k in keys if k in extra]}")
    hint = scorer.tuned_interpolation() if isinstance(scorer, TunedScorer) else None
    if not hint:
        raise ConfigError(f"{stage.where}: scorer {stage.component!r} has no interpolation weights tuned on validation data "
                          "(train it with validation_fraction > 0), so interpolation = \"tuned\" cannot be used")
    return {k: hint[k] for k in keys}


def _build(ctx: PlanContext, kind: str, stage: StageConfig, params: dict[str, Any]) -> Any:
    try:
        return ctx.registry.build(kind, stage.component, **params)  # type: ignore[arg-type]
    except ConfigError as error:
        raise ConfigError(f"{stage.where}: {error}") from None


class RunLookup(Stage):
    """A first stage that serves rankings of a finished run (used to fuse finished pipelines)."""

    def __init__(self, run: Run, of: str) -> None:
        self._run = run
        self.fingerprint = of

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        return [self._run.get(q.query_id, Ranking.empty(q.query_id)) for q in queries]


def build_pipeline(pipeline: PipelineConfig, ctx: PlanContext, finished: dict[str, Run], fingerprints: dict[str, str]) -> Stage:
    """The compiled stage of one pipeline; fusions read the finished runs they fuse."""
    if pipeline.fusion:
        lookups = [RunLookup(finished[name], fingerprints[name]) for name in pipeline.of]
        params = dict(pipeline.fusion_params)
        try:
            return Fusion(lookups, pipeline.fusion, **params).compile()
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{pipeline.where}: {error}") from None
    return Sequential([build_stage(s, ctx) for s in pipeline.stages]).compile()


def pipeline_order(config: ExperimentConfig) -> list[str]:
    """Pipelines in dependency order: fusions after what they fuse.

    Raises:
        ConfigError: On a cycle of fusions.
    """
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ConfigError(f"{config.path}: pipelines.{name} fuses itself through a cycle")
        visiting.add(name)
        for other in config.pipelines[name].of:
            visit(other)
        visiting.discard(name)
        order.append(name)

    for name in config.pipelines:
        visit(name)
    return order


def config_hash(config: ExperimentConfig) -> str:
    """A stable hash of the experiment file's content."""
    return fingerprint("experiment", config.name, config.raw)
