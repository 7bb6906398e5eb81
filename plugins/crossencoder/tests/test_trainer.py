"""The cross-encoder trainer on a tiny random BERT: reproducible, logs curves, counts skips, weights scale the loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from rankkit.components import TrainingProgress, TrainingSample, WeightableTrainer
from rankkit.errors import ConfigError
from rankkit_crossencoder.models import ModelError
from rankkit_crossencoder.scorer import CrossEncoderScorer
from rankkit_crossencoder.testing import make_tiny_cross_encoder
from rankkit_crossencoder.settings import CrossEncoderScorerSettings, CrossEncoderTrainSettings
from rankkit_crossencoder.trainer import CrossEncoderModelTrainer


def settings(model: Path, **overrides) -> CrossEncoderTrainSettings:  # noqa: ANN003
    values = {"base_model": str(model), "max_steps": 6, "batch_size": 4, "learning_rate": 1e-3, "max_length": 32,
              "logging_steps": 1, "device": "cpu", "negatives": 2}
    return CrossEncoderTrainSettings(**{**values, **overrides})


def train(model: Path, data, out: Path, weighter=None, **overrides) -> dict:  # noqa: ANN001, ANN003
    out.mkdir(parents=True)
    trainer = CrossEncoderModelTrainer(settings(model, **overrides))
    if weighter is not None:
        trainer = trainer.with_sample_weighter(weighter)
    return trainer.train(data[0], out, data[1])


class Constant:
    """A sample weighter giving every sample the same weight (and recording what it saw)."""

    fingerprint = "constant"

    def __init__(self, value: float) -> None:
        self.value = value
        self.progress: list[TrainingProgress] = []

    def prepare(self, dataset, candidates) -> dict:  # noqa: ANN001
        return {"constant": self.value}

    def weights(self, samples: list[TrainingSample], progress: TrainingProgress) -> np.ndarray:
        self.progress.append(progress)
        return np.full(len(samples), self.value)


def weights_of(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def test_trains_a_model_the_scorer_loads(tiny_model, tiny_data, tmp_path) -> None:
    stats = train(tiny_model, tiny_data, tmp_path / "m")
    assert stats["steps"] == 6 and stats["queries"] == 5
    assert stats["skipped"] == {"no_positive": 1} and stats["skipped_examples"] == {"no_positive": ["q5"]}
    assert (tmp_path / "m" / "loss.png").stat().st_size > 1000
    history = json.loads((tmp_path / "m" / "loss.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4, 5, 6]
    scorer = CrossEncoderScorer(CrossEncoderScorerSettings(model=str(tmp_path / "m")))
    scores = scorer.score("what about glacier ice cave?", ["glacier ice cave report 0", "wing"])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_same_seed_same_model_other_seed_other_model(tiny_model, tiny_data, tmp_path) -> None:
    train(tiny_model, tiny_data, tmp_path / "a", seed=3)
    train(tiny_model, tiny_data, tmp_path / "b", seed=3)
    train(tiny_model, tiny_data, tmp_path / "c", seed=4)
    a, b, c = (weights_of(tmp_path / x) for x in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_pairwise_loss_trains(tiny_model, tiny_data, tmp_path) -> None:
    stats = train(tiny_model, tiny_data, tmp_path / "p", loss="pairwise")
    assert stats["samples"] == 5 * 2 and stats["steps"] == 6


def test_weights_scale_the_optimised_loss(tiny_model, tiny_data, tmp_path) -> None:
    """The first logged loss (before any update) scales with the weight; zero weights leave the model unchanged."""
    runs = {}
    for value in (1.0, 0.5, 0.0):
        weighter = Constant(value)
        stats = train(tiny_model, tiny_data, tmp_path / str(value), weighter, weight_decay=0.0, warmup_ratio=0.0)
        history = json.loads((tmp_path / str(value) / "loss.json").read_text())["log_history"]
        runs[value] = next(h["loss"] for h in history if "loss" in h)
        assert stats["weighting"] == {"constant": value}
        assert [p.step for p in weighter.progress[:3]] == [0, 1, 2] and weighter.progress[0].total_steps == 6
    assert runs[0.5] == pytest.approx(runs[1.0] / 2, rel=1e-4)
    assert runs[0.0] == 0.0
    before = weights_of(tiny_model)
    after = weights_of(tmp_path / "0.0")
    assert all(np.array_equal(before[k], after[k]) for k in before if k in after)


def test_trainer_offers_sample_weighting() -> None:
    assert isinstance(CrossEncoderModelTrainer(CrossEncoderTrainSettings()), WeightableTrainer)


def test_base_model_without_head_gets_a_seeded_head(tiny_data, tmp_path) -> None:
    bare = make_tiny_cross_encoder(tmp_path / "bare", head=False)
    train(bare, tiny_data, tmp_path / "x", seed=1)
    train(bare, tiny_data, tmp_path / "y", seed=1)
    x, y = weights_of(tmp_path / "x"), weights_of(tmp_path / "y")
    assert any(k.startswith("classifier.") for k in x) and all(np.array_equal(x[k], y[k]) for k in x)


def test_mismatched_tokenizer_is_refused(tiny_data, tmp_path) -> None:
    folder = make_tiny_cross_encoder(tmp_path / "small-vocab", vocab_size=50)
    with pytest.raises(ModelError, match="does not belong to this model"):
        train(folder, tiny_data, tmp_path / "m")


def test_no_usable_sample_is_an_error(tiny_model, tiny_data, tmp_path) -> None:
    from rankkit.types import Run

    with pytest.raises(ConfigError, match="no training samples"):
        CrossEncoderModelTrainer(settings(tiny_model)).train(tiny_data[0], tmp_path, Run([], "empty"))


class Crash(Exception):
    """Raised by the weighter to kill a training mid-way, as a killed process would stop it."""


class CrashingConstant(Constant):
    """A constant weighter that crashes the training when it is asked for the weights of step ``at``."""

    def __init__(self, value: float, at: int) -> None:
        super().__init__(value)
        self.at = at

    def weights(self, samples, progress):  # noqa: ANN001, ANN201
        if progress.step == self.at:
            raise Crash(f"killed at step {self.at}")
        return super().weights(samples, progress)


def test_a_killed_training_resumes_to_the_same_model(tiny_model, tiny_data, tmp_path) -> None:
    options = {"save_steps": 2, "max_steps": 7, "weight_decay": 0.01}
    whole = CrossEncoderModelTrainer(settings(tiny_model, **options)).with_checkpoints(tmp_path / "ck-whole")
    (tmp_path / "whole").mkdir()
    whole.with_sample_weighter(Constant(0.5)).train(tiny_data[0], tmp_path / "whole", tiny_data[1])

    folder = tmp_path / "ck"
    trainer = CrossEncoderModelTrainer(settings(tiny_model, **options)).with_checkpoints(folder)
    (tmp_path / "resumed").mkdir()
    with pytest.raises(Crash):
        trainer.with_sample_weighter(CrashingConstant(0.5, at=5)).train(tiny_data[0], tmp_path / "resumed", tiny_data[1])
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    (folder / "checkpoint-6").mkdir()  # a save cut short by the kill: no trainer_state.json, never resumed from
    resumed = Constant(0.5)
    stats = trainer.with_sample_weighter(resumed).train(tiny_data[0], tmp_path / "resumed", tiny_data[1])
    assert [p.step for p in resumed.progress] == [4, 5, 6]  # only the steps after checkpoint-4 ran again
    assert stats["steps"] == 7
    a, b = weights_of(tmp_path / "whole"), weights_of(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)
    curve = json.loads((tmp_path / "resumed" / "loss.json").read_text())
    whole_curve = json.loads((tmp_path / "whole" / "loss.json").read_text())
    assert curve["mean_weight"] == whole_curve["mean_weight"] and len(curve["mean_weight"]) == 7  # the curve survives


def test_checkpoint_steps_do_not_change_the_training_key() -> None:
    from rankkit.components import ResumableTrainer, keyed_values
    from rankkit.registry import Registry

    registry = Registry.load()
    spec = registry.components("trainer")["cross-encoder"].spec
    assert "save_steps" not in keyed_values(spec.params, {"save_steps": 5})
    assert isinstance(CrossEncoderModelTrainer(CrossEncoderTrainSettings()), ResumableTrainer)


def test_held_out_queries_tune_the_interpolation_a_stage_can_use(tiny_model, tiny_data, tmp_path) -> None:
    from rankkit.experiment.plan import PlanContext, build_stage
    from rankkit.experiment.stages import StageConfig
    from rankkit.registry import Registry

    stats = train(tiny_model, tiny_data, tmp_path / "t", validation_fraction=0.4)
    info = json.loads((tmp_path / "t" / "rankkit-crossencoder.json").read_text())
    held_out = info["validation_query_ids"]
    assert stats["validation_queries"] == len(held_out) == 2 and stats["queries"] == 3  # 5 usable, 2 held out
    tuning = info["interpolation"]
    assert [a for a, _ in tuning["grid"]] == [round(0.05 * i, 2) for i in range(21)]
    assert tuning["value"] == max(v for _, v in tuning["grid"]) and tuning["normalization"] == "minmax"
    assert tuning["query_weight"] + tuning["rescore_query_weight"] == pytest.approx(1.0)
    assert (tmp_path / "t" / "interpolation.png").stat().st_size > 1000
    again = train(tiny_model, tiny_data, tmp_path / "u", validation_fraction=0.4)
    assert json.loads((tmp_path / "u" / "rankkit-crossencoder.json").read_text())["validation_query_ids"] == held_out
    assert again["validation_queries"] == 2

    ctx = PlanContext(Registry.load(), tiny_data[0], "tiny", [])
    stage = build_stage(StageConfig("scorer", "cross-encoder", {"model": str(tmp_path / "t"), "interpolation": "tuned"}, "f: s"), ctx)
    assert (stage.settings.query_weight, stage.settings.rescore_query_weight, stage.settings.normalization) == \
        (tuning["query_weight"], tuning["rescore_query_weight"], "minmax")
    with pytest.raises(ConfigError, match="remove"):
        build_stage(StageConfig("scorer", "cross-encoder", {"model": str(tmp_path / "t"), "interpolation": "tuned",
                                                            "query_weight": 0.5}, "f: s"), ctx)
    untuned = tmp_path / "plain"
    train(tiny_model, tiny_data, untuned)
    with pytest.raises(ConfigError, match="validation_fraction > 0"):
        build_stage(StageConfig("scorer", "cross-encoder", {"model": str(untuned), "interpolation": "tuned"}, "f: s"), ctx)
    with pytest.raises(ConfigError, match="needs a first_stage"):
        CrossEncoderModelTrainer(settings(tiny_model, validation_fraction=0.2)).train(tiny_data[0], tmp_path / "v", None)


def test_round_trip_keeps_queries_that_find_their_positive_and_skip_top_guards_negatives(tiny_data) -> None:
    from rankkit_crossencoder.samples import build_samples

    dataset, candidates = tiny_data   # each positive d{t}-0 is second in its query's candidates
    kept = build_samples(dataset, candidates, "bce", negatives=10, seed=1, round_trip_k=2)
    assert len(kept.queries) == 5 and "round_trip" not in kept.skipped
    with pytest.raises(ConfigError, match="no training samples \\(skipped: \\{'round_trip': 5"):
        build_samples(dataset, candidates, "bce", negatives=10, seed=1, round_trip_k=1)
    def negatives_in_top3(samples) -> int:  # noqa: ANN001
        return sum(s.labels == (0,) and s.doc_ids[0] in candidates[s.query_id].doc_ids[:3].tolist() for s in samples)

    guarded = build_samples(dataset, candidates, "bce", negatives=10, seed=1, skip_top=3).samples
    assert any(s.labels == (0,) for s in guarded) and negatives_in_top3(guarded) == 0
    # without the guard the top of each ranking supplies negatives
    assert negatives_in_top3(build_samples(dataset, candidates, "bce", 10, 1).samples) > 0
    with pytest.raises(ConfigError, match="first_stage"):
        build_samples(dataset, None, "bce", 4, 1, round_trip_k=5)


def test_margin_mse_equals_sentence_transformers_and_distils_the_teachers_margins(tiny_model, tiny_data, tmp_path) -> None:
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.losses import MarginMSELoss

    from rankkit_crossencoder.losses import make_loss

    model = CrossEncoder(str(tiny_model), num_labels=1, device="cpu")
    queries, positives, negatives = ["ice cave?", "river delta?"], ["glacier ice cave", "delta sediment"], ["wing", "lemon"]
    labels = torch.tensor([1.5, -0.25])
    ours = make_loss("margin-mse", model)([queries, positives, negatives, [0, 1]], labels)
    theirs = MarginMSELoss(model)([queries, positives, negatives], labels)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)

    teacher = tmp_path / "teacher"
    train(tiny_model, tiny_data, teacher)
    stats = train(tiny_model, tiny_data, tmp_path / "student", loss="margin-mse", teacher=str(teacher))
    assert stats["teacher"] == str(teacher) and stats["samples"] == 5 * 2 and "margins" not in stats


def test_denoise_drops_negatives_the_teacher_puts_above_the_positive() -> None:
    from rankkit.components import TrainingSample
    from rankkit_crossencoder.samples import SampleSet
    from rankkit_crossencoder.teacher import denoise, margins

    samples = SampleSet(samples=[TrainingSample("q", ("p",), (1,)), TrainingSample("q", ("n1",), (0,)),
                                 TrainingSample("q", ("n2",), (0,)), TrainingSample("r", ("rp", "rn"), (1, 0))],
                        queries={"q": "", "r": ""})
    scores = {("q", "p"): 2.0, ("q", "n1"): 2.5, ("q", "n2"): 1.0, ("r", "rp"): 0.5, ("r", "rn"): -1.0}
    assert margins(SampleSet(samples=[samples.samples[3]]), scores) == [1.5]
    assert denoise(samples, scores) == 1
    assert [s.doc_ids for s in samples.samples] == [("p",), ("n2",), ("rp", "rn")]


def test_distillation_and_denoising_need_a_teacher() -> None:
    for params in ({"loss": "margin-mse"}, {"denoise": True}):
        with pytest.raises(ConfigError, match="need a teacher cross-encoder"):
            CrossEncoderTrainSettings(**params)
