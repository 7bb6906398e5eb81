"""Running an experiment file end to end: indexes, pipelines, runs, evaluation, report, manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rankkit.cache import ScoreCache
from rankkit.config import cache_dir
from rankkit.datasets import resolve_dataset
from rankkit.errors import ConfigError
from rankkit.experiment.checkpoint import Checkpoint
from rankkit.experiment.config import ExperimentConfig, sample_queries
from rankkit.experiment.plan import PlanContext, build_pipeline, config_hash, pipeline_order
from rankkit.experiment.reports import (BatchTraces, component_reports, describe_pipelines, describe_trainings,
                                        example_traces)
from rankkit.experiment.stages import stage_versions
from rankkit.files import atomic_write
from rankkit.pipeline import Stage, batched
from rankkit.progress import progress_bars
from rankkit.registry import Registry
from rankkit.experiment.training import CHECKPOINT_PREFIX, TrainedModel, ensure_trained
from rankkit.experiment.validate import check_experiment
from rankkit.staging import remove_if_empty
from rankkit.store import explain, key_for
from rankkit.trec import read_run, write_run
from rankkit.types import Query, Run
from rankkit.versions import environment

logger = logging.getLogger(__name__)
#: The output's folder of per-batch checkpoints.
CHECKPOINTS = ".checkpoints"


@dataclass(frozen=True)
class Drift:
    """An expected number that the run did not reproduce."""

    pipeline: str
    measure: str
    expected: float
    actual: float | None
    tolerance: float

    def __str__(self) -> str:
        actual = "not computed" if self.actual is None else f"{self.actual:.4f}"
        return f"{self.pipeline} {self.measure}: expected {self.expected:.4f} ± {self.tolerance:g}, got {actual}"


@dataclass
class PipelineOutcome:
    """What happened to one pipeline."""

    name: str
    run_path: Path
    fingerprint: str
    seconds: float
    batches: int
    resumed_batches: int
    reused: bool
    statistics: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    """Everything an experiment produced."""

    output: Path
    outcomes: dict[str, PipelineOutcome]
    results: dict[str, Any] = field(default_factory=dict)
    comparison: Any = None
    report: Path | None = None
    manifest: Path | None = None
    drifts: list[Drift] = field(default_factory=list)


class ExperimentRunner:
    """Runs one experiment; resumable at query-batch granularity.

    Args:
        config: The parsed experiment.
        registry: Where components come from.
        output: Output folder (default ``runs/<experiment name>``).
        progress: Show progress bars.
        use_cache: Cache scorer scores in ``<cache>/scores.sqlite``.
        shard: ``(i, n)``: compute only the query batches ``b`` with ``b % n == i - 1`` of each pipeline into
            shard checkpoints, and nothing else (no run files, fusions, evaluation or report). A later run
            without a shard finds every batch done, merges them and evaluates: its run files are
            byte-identical to a run that was never split.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        registry: Registry,
        output: Path | None = None,
        progress: bool = True,
        use_cache: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if shard is not None and not 1 <= shard[0] <= shard[1]:
            raise ConfigError(f"shard must be i/n with 1 <= i <= n, got {shard[0]}/{shard[1]}")
        self.shard = shard
        self.config = config
        self.registry = registry
        self.output = Path(output) if output else Path("runs") / config.name
        self.progress = progress
        self.use_cache = use_cache
        self.log: list[str] = []

    def _say(self, message: str) -> None:
        self.log.append(message)
        logger.info(message)

    @property
    def model_root(self) -> Path:
        """Where the file's ``[train.*]`` models go: ``[settings] models``, a folder beside the output shared by
        experiments naming the same one (the training key makes reuse safe), else ``<output>/models``."""
        return self.output.parent / self.config.models if self.config.models else self.output / "models"

    @property
    def checkpoints(self) -> Path:
        """The folder of the pipelines' per-batch checkpoints (removed once it is empty)."""
        return self.output / CHECKPOINTS

    def run(self) -> ExperimentResult:
        """Check the whole file, then build missing indexes, train, run every pipeline, evaluate, report and write
        the manifest.

        With ``progress=False`` no progress bar shows, model loading included (:func:`rankkit.progress.progress_bars`).
        When interrupted (Ctrl-C), it logs where the progress was saved and that running the same command again
        resumes from there, then lets the ``KeyboardInterrupt`` through. An empty checkpoint folder is removed
        however the run ends.

        Raises:
            ConfigError: Before any work, listing every problem of the file (:func:`check_experiment`).
            KeyboardInterrupt: After saying where the progress is saved.
        """
        try:
            with progress_bars(self.progress):
                return self._run()
        except KeyboardInterrupt:
            message = self.interrupted_message()
            self.log.append(message)
            logger.warning(message)
            raise
        finally:
            remove_if_empty(self.checkpoints)

    def interrupted_message(self) -> str:
        """What an interrupted run says: where its progress is saved, and that the same command resumes it."""
        saved = [p for p in (self.checkpoints, *sorted(self.model_root.glob(f"{CHECKPOINT_PREFIX}*")))
                 if p.is_dir() and any(p.iterdir())]
        kept = "finished indexes, trained models and pipeline runs are kept"
        if not saved:
            return (f"interrupted before a query batch or training checkpoint was saved ({kept}); run the same "
                    "command again to continue")
        places = " and ".join(str(p) for p in saved)
        return (f"interrupted: progress is saved in {places} ({kept}); run the same command again to resume from "
                "there")

    def _run(self) -> ExperimentResult:
        config = self.config
        check_experiment(config, self.registry)
        dataset = resolve_dataset(config.dataset, self.registry)
        queries = dataset.queries()
        if not queries:
            raise ValueError(f"{config.path}: dataset {config.dataset!r} has no queries")
        if config.queries:
            queries = sample_queries(queries, config.queries, config.query_seed)
            how = "the first" if config.query_seed is None else f"a sample (seed {config.query_seed}) of"
            self._say(f"using {how} {len(queries)} queries of {config.dataset} ([settings] queries)")
        wanted = {q.query_id for q in queries}
        cache = ScoreCache(cache_dir() / "scores.sqlite") if self.use_cache else None
        ctx = PlanContext(
            self.registry, dataset, config.dataset, config.index_dirs, cache,
            on_index=lambda n: self._say(f"index {n}: checking"),
            on_index_done=lambda n, built: self._say(f"index {n}: {built.summary()}"),
        )
        models: dict[str, TrainedModel] = {}
        model_root = self.model_root
        for name, training in config.trainings.items():
            models[name] = ensure_trained(training, self.registry, model_root, config.index_dirs, trained=models)
            ctx.trained[name] = models[name].path
        contexts = {config.dataset: ctx}
        runs: dict[str, Run] = {}
        fingerprints: dict[str, str] = {}
        outcomes: dict[str, PipelineOutcome] = {}
        try:
            for name in pipeline_order(config):
                pipeline = config.pipelines[name]
                if self.shard and pipeline.fusion:
                    continue   # fusions read finished runs: the merging run makes them
                here = self._context(pipeline, contexts, ctx) if pipeline.dataset else ctx
                stage = build_pipeline(pipeline, here, runs, fingerprints)
                fingerprints[name] = stage.fingerprint
                own = [q for q in here.dataset.queries() if q.query_id in wanted] if here is not ctx else queries
                versions = stage_versions(pipeline.stages, self.registry)
                outcome, run = self._run_pipeline(name, stage, own, here.dataset.checksum(), versions)
                runs[name], outcomes[name] = run, outcome
        finally:
            if cache is not None:
                cache.close()
        result = ExperimentResult(self.output, outcomes)
        if self.shard:
            return result
        qrels = dataset.qrels()
        if qrels is not None:
            self._evaluate(result, runs, qrels.restrict(wanted) if config.queries else qrels, models)
        result.manifest = self._write_manifest(result, dataset, ctx, fingerprints, models)
        return result

    def _context(self, pipeline: Any, contexts: dict[str, PlanContext], main: PlanContext) -> PlanContext:
        """The plan context of a pipeline that runs on its own dataset (same judgments, other queries or corpus).

        Raises:
            ConfigError: When that dataset's judgments differ from the experiment's (runs must be comparable).
        """
        name = pipeline.dataset
        if name not in contexts:
            dataset = resolve_dataset(name, self.registry)
            own, shared = dataset.qrels(), main.dataset.qrels()
            if (own is None) != (shared is None) or (own is not None and own.to_dict() != shared.to_dict()):
                raise ConfigError(
                    f"{pipeline.where}.dataset: {name!r} has other judgments than the experiment's dataset "
                    f"{self.config.dataset!r}; a pipeline may only switch to a dataset with the same qrels (query "
                    "variants, translated queries, a parallel corpus) so that its run is evaluated and compared fairly"
                )
            contexts[name] = replace(main, dataset=dataset, dataset_name=name)
        return contexts[name]

    def _run_pipeline(self, name: str, stage: Stage, queries: list[Query], data_key: str,
                      versions: dict[str, str]) -> tuple[PipelineOutcome, Run]:
        qhash = hashlib.sha256("\n".join(f"{q.query_id}\t{q.text}" for q in queries).encode()).hexdigest()
        parts = {"name": name, "stage": stage.fingerprint, "data": data_key, "queries": qhash,
                 "batch": self.config.batch_size, "versions": versions}
        key = key_for("run", parts)
        run_path = self.output / "runs" / f"{name}.trec"
        stamp_path = run_path.with_suffix(".json")
        stamp = json.loads(stamp_path.read_text()) if run_path.is_file() and stamp_path.is_file() else {}
        if stamp.get("key") == key:
            self._say(f"pipeline {name}: up to date ({run_path})")
            run = read_run(run_path, name)
            return PipelineOutcome(name, run_path, stage.fingerprint, 0.0, 0, 0, True, stamp.get("statistics", {})), run
        if stamp:
            self._say(f"pipeline {name}: running again: {explain(stamp.get('parts'), parts)}")
        folder = self.checkpoints
        own = f"{name}.shard-{self.shard[0]}-of-{self.shard[1]}.jsonl" if self.shard else f"{name}.jsonl"
        checkpoint = Checkpoint(folder / own, key)
        done = checkpoint.load()
        shards = [] if self.shard else sorted(folder.glob(f"{name}.shard-*-of-*.jsonl"))
        for path in shards:   # batches that shards computed (a stale shard's key does not match: ignored)
            done.update({i: r for i, r in Checkpoint(path, key).load().items() if i not in done})
        saved = BatchTraces(folder / f"{name}.traces-{key[:16]}", stage)
        for stale in folder.glob(f"{name}.traces-*"):
            if stale != saved.folder:
                shutil.rmtree(stale, ignore_errors=True)
        batches = list(batched(queries, self.config.batch_size))
        if done:
            self._say(f"pipeline {name}: resuming, {len(done)}/{len(batches)} query batches already done")
        started = time.perf_counter()
        rankings = []
        from tqdm.auto import tqdm

        bar = tqdm(total=len(queries), desc=name, unit="q", disable=not self.progress, leave=True)
        try:
            for index, batch in enumerate(batches):
                if self.shard and index % self.shard[1] != self.shard[0] - 1:
                    continue   # another shard's batch
                if index in done:
                    out = done[index]
                else:
                    saved.before()
                    out = stage(batch)
                    saved.save(index)   # before the batch is checkpointed: a checkpointed batch has its traces
                    checkpoint.append(index, out)
                rankings.extend(out)
                bar.update(len(batch))
        finally:
            bar.close()
            checkpoint.close()
        if self.shard:
            mine = len(range(self.shard[0] - 1, len(batches), self.shard[1]))
            self._say(f"pipeline {name}: shard {self.shard[0]}/{self.shard[1]} done ({mine} of {len(batches)} query "
                      f"batches in {checkpoint.path}); run without --shard to merge the shards and evaluate")
            return PipelineOutcome(name, checkpoint.path, stage.fingerprint, time.perf_counter() - started,
                                   mine, len(done), False), Run([], name)
        run = Run(rankings, name)
        write_run(run, run_path)
        seconds = time.perf_counter() - started
        statistics = component_reports(stage, run_path, resumed=bool(done), saved=saved, batches=len(batches))
        with atomic_write(stamp_path) as handle:
            json.dump({"key": key, "parts": parts, "fingerprint": stage.fingerprint, "pipeline": repr(stage), "seconds": seconds,
                       **({"statistics": statistics} if statistics else {})}, handle, indent=2, default=str)
        checkpoint.remove()
        for path in shards:
            path.unlink(missing_ok=True)
        saved.remove()
        return PipelineOutcome(name, run_path, stage.fingerprint, seconds, len(batches), len(done), False, statistics), run

    def _evaluate(self, result: ExperimentResult, runs: dict[str, Run], qrels: Any,
                  models: dict[str, TrainedModel] | None = None) -> None:
        from rankkit.evaluation import compare, evaluate, parse_measures, write_report

        evaluation = self.config.evaluation
        measures = parse_measures(list(evaluation.measures))
        result.results = {name: evaluate(run, qrels, measures) for name, run in runs.items()}
        if evaluation.baseline and len(runs) > 1:
            result.comparison = compare(
                result.results, evaluation.baseline, evaluation.test, evaluation.correction, evaluation.alpha
            )
        result.report = write_report(
            self.output / "report",
            result.results,
            result.comparison,
            title=f"{self.config.name} — {self.config.dataset}",
            metadata={"experiment": str(self.config.path), "dataset": self.config.dataset},
            traces=example_traces({n: o.run_path for n, o in result.outcomes.items()}),
            description=self.config.description,
            pipelines=describe_pipelines(self.config),
            trainings=describe_trainings(models or {}),
        )
        result.drifts = check_expected(self.config, result.results)

    def _write_manifest(self, result: ExperimentResult, dataset: Any, ctx: PlanContext, fingerprints: dict[str, str],
                        models: dict[str, TrainedModel]) -> Path:
        versions: dict[str, str] = {}
        for name in result.outcomes:
            versions.update(stage_versions(self.config.pipelines[name].stages, self.registry))
        for model in models.values():
            versions.update((model.stamp.get("parts") or {}).get("versions") or {})
        manifest = {
            "experiment": self.config.name,
            "config": str(self.config.path),
            "config_hash": config_hash(self.config),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": platform.python_version(),
            "environment": environment(folder=self.config.path.parent if self.config.path else "."),
            "versions": dict(sorted(versions.items())),
            "seeds": {"query_seed": self.config.query_seed,
                      "trained": {n: (m.stamp.get("params") or {}).get("seed") for n, m in models.items()}},
            "plugins": {n: {"distribution": o.distribution, "version": o.version} for n, o in self.registry.origins.items()},
            "dataset": {"name": self.config.dataset, "checksum": dataset.checksum()},
            "indexes": {
                n: {"path": str(b.path), "key": b.stamp.get("key"), "builder": b.stamp.get("builder"),
                    "builder_version": b.stamp.get("builder_version"), "documents": (b.stamp.get("stats") or {}).get("documents")}
                for n, b in ctx.indexes.items()
            },
            "pipelines": {
                n: {"fingerprint": fingerprints[n], "run": str(o.run_path), "seconds": round(o.seconds, 3),
                    "reused": o.reused, "resumed_batches": o.resumed_batches,
                    **({"statistics": o.statistics} if o.statistics else {}),
                    **({"dataset": self.config.pipelines[n].dataset} if self.config.pipelines[n].dataset else {})}
                for n, o in result.outcomes.items()
            },
            "results": {n: r.aggregate for n, r in result.results.items()},
            "drifts": [str(d) for d in result.drifts],
        }
        path = self.output / "manifest.json"
        with atomic_write(path) as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True, default=str)
        return path


def check_expected(config: ExperimentConfig, results: dict[str, Any]) -> list[Drift]:
    """Compare aggregate results with the experiment's ``[expected]`` numbers."""
    drifts = []
    for pipeline, values in config.expected.items():
        aggregate = results[pipeline].aggregate if pipeline in results else {}
        for measure, expected in values.items():
            actual = aggregate.get(measure)
            if actual is None or abs(actual - expected) > config.tolerance:
                drifts.append(Drift(pipeline, measure, expected, actual, config.tolerance))
    return drifts
