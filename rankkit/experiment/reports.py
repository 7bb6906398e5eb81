"""Statistics and traces of the components that keep them, persisted batch by batch so a resumed run loses none;
and what each pipeline is, as its file writes it, for the report.

A component that keeps per-query traces (a ``traces()`` method returning JSON-able dicts, as the
:class:`rankkit.components.RunReporter` components of the plugins do) has each batch's new traces saved beside
the pipeline's checkpoint before the batch is checkpointed. When the run ends, the traces of every batch (those
of earlier, interrupted processes included) go beside the run file, and a component with a ``summarize(traces)``
computes its statistics over all of them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.files import atomic_write
from rankkit.pipeline import Stage

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.experiment.config import ExperimentConfig
    from rankkit.experiment.stages import StageConfig

RESUMED_NOTE = "resumed from a checkpoint: statistics cover the batches run by the last process only"


class BatchTraces:
    """Saves each batch's new traces of the tracing components of ``stage`` into ``folder/<component>/<batch>.jsonl``.

    Args:
        folder: Where the batches' traces go (one per run key, so a changed pipeline never mixes in old traces).
        stage: The compiled pipeline.
    """

    def __init__(self, folder: Path, stage: Stage) -> None:
        self.folder = folder
        self.tracers = [c for c in stage.components() if callable(getattr(c, "traces", None))]
        self._marks: list[int] = []

    def before(self) -> None:
        """Remember how many traces each component holds before a batch runs."""
        self._marks = [len(c.traces()) for c in self.tracers]

    def save(self, index: int) -> None:
        """Write the traces batch ``index`` added, atomically (before the batch itself is checkpointed)."""
        for number, (component, mark) in enumerate(zip(self.tracers, self._marks)):
            path = self.folder / str(number) / f"{index}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as handle:
                for trace in component.traces()[mark:]:
                    handle.write(json.dumps(trace, ensure_ascii=False, default=str) + "\n")

    def pooled(self, number: int, batches: int) -> list[dict[str, Any]] | None:
        """Every saved trace of component ``number`` in batch order, or ``None`` when a batch's traces are missing
        (batches checkpointed by a version that did not save them)."""
        out: list[dict[str, Any]] = []
        for index in range(batches):
            path = self.folder / str(number) / f"{index}.jsonl"
            if not path.is_file():
                return None
            out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
        return out

    def remove(self) -> None:
        """Delete the saved batches (the run is complete)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def component_reports(stage: Stage, run_path: Path, resumed: bool = False, saved: BatchTraces | None = None,
                      batches: int = 0) -> dict[str, Any]:
    """Statistics and traces of the components that keep them (see :class:`rankkit.components.RunReporter`).

    Traces go beside the run file (``<run>.traces.jsonl``; ``<run>.traces-N.jsonl`` for a second
    component that keeps them); statistics are returned for the run's stamp, by component. With the
    batches' ``saved`` traces, both cover every batch, also after a resume.

    Args:
        stage: The pipeline that produced the run.
        run_path: The run file.
        resumed: Whether query batches were restored from a checkpoint.
        saved: The traces saved batch by batch, or ``None``.
        batches: How many query batches the run has.
    """
    reports: dict[str, Any] = {}
    traced = 0
    partial = False
    tracers = {id(c): n for n, c in enumerate(saved.tracers)} if saved is not None else {}
    for component in stage.components():
        pooled = saved.pooled(tracers[id(component)], batches) if id(component) in tracers else None  # type: ignore[union-attr]
        stats = getattr(component, "statistics", None)
        summarize = getattr(component, "summarize", None)
        if pooled is not None and callable(summarize):
            key = type(component).__name__
            reports[key if key not in reports else f"{key}-{len(reports)}"] = summarize(pooled)
        elif callable(stats):
            key = type(component).__name__
            reports[key if key not in reports else f"{key}-{len(reports)}"] = stats()
            partial = partial or resumed
        write = getattr(component, "write_traces", None)
        if callable(write):
            path = run_path.with_name(f"{run_path.stem}.traces{f'-{traced}' if traced else ''}.jsonl")
            if pooled is not None:
                with atomic_write(path) as handle:
                    for trace in pooled:
                        handle.write(json.dumps(trace, ensure_ascii=False, default=str) + "\n")
            else:
                write(path)
            traced += 1
    if reports and partial:
        reports["note"] = RESUMED_NOTE
    return reports


def example_traces(run_paths: dict[str, Path], count: int = 3) -> dict[str, list[dict[str, Any]]]:
    """The first ``count`` per-query traces of each pipeline whose run has a traces file (for the HTML report)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, run_path in run_paths.items():
        path = run_path.with_name(f"{run_path.stem}.traces.jsonl")
        if not path.is_file():
            continue
        shown = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if len(shown) >= count:
                    break
                try:
                    shown.append(json.loads(line))
                except ValueError:
                    break   # a report never fails on a damaged traces file
        if shown:
            out[name] = shown
    return out


def describe_stage(stage: StageConfig) -> str:
    """A stage table as one line: ``retriever bm25 (index = "scifact-bm25", k = 1000)``, ``cutoff 10``,
    ``fusion rrf (k = 60) of [retriever bm25 (...)] + [retriever dense (...)]``."""
    if stage.kind == "cutoff":
        return f"cutoff {stage.params['k']}"
    options = f" ({_assignments(stage.params)})" if stage.params else ""
    if stage.kind == "fusion":
        fused = " + ".join("[" + " >> ".join(describe_stage(s) for s in sub) + "]" for sub in stage.of)
        return f"fusion {stage.component}{options} of {fused}"
    return f"{stage.kind} {stage.component}{options}"


def describe_pipelines(config: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """What each pipeline of an experiment is, as written in its file, for the report.

    Returns:
        By pipeline name: ``stages`` (one line per stage, :func:`describe_stage`; a fusion pipeline's one line
        names the pipelines it fuses) and, when the file gives them, ``description`` and ``dataset``.
    """
    tables = config.raw.get("pipelines", {}) if isinstance(config.raw.get("pipelines"), dict) else {}
    out: dict[str, dict[str, Any]] = {}
    for name, pipeline in config.pipelines.items():
        if pipeline.fusion:
            options = f" ({_assignments(pipeline.fusion_params)})" if pipeline.fusion_params else ""
            stages = [f"fusion {pipeline.fusion}{options} of the runs of {', '.join(pipeline.of)}"]
        else:
            stages = [describe_stage(s) for s in pipeline.stages]
        entry: dict[str, Any] = {"stages": stages}
        description = (tables.get(name) or {}).get("description") if isinstance(tables.get(name), dict) else None
        if description:
            entry["description"] = str(description)
        if pipeline.dataset:
            entry["dataset"] = pipeline.dataset
        out[name] = entry
    return out


def _assignments(params: dict[str, Any]) -> str:
    """``key = value, ...`` with values as TOML-like literals (strings quoted, lists and tables as JSON)."""
    return ", ".join(f"{key} = {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in params.items())


def describe_trainings(models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For the report, by training section: trainer, dataset, seconds, the trainer's statistics and the plots (PNG
    bytes) it wrote into its model folder (a GRPO trainer's reward curve, for instance)."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        stamp = model.stamp or {}
        plots = {p.name: p.read_bytes() for p in sorted(Path(model.path).glob("*.png"))}
        out[name] = {"trainer": stamp.get("trainer"), "dataset": stamp.get("dataset"), "seconds": stamp.get("seconds"),
                     "stats": stamp.get("stats") or {}, "plots": plots}
    return out
