"""Training sections (``[train.<name>]``) and atomic, idempotent training runs.

A training section names a trainer, the dataset whose training qrels it
learns from, an optional first stage whose run supplies the candidates
(negatives are mined from it), and the trainer's parameters::

    [train.ce]
    trainer = "cross-encoder"
    dataset = "beir-scifact/train"
    first_stage = { retriever = "bm25", index = "scifact-bm25", k = 100 }
    [train.ce.params]
    epochs = 1

Pipelines of the same file use the model with ``model = "train:ce"``. The
model lands in ``<root>/<name>`` with a stamp; training again with the same
trainer, parameters, data and first stage is a no-op, and an interrupted
training never leaves a folder that looks finished. A trainer that offers
:class:`rankkit.components.ResumableTrainer` checkpoints into
``<root>/.checkpoints-<name>-<key>``, so training again after an interruption
resumes from its last checkpoint; the folder goes once the model is in place, and an empty one (a training
stopped before its first checkpoint) as soon as the training ends.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.components import ResumableTrainer, keyed_values
from rankkit.config import load_toml, require
from rankkit.errors import ConfigError, RankkitError
from rankkit.experiment.stages import StageConfig, no_unknown, parse_retrieval
from rankkit.experiment.plan import PlanContext, build_stage, substitute_trained, trained_references
from rankkit.pipeline import Sequential
from rankkit.registry import validate_params
from rankkit.staging import read_stamp, remove_if_empty
from rankkit.store import ensure, key_for

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

STAMP = "rankkit-train.json"
CHECKPOINT_PREFIX = ".checkpoints-"
_KEYS = ("trainer", "dataset", "first_stage", "params", "description")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """One ``[train.<name>]`` section."""

    name: str
    trainer: str
    dataset: str
    params: dict[str, Any] = field(default_factory=dict)
    first_stage: tuple[StageConfig, ...] = ()
    where: str = ""


@dataclass(frozen=True)
class TrainedModel:
    """A finished training run: the model folder and its stamp."""

    path: Path
    stamp: dict[str, Any]


def parse_train_tables(table: Any, file: str) -> dict[str, TrainConfig]:
    """Parse the ``[train]`` table of a file.

    Raises:
        ConfigError: Naming the file and key.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [train] must hold tables like [train.<name>]")
    out: dict[str, TrainConfig] = {}
    for name, section in table.items():
        where = f"{file}: train.{name}"
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: must be a table with trainer, dataset and params")
        no_unknown(section, _KEYS, where)
        params = section.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.params: must be a table")
        parsed = parse_retrieval(section["first_stage"], f"{where}.first_stage") if "first_stage" in section else ()
        out[name] = TrainConfig(
            name, require(section, "trainer", str, where), require(section, "dataset", str, where), params, parsed, where
        )
    return out


def load_trainings(path: str | Path) -> dict[str, TrainConfig]:
    """The ``[train.*]`` sections of a TOML file (an experiment or a training-only file)."""
    path = Path(path)
    data = load_toml(path)
    if "train" not in data:
        raise ConfigError(f"{path}: no [train.<name>] sections")
    return parse_train_tables(data["train"], str(path))


def ensure_trained(
    config: TrainConfig, registry: Registry, root: Path, index_dirs: list[Path], force: bool = False,
    trained: dict[str, TrainedModel] | None = None,
) -> TrainedModel:
    """Train unless an identical model exists in ``root/<name>``.

    Args:
        config: The section.
        registry: Where the trainer comes from.
        root: Folder of the file's trained models.
        index_dirs: Folders searched for index manifests (of the first stage).
        force: Train even when an identical model exists.
        trained: Models of earlier sections, which ``"train:NAME"`` parameters
            refer to (a language adapter a ranking adapter trains on, say); a
            retrained dependency retrains this section too.

    Raises:
        ConfigError: For an unknown trainer, bad parameters, or a reference to a
            section not trained before this one, naming the section.
    """
    from rankkit.datasets import resolve_dataset

    try:
        component = registry.get("trainer", config.trainer)
    except RankkitError as error:
        raise ConfigError(f"{config.where}.trainer: {error}") from None
    trained = trained or {}
    raw = substitute_trained(config.params, {n: m.path for n, m in trained.items()}, f"{config.where}.params")
    params = validate_params(component.spec, raw, where=config.where)
    dataset = resolve_dataset(config.dataset, registry)
    ctx = PlanContext(registry, dataset, config.dataset, index_dirs, trained={n: m.path for n, m in trained.items()},
                      on_index_done=lambda n, built: logger.info("train %s: index %s: %s", config.name, n, built.summary()))
    stage = Sequential([build_stage(s, ctx) for s in config.first_stage]).compile() if config.first_stage else None
    depends = {n: trained[n].stamp.get("key") for n in trained_references(config.params)}
    trainer = registry.build("trainer", config.trainer, **params)   # cheap: factories import on build, load nothing
    parts = {"trainer": config.trainer, "params": keyed_values(component.spec.params, params), "data": dataset.checksum(),
             "first_stage": stage.fingerprint if stage else None, "versions": component.versions(),
             "fingerprint": trainer.fingerprint,   # with the versions of a wrapped trainer's libraries
             **({"depends": depends} if depends else {})}
    key = key_for("train", parts)
    target = root / config.name
    stamp = read_stamp(target, STAMP)
    if stamp and stamp.get("key") == key and not force:
        logger.info("train %s: up to date (%s)", config.name, target)
        return TrainedModel(target, stamp)
    checkpoints = root / f"{CHECKPOINT_PREFIX}{config.name}-{key[:16]}"

    def fill(staging: Path) -> dict[str, Any]:
        started = time.time()
        resumable = trainer
        for stale in root.glob(f"{CHECKPOINT_PREFIX}{config.name}-*"):
            # another key: the section changed and its checkpoints cannot resume this training (force: start afresh)
            mine = stale.name[len(CHECKPOINT_PREFIX):].rsplit("-", 1)[0] == config.name
            if mine and (stale != checkpoints or force):
                shutil.rmtree(stale, ignore_errors=True)
        if isinstance(trainer, ResumableTrainer):
            if checkpoints.is_dir():
                logger.info("train %s: resuming from the checkpoints in %s", config.name, checkpoints)
            resumable = trainer.with_checkpoints(checkpoints)
        candidates = None
        if stage is not None:
            logger.info("train %s: running the first stage on %s", config.name, config.dataset)
            candidates = stage.run(dataset.queries(), name=f"{config.name}-first-stage")
        logger.info("train %s: training %s on %s", config.name, config.trainer, config.dataset)
        with registry.active():   # model names a trainer resolves while training (rankkit:NAME) use this registry
            stats = resumable.train(dataset, staging, candidates)
        return {
            "name": config.name, "trainer": config.trainer, "dataset": config.dataset,
            "params": params, "stats": stats, "seconds": round(time.time() - started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    try:
        artifact = ensure(target, STAMP, "train", parts, fill, force=force, what=f"train {config.name}")
    finally:
        remove_if_empty(checkpoints)   # interrupted or failed before its first checkpoint: nothing to resume from
    shutil.rmtree(checkpoints, ignore_errors=True)
    return TrainedModel(target, artifact.stamp)


def needed_sections(trainings: dict[str, TrainConfig], names: Sequence[str]) -> set[str]:
    """``names`` and every section they refer to through ``"train:NAME"`` parameters, transitively."""
    needed: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in needed or name not in trainings:
            continue
        needed.add(name)
        todo.extend(trained_references(trainings[name].params))
    return needed
