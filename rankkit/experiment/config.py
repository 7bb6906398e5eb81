"""Experiment files (TOML): parsing and validation with file and key in every error.

The format (DESIGN.md §5)::

    dataset = "beir-scifact/test"

    [pipelines.bm25]
    stages = [{ retriever = "bm25", index = "scifact-bm25", k = 1000 }]

    [pipelines.hybrid]
    fusion = "rrf"              # or "combsum"
    of = ["bm25", "dense"]

    [pipelines.translated]      # a pipeline may run on another dataset with the same judgments
    dataset = "xquad/de-en"     # (query variants, translated queries, another language's corpus)
    stages = [...]

    [evaluation]
    measures = ["nDCG@10", "RR@10", "R@100", "AP"]
    baseline = "bm25"
    test = "paired-t"           # or "wilcoxon"
    correction = "holm"         # or "bonferroni", "none"
    alpha = 0.05

    [expected]
    tolerance = 1e-4
    [expected.bm25]
    "nDCG@10" = 0.6789
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankkit.config import load_toml, require
from rankkit.errors import ConfigError
from rankkit.experiment.stages import StageConfig, fusion_options, no_unknown, parse_retrieval
from rankkit.experiment.training import TrainConfig, parse_train_tables
from rankkit.types import Query


TESTS = ("paired-t", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "none")
_TOP_KEYS = ("name", "description", "dataset", "pipelines", "evaluation", "expected", "settings", "train")


@dataclass(frozen=True)
class PipelineConfig:
    """A named pipeline: a list of stages, or a fusion of other pipelines."""

    name: str
    stages: tuple[StageConfig, ...] = ()
    fusion: str | None = None
    of: tuple[str, ...] = ()
    fusion_params: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    dataset: str | None = None


@dataclass(frozen=True)
class EvaluationConfig:
    """The ``[evaluation]`` table."""

    measures: tuple[str, ...] = ("nDCG@10", "RR@10", "R@100", "AP")
    baseline: str | None = None
    test: str = "paired-t"
    correction: str = "holm"
    alpha: float = 0.05


@dataclass(frozen=True)
class ExperimentConfig:
    """A parsed, validated experiment file."""

    path: Path
    name: str
    dataset: str
    pipelines: dict[str, PipelineConfig]
    evaluation: EvaluationConfig
    expected: dict[str, dict[str, float]]
    tolerance: float
    batch_size: int
    ci: bool = True
    queries: int = 0
    query_seed: int | None = None
    models: str = ""
    description: str = ""
    trainings: dict[str, TrainConfig] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def index_dirs(self) -> list[Path]:
        """Folders searched for index manifests (see :func:`rankkit.indexes.manifest_dirs_for`)."""
        from rankkit.indexes import manifest_dirs_for

        return manifest_dirs_for(self.path)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment file (structure only; components are checked when planning).

    Raises:
        ConfigError: Naming the file, the key and the valid choices.
    """
    path = Path(path)
    data = load_toml(path)
    where = str(path)
    no_unknown(data, _TOP_KEYS, where)
    dataset = require(data, "dataset", str, where)
    tables = require(data, "pipelines", dict, where)
    if not tables:
        raise ConfigError(f"{where}: [pipelines] is empty; define at least one pipeline")
    pipelines = {name: _pipeline(name, table, where) for name, table in tables.items()}
    for pipeline in pipelines.values():
        for other in pipeline.of:
            if other not in pipelines or other == pipeline.name:
                raise ConfigError(
                    f"{pipeline.where}: 'of' names unknown pipeline {other!r}; pipelines: {', '.join(pipelines)}"
                )
    evaluation = _evaluation(data.get("evaluation", {}), where, pipelines)
    expected, tolerance = _expected(data.get("expected", {}), where, pipelines)
    settings = data.get("settings", {})
    no_unknown(settings, ("batch_size", "ci", "queries", "query_seed", "models"), f"{where}: [settings]")
    models = settings.get("models", "")
    if not isinstance(models, str) or (models and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", models)):
        raise ConfigError(f"{where}: [settings] models must be a folder name (letters, digits, '.', '_', '-'), "
                          f"got {models!r}")
    limit = settings.get("queries", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ConfigError(f"{where}: [settings] queries must be a non-negative integer (0: all), got {limit!r}")
    query_seed = settings.get("query_seed")
    if query_seed is not None and (not isinstance(query_seed, int) or isinstance(query_seed, bool) or query_seed < 0
                                   or not limit):
        raise ConfigError(f"{where}: [settings] query_seed must be a non-negative integer used with queries = N "
                          f"(a seeded sample of N queries instead of the first N), got {query_seed!r}")
    ci = settings.get("ci", True)
    if not isinstance(ci, bool):
        raise ConfigError(f"{where}: [settings] ci must be true or false, got {ci!r}")
    batch_size = settings.get("batch_size", 50)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{where}: [settings] batch_size must be a positive integer, got {batch_size!r}")
    trainings = parse_train_tables(data.get("train", {}), where)
    return ExperimentConfig(
        trainings=trainings,
        path=path,
        name=str(data.get("name", path.stem)),
        dataset=dataset,
        pipelines=pipelines,
        evaluation=evaluation,
        expected=expected,
        tolerance=tolerance,
        batch_size=batch_size,
        ci=ci,
        queries=limit,
        query_seed=query_seed,
        models=models,
        description=str(data.get("description", "")),
        raw=data,
    )


def _pipeline(name: str, table: Any, file: str) -> PipelineConfig:
    where = f"{file}: pipelines.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with 'stages' or 'fusion'")
    if "fusion" in table:
        method = table["fusion"]
        of = table.get("of")
        if not isinstance(of, list) or len(of) < 2 or not all(isinstance(o, str) for o in of):
            raise ConfigError(f"{where}.of: list the names of at least two pipelines to fuse "
                              "(or fuse retrievers inside a pipeline with a stage { fusion = ..., of = [stage tables] })")
        params = fusion_options(method, len(of), {k: v for k, v in table.items() if k not in ("fusion", "of")}, where)
        return PipelineConfig(name, fusion=method, of=tuple(of), fusion_params=params, where=where)
    no_unknown(table, ("stages", "description", "dataset"), where)
    dataset = table.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise ConfigError(f"{where}.dataset: must be a dataset name")
    stages = table.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{where}: 'stages' must be a non-empty list of stage tables")
    return PipelineConfig(name, stages=parse_retrieval(stages, f"{where}.stages"), where=where, dataset=dataset)


def _evaluation(table: Any, file: str, pipelines: dict[str, PipelineConfig]) -> EvaluationConfig:
    where = f"{file}: [evaluation]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    no_unknown(table, ("measures", "baseline", "test", "correction", "alpha"), where)
    measures = table.get("measures", list(EvaluationConfig.measures))
    if isinstance(measures, str):
        measures = measures.replace(",", " ").split()
    if not isinstance(measures, list) or not measures or not all(isinstance(m, str) for m in measures):
        raise ConfigError(f"{where}: measures must be a list like [\"nDCG@10\", \"AP\"]")
    baseline = table.get("baseline")
    if baseline is not None and baseline not in pipelines:
        raise ConfigError(f"{where}: baseline {baseline!r} is not a pipeline; pipelines: {', '.join(pipelines)}")
    test = table.get("test", "paired-t")
    if test not in TESTS:
        raise ConfigError(f"{where}: test {test!r} is not one of {', '.join(TESTS)}")
    correction = table.get("correction", "holm")
    if correction not in CORRECTIONS:
        raise ConfigError(f"{where}: correction {correction!r} is not one of {', '.join(CORRECTIONS)}")
    alpha = table.get("alpha", 0.05)
    if not isinstance(alpha, float) or not 0.0 < alpha < 1.0:
        raise ConfigError(f"{where}: alpha must be a number between 0 and 1 (exclusive), got {alpha!r}")
    return EvaluationConfig(tuple(measures), baseline, test, correction, alpha)


def _expected(table: Any, file: str, pipelines: dict[str, PipelineConfig]) -> tuple[dict[str, dict[str, float]], float]:
    where = f"{file}: [expected]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    tolerance = table.get("tolerance", 1e-4)
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise ConfigError(f"{where}: tolerance must be a non-negative number, got {tolerance!r}")
    expected: dict[str, dict[str, float]] = {}
    for name, values in table.items():
        if name == "tolerance":
            continue
        if name not in pipelines or not isinstance(values, dict):
            raise ConfigError(f"{where}: {name!r} is not a pipeline table; pipelines: {', '.join(pipelines)}")
        for measure, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{where}.{name}: {measure!r} must be a number, got {value!r}")
        expected[name] = {m: float(v) for m, v in values.items()}
    return expected, float(tolerance)


def sample_queries(queries: list[Query], limit: int, seed: int | None) -> list[Query]:
    """The first ``limit`` queries, or (with ``seed``) a seeded sample of ``limit`` of them, kept in file order."""
    if seed is None or limit >= len(queries):
        return queries[:limit]
    import numpy as np

    picked = np.sort(np.random.default_rng(seed).choice(len(queries), size=limit, replace=False))
    return [queries[i] for i in picked]
