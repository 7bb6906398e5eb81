"""Heuristics, the paper's weighting and schedule, the plugin's own hook, and the trainer integration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rankkit.components import ComponentSpec, Param, TrainingProgress, TrainingSample
from rankkit.errors import ConfigError, PluginError
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry
from rankkit.types import Ranking, Run
from rankkit_curriculum.heuristics import Heuristic, available_heuristics, kdescore, normscore, reciprank
from rankkit_curriculum.schedule import sample_difficulty, scheduled
from rankkit_curriculum.settings import CurriculumSettings
from rankkit_curriculum.weighter import CurriculumWeighter

SCORES = np.array([12.0, 9.0, 8.5, 3.0])
RANKS = np.arange(1.0, 5.0)


def test_builtin_heuristics() -> None:
    np.testing.assert_allclose(reciprank(SCORES, RANKS), [1, 1 / 2, 1 / 3, 1 / 4])
    np.testing.assert_allclose(normscore(SCORES, RANKS), [1, 6 / 9, 5.5 / 9, 0])
    kde = kdescore(SCORES, RANKS)
    assert np.all(np.diff(kde) < 0) and kde.min() > 0 and kde.max() < 1
    from scipy.stats import gaussian_kde

    assert kde[1] == pytest.approx(gaussian_kde(SCORES).integrate_box_1d(-np.inf, 9.0))
    np.testing.assert_allclose(normscore(np.array([2.0, 2.0]), np.array([1.0, 2.0])), [1, 1])


def test_paper_weighting() -> None:
    assert sample_difficulty([0.8], [1]) == pytest.approx(0.8)  # relevant: D
    assert sample_difficulty([0.8], [0]) == pytest.approx(0.2)  # non-relevant: 1 - D
    assert sample_difficulty([0.9, 0.3], [1, 0]) == pytest.approx((0.9 - 0.3 + 1) / 2)  # pairwise
    assert sample_difficulty([0.2, 0.8], [1, 0]) == pytest.approx(0.2)


@pytest.mark.parametrize(("t", "expected"), [(0, 0.2), (5, 0.6), (7.5, 0.8), (10, 1.0), (50, 1.0)])
def test_schedule_values(t: float, expected: float) -> None:
    """W = D(1 - t/m) + t/m while t < m, then 1 (m = 10, D = 0.2)."""
    assert float(scheduled(0.2, t, 10)) == pytest.approx(expected)


def test_weighter_over_steps_and_epochs() -> None:
    run = Run([Ranking("q", ["a", "b", "c"], np.array([3.0, 2.0, 1.0], dtype=np.float32))])
    steps = CurriculumWeighter(Heuristic("reciprank", reciprank), end=4, unit="steps")
    assert steps.prepare(None, run)["pairs"] == 3
    samples = [TrainingSample("q", ("a",), (1,)), TrainingSample("q", ("b",), (0,)), TrainingSample("q", ("a", "c"), (1, 0))]
    np.testing.assert_allclose(steps.weights(samples, TrainingProgress(0, 8, 4)), [1.0, 0.5, (1 - 1 / 3 + 1) / 2])
    np.testing.assert_allclose(steps.weights(samples, TrainingProgress(2, 8, 4)), [1.0, 0.75, ((1 - 1 / 3 + 1) / 2 + 1) / 2])
    np.testing.assert_allclose(steps.weights(samples, TrainingProgress(4, 8, 4)), [1, 1, 1])
    epochs = CurriculumWeighter(Heuristic("reciprank", reciprank), end=1, unit="epochs")
    epochs.prepare(None, run)
    np.testing.assert_allclose(epochs.weights(samples[1:2], TrainingProgress(2, 8, 4)), [0.75])  # half an epoch
    unranked = [TrainingSample("q", ("zzz",), (1,))]
    assert steps.weights(unranked, TrainingProgress(0, 8, 4))[0] == 0.0 and steps.missing == 1
    with pytest.raises(ConfigError, match="need first-stage scores"):
        steps.prepare(None, None)


class ThirdParty:
    """A third-party plugin: a heuristic through the curriculum's hook, and a weightable trainer that records weights."""

    seen: list[np.ndarray] = []

    @hookimpl
    def rankkit_curriculum_heuristics(self):  # noqa: ANN201
        return [Heuristic("halfrank", lambda scores, ranks: 0.5 / ranks, "0.5/rank")]

    @hookimpl
    def rankkit_trainers(self):  # noqa: ANN201
        return [ComponentSpec("trainer", "recorder", Recorder, "records weights", (Param("steps", int, 3),))]


class Recorder:
    def __init__(self, steps: int = 3, weighter=None) -> None:  # noqa: ANN001
        self.steps, self.weighter = steps, weighter

    def with_sample_weighter(self, weighter):  # noqa: ANN001, ANN201
        return Recorder(self.steps, weighter)

    def train(self, dataset, output, candidates=None) -> dict:  # noqa: ANN001
        self.weighter.prepare(dataset, candidates)
        sample = [TrainingSample("q0", ("d0-1",), (0,)), TrainingSample("q0", ("d0-0",), (1,))]
        ThirdParty.seen = [self.weighter.weights(sample, TrainingProgress(t, self.steps, self.steps)) for t in range(self.steps)]
        return {"steps": self.steps}


