"""Registration: the components are there, registering imports no torch, parameters are validated."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rankkit.errors import ConfigError
from rankkit.registry import Registry


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
    with pytest.raises(ConfigError, match="negatives must be at least 1"):
        rankkit_registry.build("trainer", "cross-encoder", negatives=0)
    with pytest.raises(ConfigError, match="package 'no_such_pkg' is not installed"):
        rankkit_registry.build("scorer", "cross-encoder", model="package:no_such_pkg/model")
    with pytest.raises(ConfigError, match="cross-encoder: device 'gpu' is not one of auto, cpu, cuda, mps"):
        rankkit_registry.build("scorer", "cross-encoder", model="package:no_such_pkg/model", device="gpu")
    with pytest.raises(ConfigError, match="trainer 'cross-encoder': device 'cuda:x' is not one of"):
        rankkit_registry.build("trainer", "cross-encoder", device="cuda:x")
