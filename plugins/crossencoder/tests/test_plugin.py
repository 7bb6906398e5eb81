"""Registration: the components are there, registering imports no torch, parameters are validated."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rankkit.errors import ConfigError
from rankkit.registry import Registry
from rankkit_crossencoder.settings import CrossEncoderScorerSettings, CrossEncoderTrainSettings


def test_components_registered(rankkit_registry: Registry) -> None:
    scorer = rankkit_registry.get("scorer", "cross-encoder")
    trainer = rankkit_registry.get("trainer", "cross-encoder")
    assert scorer.origin.distribution == "rankkit-crossencoder"
    assert {p.name for p in trainer.spec.params} >= {"base_model", "loss", "seed", "max_steps", "negatives"}


def test_registering_imports_no_torch() -> None:
    code = (
        "import sys; from rankkit.registry import Registry; r = Registry.load(); "
        "r.get('scorer', 'cross-encoder'); r.get('trainer', 'cross-encoder'); "
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bad_parameters_are_named(rankkit_registry: Registry) -> None:
    with pytest.raises(ConfigError, match="'loss' = 'hinge' is not one of"):
        rankkit_registry.build("trainer", "cross-encoder", loss="hinge")
    with pytest.raises(ConfigError, match="'negatives' = 0 is out of range: it must be >= 1"):
        rankkit_registry.build("trainer", "cross-encoder", negatives=0)
    with pytest.raises(ConfigError, match="package 'no_such_pkg' is not installed"):
        rankkit_registry.build("scorer", "cross-encoder", model="package:no_such_pkg/model")
    with pytest.raises(ConfigError, match="cross-encoder: device 'gpu' is not one of auto, cpu, cuda, mps"):
        rankkit_registry.build("scorer", "cross-encoder", model="package:no_such_pkg/model", device="gpu")
    with pytest.raises(ConfigError, match="trainer 'cross-encoder': device 'cuda:x' is not one of"):
        rankkit_registry.build("trainer", "cross-encoder", device="cuda:x")


@pytest.mark.parametrize(("kind", "settings", "params", "message"), [
    ("trainer", CrossEncoderTrainSettings, {"validation_fraction": 1.5}, "'validation_fraction' = 1.5 is out of range: "
     "it must be in \\[0, 1\\)"),
    ("trainer", CrossEncoderTrainSettings, {"save_steps": -1}, "'save_steps' = -1 is out of range: it must be >= 0"),
    ("scorer", CrossEncoderScorerSettings, {"model": "m", "activation": "tanh"}, "'activation' = 'tanh' is not one of"),
])
def test_bounds_hold_through_the_registry_and_when_settings_are_built(rankkit_registry: Registry, kind: str,
                                                                      settings: type, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rankkit_registry.build(kind, "cross-encoder", **params)
    with pytest.raises(ConfigError, match=message):
        settings(**params)


def test_rules_across_parameters_are_checked_before_any_work(rankkit_registry: Registry) -> None:
    from rankkit.registry import validate_params

    spec = rankkit_registry.get("trainer", "cross-encoder").spec
    with pytest.raises(ConfigError, match=r"'validation_fraction' = 1.0 is out of range: it must be in \[0, 1\)"):
        validate_params(spec, {"validation_fraction": 1.0}, "train.ce")
    with pytest.raises(ConfigError, match="give epochs > 0 or max_steps > 0"):
        validate_params(spec, {"epochs": 0.0}, "train.ce")
    assert validate_params(spec, {"teacher": "train:teacher", "loss": "margin-mse"}, "train.ce")["teacher"] == "train:teacher"


def test_the_pseudo_query_provider_is_built_with_the_registry(rankkit_registry: Registry) -> None:
    from rankkit_crossencoder.pseudo import PseudoQueryProvider

    assert isinstance(rankkit_registry.build("dataset_provider", "pseudo-queries"), PseudoQueryProvider)