@pytest.fixture
def registry() -> Registry:
    return Registry(load_plugins(PluginSettings(disabled=frozenset({"bm25"})), extra=[("third", ThirdParty())]))


def test_third_party_heuristic_through_the_plugin_hook(registry, tiny_data, tmp_path) -> None:
    found = available_heuristics(registry)
    assert {"reciprank", "normscore", "kdescore", "halfrank"} <= set(found)
    assert found["halfrank"][0] == "third" and found["kdescore"][0] == "curriculum"
    assert available_heuristics(registry).keys() == found.keys()  # declaring the hook twice is harmless
    trainer = registry.build("trainer", "curriculum", trainer="recorder", heuristic="halfrank", end=2.0, end_unit="steps")
    stats = trainer.train(tiny_data[0], tmp_path, tiny_data[1])
    assert stats["curriculum"]["heuristic"] == "halfrank"
    # d0-1 ranks 1st (D = 0.5, non-relevant: 0.5), d0-0 2nd (D = 0.25, relevant: 0.25); uniform from step 2
    np.testing.assert_allclose(np.array(ThirdParty.seen), [[0.5, 0.25], [0.75, 0.625], [1, 1]])
    assert json.loads((tmp_path / "rankkit-curriculum.json").read_text())["end"] == 2.0
    assert trainer.with_checkpoints(tmp_path / "checkpoints") is trainer  # the recorder cannot resume: nothing changes


def test_bad_configurations(registry) -> None:
    with pytest.raises(ConfigError, match="unknown curriculum heuristic 'nope'; available: .*halfrank"):
        registry.build("trainer", "curriculum", trainer="recorder", heuristic="nope")
    with pytest.raises(PluginError, match="must return 2 values in"):
        Heuristic("bad", lambda s, r: s)(np.array([3.0, 4.0]), np.array([1.0, 2.0]))


def test_bounds_hold_through_the_registry_and_when_settings_are_built(registry) -> None:
    for params, message in (({"end": -1.0}, "'end' = -1.0 is out of range: it must be >= 0"),
                            ({"end_unit": "days"}, "'end_unit' = 'days' is not one of 'epochs', 'steps'")):
        with pytest.raises(ConfigError, match=message):
            registry.build("trainer", "curriculum", trainer="recorder", **params)
        with pytest.raises(ConfigError, match=message):
            CurriculumSettings(trainer="recorder", **params)


def test_the_wrapped_trainer_and_heuristic_are_checked_before_any_work(registry) -> None:
    """With a registry active (as in ``rankkit run``), validation checks the wrapped trainer's parameters."""
    from rankkit.registry import validate_params

    spec = registry.get("trainer", "curriculum").spec
    assert validate_params(spec, {"trainer_params": {"steps": "three"}}, "train.c")  # no registry active: at build
    with registry.active():
        with pytest.raises(ConfigError, match="train.c: curriculum: trainer_params of trainer 'recorder': parameter "
                           "'steps' must be int"):
            validate_params(spec, {"trainer": "recorder", "trainer_params": {"steps": "three"}}, "train.c")
        with pytest.raises(ConfigError, match="unknown trainer 'nope'"):
            validate_params(spec, {"trainer": "nope"}, "train.c")
        with pytest.raises(ConfigError, match="unknown curriculum heuristic 'nope'"):
            validate_params(spec, {"trainer": "recorder", "heuristic": "nope"}, "train.c")
        assert validate_params(spec, {"trainer": "recorder", "trainer_params": {"steps": 2}}, "train.c")["trainer"] == "recorder"


def test_unweightable_trainer_is_refused(rankkit_core_registry) -> None:
    class Plain:
        @hookimpl
        def rankkit_trainers(self):  # noqa: ANN201
            return [ComponentSpec("trainer", "plain", lambda: object(), "no weights")]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("plain", Plain())]))
    from rankkit_curriculum.trainer import CurriculumTrainer

    with pytest.raises(ConfigError, match="cannot weight its samples"):
        CurriculumTrainer(CurriculumSettings(trainer="plain", heuristic="reciprank"), registry=registry)


def test_curriculum_drives_the_cross_encoder_trainer(registry, tiny_model, tiny_data, tmp_path) -> None:
    """The cross-encoder trainer, unaware of curricula, optimises the scheduled weights: mean weight rises to 1."""
    params = {"base_model": str(tiny_model), "max_steps": 6, "batch_size": 4, "max_length": 32, "logging_steps": 1,
              "device": "cpu", "negatives": 2}
    trainer = registry.build("trainer", "curriculum", trainer="cross-encoder", trainer_params=params,
                             heuristic="reciprank", end=4.0, end_unit="steps")
    stats = trainer.train(tiny_data[0], tmp_path, tiny_data[1])
    assert stats["weighting"]["heuristic"] == "reciprank" and stats["steps"] == 6
    weights = [w for _, w in json.loads((tmp_path / "loss.json").read_text())["mean_weight"]]
    assert weights[0] < 1 and weights[-1] == pytest.approx(1.0) and weights[-2] == pytest.approx(1.0)
