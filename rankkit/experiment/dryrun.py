"""``rankkit run --dry-run``: the checked plan of an experiment and what of it already exists, without doing it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rankkit.experiment.validate import check_experiment
from rankkit.indexes import index_root, read_stamp
from rankkit.staging import read_stamp as read_folder_stamp

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.experiment.runner import ExperimentRunner


def describe_plan(runner: ExperimentRunner) -> str:
    """What ``runner.run()`` would build, train, reuse and run, as text.

    Existing indexes, models and runs are reported as found; whether they are still up to date is decided by their
    keys when the experiment runs (a changed section trains again, a changed pipeline runs again).

    Raises:
        ConfigError: Listing every problem of the file (:func:`check_experiment`).
    """
    config = runner.config
    plan = check_experiment(config, runner.registry)
    from rankkit.experiment.training import STAMP

    lines = [f"{config.path}: checked, no problem found. Plan (nothing was built, trained, run or written):",
             f"  datasets: {', '.join(plan.datasets)}"]
    for name, manifest in plan.indexes.items():
        state = "built" if read_stamp(index_root() / manifest.name) else "to build"
        lines.append(f"  index {name}: {manifest.builder} over {manifest.dataset}: {state} ({manifest.source})")
    models = runner.output.parent / config.models if config.models else runner.output / "models"
    for name, (trainer, dataset) in plan.trainings.items():
        state = "trained before (reused if unchanged)" if read_folder_stamp(models / name, STAMP) else "to train"
        lines.append(f"  train {name}: {trainer} on {dataset}: {state} ({models / name})")
    for name, description in plan.pipelines.items():
        run = runner.output / "runs" / f"{name}.trec"
        state = "run before (reused if unchanged)" if run.is_file() else "to run"
        lines.append(f"  pipeline {name}: {description}: {state}")
    lines.append(f"  measures: {', '.join(plan.measures)}"
                 + (f"; baseline {config.evaluation.baseline}, {config.evaluation.test}, {config.evaluation.correction}"
                    if config.evaluation.baseline else ""))
    if config.expected:
        lines.append(f"  expected: {sum(len(v) for v in config.expected.values())} number(s), tolerance {config.tolerance:g}")
    return "\n".join(lines)
