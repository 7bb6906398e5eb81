"""The cross-encoder trainer: samples from qrels and a first-stage run, fitted with CrossEncoderTrainer.

It knows nothing about curricula: it offers :class:`rankkit.components.WeightableTrainer`,
and when given a :class:`~rankkit.components.SampleWeighter` it multiplies
each sample's loss by the weighter's weight for the current step.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.checkpoints import latest_checkpoint
from rankkit.components import SampleWeighter, TrainingProgress
from rankkit.errors import ConfigError
from rankkit.models import ModelRef, resolve_device
from rankkit_crossencoder.curves import save_curves
from rankkit_crossencoder.models import ModelError, check_tokenizer, has_classification_head
from rankkit_crossencoder.samples import SampleSet, build_samples
from rankkit_crossencoder.scorer import INFO_FILE, CrossEncoderScorer
from rankkit_crossencoder.settings import (CheckpointedSettings, CrossEncoderScorerSettings, CrossEncoderTrainSettings,
                                            TrainingSettings)
from rankkit_crossencoder.tuning import carve_validation, plot_tuning, tune_interpolation

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)


PROGRESS_FILE = "rankkit-progress.json"


class _Progress:
    """The step the trainer is at, shared between the callback and the loss, and the weight curve so far
    (saved into each checkpoint, so a resumed training's curve is whole)."""

    def __init__(self, steps_per_epoch: int) -> None:
        self.step = 0
        self.total = 0
        self.steps_per_epoch = steps_per_epoch
        self.weights: list[tuple[int, float]] = []
        self._batch: list[float] = []

    def now(self) -> TrainingProgress:
        return TrainingProgress(self.step, self.total, self.steps_per_epoch)

    def save(self, checkpoint: Path) -> None:
        checkpoint.mkdir(parents=True, exist_ok=True)
        (checkpoint / PROGRESS_FILE).write_text(json.dumps({"weights": self.weights}))

    def load(self, checkpoint: Path) -> None:
        try:
            self.weights = [tuple(w) for w in json.loads((checkpoint / PROGRESS_FILE).read_text())["weights"]]
        except (OSError, ValueError, KeyError):
            logger.warning("cross-encoder training: %s has no weight curve; the curve restarts at the resumed step", checkpoint)


class CrossEncoderModelTrainer:
    """Trains a cross-encoder with sentence-transformers' ``CrossEncoderTrainer`` and saves it for the scorer.

    Subclasses (rankkit-xling's trainers) take other settings built from the same
    :class:`~rankkit_crossencoder.settings.TrainingSettings`: they name the model they start from
    (:meth:`_base_model`); only :class:`~rankkit_crossencoder.settings.CheckpointedSettings` save checkpoints, and
    only :class:`~rankkit_crossencoder.settings.CrossEncoderTrainSettings` hold queries out to tune the interpolation.

    Args:
        settings: The training parameters (checked when made).
        weighter: Optional per-sample loss weights (see :meth:`with_sample_weighter`).
    """

    def __init__(self, settings: TrainingSettings, weighter: SampleWeighter | None = None) -> None:
        self.settings = settings
        self.weighter = weighter
        self.checkpoints: Path | None = None

    def with_checkpoints(self, folder: Path) -> CrossEncoderModelTrainer:
        """A trainer like this one that saves a checkpoint into ``folder`` every ``save_steps`` steps and, when
        ``folder`` already holds one, resumes from the latest complete checkpoint (the same model as an
        uninterrupted training: weights, optimiser, scheduler, data order and random state are restored)."""
        clone = copy.copy(self)
        clone.checkpoints = Path(folder)
        return clone

    def with_sample_weighter(self, weighter: SampleWeighter) -> CrossEncoderModelTrainer:
        """A trainer like this one (same class and settings) whose loss is weighted by ``weighter``."""
        clone = copy.copy(self)
        clone.weighter = weighter
        return clone

    def train(self, dataset: Dataset, output: Path, candidates: Run | None = None) -> dict[str, Any]:
        """Train on ``dataset``'s qrels with negatives from ``candidates``; save the model into ``output``.

        Raises:
            ConfigError: For unusable data or parameters.
            ModelError: For a base model that cannot be a cross-encoder.
        """
        s = self.settings
        started = time.time()
        tuned = s if isinstance(s, CrossEncoderTrainSettings) and s.validation_fraction else None
        if tuned is not None and candidates is None:
            raise ConfigError(f"{s.component}: validation_fraction needs a first_stage (the held-out queries' "
                              "first-stage rankings are what the interpolation is tuned on)")
        held_out = carve_validation(dataset, candidates, tuned.validation_fraction, s.seed) if tuned else []
        samples = build_samples(dataset, candidates, s.loss, s.negatives, s.seed, exclude=set(held_out),
                                skip_top=s.skip_top, round_trip_k=s.round_trip_k)
        texts = dict(zip(ids := samples.doc_ids(), dataset.doc_store().get_many(ids)))
        teaching = self._teach(samples, texts)
        weighting = self.weighter.prepare(dataset, candidates) if self.weighter is not None else None
        model = self._model()
        scratch = self.checkpoints or Path(tempfile.mkdtemp(prefix="rankkit-ce-"))
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            trainer, progress = self._trainer(model, samples, texts, scratch, teaching.pop("margins", None))
            resume = latest_checkpoint(scratch) if self.checkpoints is not None else None
            if resume is not None:
                progress.load(resume)
            logger.info("cross-encoder training: %d samples from %d queries, %d steps (%s loss%s)%s", len(samples.samples),
                        len(samples.queries), trainer.args.max_steps if s.max_steps else -1, s.loss,
                        ", weighted" if self.weighter else "", f", resuming from {resume}" if resume else "")
            result = self._fit(trainer, model, resume)
            history = list(trainer.state.log_history)
        finally:
            if self.checkpoints is None:
                shutil.rmtree(scratch, ignore_errors=True)
        self._save(model, output)
        save_curves(output, history, progress.weights)
        tuning = None
        if held_out and tuned is not None:
            scorer = CrossEncoderScorer(CrossEncoderScorerSettings(model=str(output), device=s.device))
            tuning = tune_interpolation(scorer.score, dataset, candidates, held_out, tuned.tune_window,  # type: ignore[arg-type]
                                        tuned.tune_normalization, tuned.tune_measure)
            plot_tuning(output, tuning)
        stats = {
            "samples": len(samples.samples), "queries": len(samples.queries), "skipped": samples.skipped,
            "skipped_examples": samples.examples, "steps": int(trainer.state.global_step),
            "train_loss": round(float(result.training_loss), 6),
            "final_logged_loss": next((h["loss"] for h in reversed(history) if "loss" in h), None),
            "seconds": round(time.time() - started, 2), "weighting": weighting,
            "validation_queries": len(held_out), **teaching,
        }
        if tuning:
            stats["tuned"] = {k: tuning[k] for k in ("query_weight", "value", "cross_encoder_only", "first_stage_only")}
        info = {"settings": asdict(s), "base_model_path": ModelRef.resolve(self._base_model()).load_name, "stats": stats,
                "interpolation": tuning, "validation_query_ids": held_out}
        (output / INFO_FILE).write_text(json.dumps(info, indent=1, default=str))
        return stats

    def _teach(self, samples: SampleSet, texts: dict[str, str]) -> dict[str, Any]:
        """Score the samples with the teacher (when there is one): drop likely false negatives (``denoise``) and
        return the margins margin-mse learns (``margins``), with what was done for the stamp."""
        s = self.settings
        if not s.teacher:
            return {}
        from rankkit_crossencoder.teacher import denoise, margins, teacher_scores

        teacher = CrossEncoderScorer(CrossEncoderScorerSettings(model=s.teacher, max_length=s.max_length, device=s.device))
        scores = teacher_scores(teacher.score, samples, texts)
        out: dict[str, Any] = {"teacher": s.teacher}
        if s.denoise:
            out["denoised"] = denoise(samples, scores)
            if not samples.samples:
                raise ConfigError(f"{s.component}: the teacher ranks every negative above its positive, so "
                                  "denoise left no sample; check the teacher or train without denoise")
        if s.loss == "margin-mse":
            out["margins"] = margins(samples, scores)
        return out

    def _fit(self, trainer: Any, model: Any, resume: Path | None = None) -> Any:
        """Run the training from ``resume`` (a checkpoint) or the start; returns transformers' ``TrainOutput``.

        Subclasses may train in phases.
        """
        return trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    def _save(self, model: Any, output: Path) -> None:
        """Write the trained model into ``output`` (subclasses that train adapters save only those)."""
        model.save(str(output))

    def _base_model(self) -> str:
        """The model training starts from: ``base_model`` (subclasses whose settings name it otherwise override)."""
        return self.settings.base_model  # type: ignore[attr-defined]

    def _model_kwargs(self, path: str) -> dict[str, Any]:
        """Extra keyword arguments for ``CrossEncoder`` (subclasses: e.g. a decoder backbone's head class)."""
        return {}

    def _model(self) -> Any:
        from sentence_transformers.cross_encoder import CrossEncoder
        from transformers import set_seed

        s = self.settings
        base_model = self._base_model()
        ref = ModelRef.resolve(base_model)
        set_seed(s.seed)  # the classification head is initialised from this seed
        head = has_classification_head(ref.path) if ref.path is not None else None
        try:
            model = CrossEncoder(ref.load_name, num_labels=1, max_length=s.max_length,
                                 device=resolve_device(s.device, where=s.component),
                                 local_files_only=not ref.hub, **self._model_kwargs(ref.load_name))
        except (OSError, ValueError) as error:
            raise ModelError(f"{s.component}: cannot load base model {base_model!r}: {error}") from error
        if model.num_labels != 1:
            raise ModelError(f"{s.component}: base model {base_model!r} has {model.num_labels} labels; "
                             "the losses need a one-logit head (use a backbone or a one-label cross-encoder)")
        check_tokenizer(model, f"{s.component}: base model {base_model!r}")
        logger.info("cross-encoder training from %s (%s)", base_model,
                    "continuing its classification head" if head else "new classification head from the seed")
        return model

    def _trainer(self, model: Any, samples: SampleSet, texts: dict[str, str], scratch: Path,
                 margins: list[float] | None = None) -> tuple[Any, _Progress]:
        import torch
        from datasets import Dataset as HFDataset
        from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
        from transformers import TrainerCallback

        from rankkit_crossencoder.losses import make_loss

        s = self.settings
        columns: dict[str, list[Any]] = {"query": [samples.queries[x.query_id] for x in samples.samples]}
        if s.loss == "bce":
            columns["document"] = [texts[x.doc_ids[0]] for x in samples.samples]
        else:
            columns["positive"] = [texts[x.doc_ids[0]] for x in samples.samples]
            columns["negative"] = [texts[x.doc_ids[1]] for x in samples.samples]
        columns["sample"] = list(range(len(samples.samples)))
        columns["label"] = margins if margins is not None else [float(x.labels[0]) for x in samples.samples]
        data = HFDataset.from_dict(columns)
        progress = _Progress(int(np.ceil(len(samples.samples) / s.batch_size)))
        loss = make_loss(s.loss, model)
        weighter = self.weighter
        if weighter is not None:
            def weigh(indexes: list[int]) -> torch.Tensor:
                values = np.asarray(weighter.weights([samples.samples[i] for i in indexes], progress.now()), dtype=np.float32)
                if values.shape != (len(indexes),) or not np.isfinite(values).all() or (values < 0).any():
                    raise ValueError(f"sample weighter {weighter!r} returned invalid weights {values!r}")
                progress._batch.append(float(values.mean()))
                return torch.from_numpy(values)

            loss.weigh = weigh

        class Track(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
                progress.step, progress.total = state.global_step, state.max_steps

            def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
                progress.save(Path(args.output_dir) / f"checkpoint-{state.global_step}")

            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
                if progress._batch:
                    progress.weights.append((state.global_step, float(np.mean(progress._batch))))
                    progress._batch.clear()
                if logs and "loss" in logs:
                    logger.info("cross-encoder training: step %d/%d loss %.4f lr %.2e", state.global_step,
                                state.max_steps, logs["loss"], logs.get("learning_rate", 0.0))

        device = resolve_device(s.device, where=s.component)
        every = s.save_steps if self.checkpoints is not None and isinstance(s, CheckpointedSettings) else 0
        args = CrossEncoderTrainingArguments(
            output_dir=str(scratch), num_train_epochs=s.epochs, max_steps=s.max_steps or -1,
            per_device_train_batch_size=s.batch_size, learning_rate=s.learning_rate, warmup_steps=s.warmup_ratio,
            weight_decay=s.weight_decay, seed=s.seed, data_seed=s.seed, logging_steps=s.logging_steps,
            save_strategy="steps" if every else "no", save_steps=every or 500,
            save_total_limit=2, report_to="none", disable_tqdm=True, use_cpu=device == "cpu",
            dataloader_num_workers=0, logging_first_step=True,
        )
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss, callbacks=[Track()])
        return trainer, progress
