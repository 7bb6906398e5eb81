"""Everything an experiment file asks for, checked before any work: datasets, components, parameters, indexes,
trained-model references and measures. Every problem is reported at once, with the file and the key path, and
nothing is built, trained, run or written.

The checks are those the run itself would make later (the same parameter schemas through
:func:`rankkit.registry.validate_params`, the same manifest search), made early: a misspelled key in the third
pipeline no longer surfaces after the indexes are built and two pipelines ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.errors import ConfigError, RankkitError
from rankkit.experiment.plan import CONTEXT_PARAMS, TRAINED_PREFIX, trained_references
from rankkit.experiment.stages import RETRIEVER_STAGE_KEYS, SCORER_STAGE_KEYS, StageConfig
from rankkit.registry import validate_params

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.experiment.config import ExperimentConfig
    from rankkit.indexes import IndexManifest
    from rankkit.registry import Registry

#: Keys each kind of stage takes besides its component's parameters.
STAGE_KEYS = {"retriever": RETRIEVER_STAGE_KEYS, "scorer": SCORER_STAGE_KEYS, "reranker": ()}


@dataclass
class Plan:
    """What a run will use, found while checking (for ``rankkit run --dry-run``).

    Attributes:
        datasets: Dataset names.
        indexes: Index name as written -> its manifest.
        trainings: Section name -> (trainer, dataset).
        pipelines: Pipeline name -> a one-line description of its stages.
        measures: The measures evaluated.
    """

    datasets: list[str] = field(default_factory=list)
    indexes: dict[str, IndexManifest] = field(default_factory=dict)
    trainings: dict[str, tuple[str, str]] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)
    measures: list[str] = field(default_factory=list)


class _Checker:
    def __init__(self, config: ExperimentConfig, registry: Registry) -> None:
        self.config, self.registry = config, registry
        self.problems: list[str] = []
        self.plan = Plan()

    def attempt(self, check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except RankkitError as error:
            self.problems.append(str(error))
        except (ValueError, TypeError) as error:
            self.problems.append(f"{self.config.path}: {error}")
        return None

    def dataset(self, name: str, where: str) -> None:
        from rankkit.datasets import resolve_dataset

        if name in self.plan.datasets:
            return
        try:
            resolve_dataset(name, self.registry)
            self.plan.datasets.append(name)
        except RankkitError as error:
            self.problems.append(f"{where}: {error}")

    def stages(self, stages: Iterable[StageConfig], trained: set[str]) -> None:
        for stage in stages:
            self.stage(stage, trained)

    def stage(self, stage: StageConfig, trained: set[str]) -> None:
        if stage.kind == "cutoff":
            return
        if stage.kind == "fusion":
            for sub in stage.of:
                self.stages(sub, trained)
            return
        try:
            spec = self.registry.get(stage.kind, stage.component).spec  # type: ignore[arg-type]
        except RankkitError as error:
            self.problems.append(f"{stage.where}.{stage.kind}: {error}")
            return
        own = STAGE_KEYS[stage.kind]
        names = {p.name for p in spec.params}
        unknown = sorted(set(stage.params) - names - set(own))
        if unknown:
            takes = ", ".join(p.name for p in spec.params) or "nothing"
            stage_keys = f"; the stage takes: {', '.join(own)}" if own else ""
            self.problems.append(f"{stage.where}.{unknown[0]}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                 f"{stage.kind} {stage.component!r} takes: {takes}{stage_keys}")
            return
        params = {k: v for k, v in stage.params.items() if k not in own}
        for key in CONTEXT_PARAMS:
            if key in names and key not in params:
                params[key] = self.config.dataset
        self.references(params, trained, stage.where)
        if "index" in params and "index" in names:
            self.index(params["index"], stage.where)
        self.attempt(validate_params, spec, params, stage.where)

    def index(self, name: Any, where: str) -> None:
        from rankkit.indexes import find_manifest

        if not isinstance(name, str):
            self.problems.append(f"{where}.index: must be an index manifest name or path, got {name!r}")
        elif not (Path(name).is_dir() and not name.endswith(".toml")) and name not in self.plan.indexes:
            try:
                manifest = find_manifest(name, self.config.index_dirs)
            except ConfigError as error:
                self.problems.append(f"{where}.index: {error}")
                return
            self.plan.indexes[name] = manifest
            source = f"{manifest.source or name} (index of {where})"
            self.dataset(manifest.dataset, f"{source}: dataset")
            try:
                spec = self.registry.get("index_builder", manifest.builder).spec
            except RankkitError as error:
                self.problems.append(f"{source}: builder: {error}")
                return
            self.attempt(validate_params, spec, {"dataset": manifest.dataset, **manifest.params}
                         if "dataset" in {p.name for p in spec.params} else manifest.params, f"{source}: [params]")

    def references(self, params: dict[str, Any], trained: set[str], where: str) -> None:
        for name in trained_references(params):
            if name not in trained:
                known = ", ".join(sorted(trained)) or "none"
                self.problems.append(f"{where}: {TRAINED_PREFIX}{name}: no [train.{name}] section before this one in "
                                     f"the file; trained models: {known}")

    def trainings(self) -> set[str]:
        trained: set[str] = set()
        for name, section in self.config.trainings.items():
            self.dataset(section.dataset, f"{section.where}.dataset")
            self.stages(section.first_stage, trained)
            try:
                spec = self.registry.get("trainer", section.trainer).spec
            except RankkitError as error:
                self.problems.append(f"{section.where}.trainer: {error}")
            else:
                self.references(section.params, trained, f"{section.where}.params")
                self.attempt(validate_params, spec, section.params, f"{section.where}.params")
            self.plan.trainings[name] = (section.trainer, section.dataset)
            trained.add(name)
        return trained

    def pipelines(self, trained: set[str]) -> None:
        for name, pipeline in self.config.pipelines.items():
            if pipeline.dataset:
                self.dataset(pipeline.dataset, f"{pipeline.where}.dataset")
            if pipeline.fusion:
                self.plan.pipelines[name] = f"{pipeline.fusion} of {', '.join(pipeline.of)}"
                continue
            self.stages(pipeline.stages, trained)
            self.plan.pipelines[name] = " >> ".join(_describe(s) for s in pipeline.stages)

    def measures(self) -> None:
        from rankkit.evaluation.measures import parse_measure

        where = f"{self.config.path}: [evaluation].measures"
        for text in self.config.evaluation.measures:
            if self.attempt(_measure, parse_measure, text, where) is not None:
                self.plan.measures.append(text)
        for pipeline, values in self.config.expected.items():
            for measure in values:
                if measure not in self.config.evaluation.measures:
                    self.problems.append(f"{self.config.path}: [expected.{pipeline}] {measure!r} is not among the "
                                         f"measures evaluated ({', '.join(self.config.evaluation.measures)})")


def _measure(parse: Any, text: str, where: str) -> Any:
    try:
        return parse(text)
    except (ValueError, TypeError, RankkitError) as error:
        raise ConfigError(f"{where}: {error}") from None


def _describe(stage: StageConfig) -> str:
    if stage.kind == "cutoff":
        return f"top {stage.params['k']}"
    if stage.kind == "fusion":
        return f"{stage.component}({', '.join(' >> '.join(_describe(s) for s in sub) for sub in stage.of)})"
    detail = ", ".join(f"{k}={v}" for k, v in stage.params.items() if k in ("index", "model", "k", "window"))
    return f"{stage.component}({detail})" if detail else stage.component


def check_experiment(config: ExperimentConfig, registry: Registry) -> Plan:
    """Check the whole experiment before any work.

    Returns:
        The :class:`Plan`: what the run will use.

    Raises:
        ConfigError: Listing every problem found, each with its file and key path.
    """
    checker = _Checker(config, registry)
    checker.dataset(config.dataset, f"{config.path}: dataset")
    trained = checker.trainings()
    checker.pipelines(trained)
    checker.measures()
    if checker.problems:
        count = len(checker.problems)
        raise ConfigError(f"{config.path}: {count} problem{'s' * (count > 1)} found before any work "
                          "(nothing was built, trained, run or written):\n  " + "\n  ".join(checker.problems))
    return checker.plan
