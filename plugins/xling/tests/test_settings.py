"""rankkit-xling's parameters: the trainers extend the cross-encoder trainer's, bounds and rules hold however
settings are made, and validation touches no file."""

from __future__ import annotations

import pytest

from rankkit.errors import ConfigError
from rankkit.params import schema
from rankkit.registry import Registry, validate_params
from rankkit_crossencoder.settings import CrossEncoderTrainSettings, TrainingSettings
from rankkit_xling.settings import FullSettings, LanguageSettings, RankingSettings, ScorerSettings

#: The cross-encoder trainer's parameters that only it has (it starts from base_model and tunes an interpolation).
CROSS_ENCODER_ONLY = {"base_model", "validation_fraction", "tune_window", "tune_measure", "tune_normalization"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def names(registry: Registry, trainer: str) -> list[str]:
    return [p.name for p in registry.get("trainer", trainer).spec.params]


def test_the_ranking_trainers_extend_the_cross_encoder_trainers_parameters(registry) -> None:
    shared = {p.name: p for p in schema(TrainingSettings)}
    cross_encoder = {p.name: p for p in registry.get("trainer", "cross-encoder").spec.params}
    for trainer in ("xling-ranking", "xling-full"):
        params = {p.name: p for p in registry.get("trainer", trainer).spec.params}
        assert all(params[name] == cross_encoder[name] == shared[name] for name in shared)  # one declaration
        assert not CROSS_ENCODER_ONLY & set(params) and names(registry, trainer)[0] == "backbone"
    assert "save_steps" in names(registry, "xling-full")
    assert "save_steps" not in names(registry, "xling-ranking")  # adapter trainings restart, they never resume
    assert names(registry, "xling-ranking")[:7] == ["backbone", "method", "language_adapter", "lora_r", "lora_alpha",
                                                     "lora_dropout", "sft_k"]
    assert set(names(registry, "cross-encoder")) == set(shared) | CROSS_ENCODER_ONLY | {"save_steps"}
    assert not isinstance(RankingSettings(), CrossEncoderTrainSettings)


@pytest.mark.parametrize(("trainer", "settings", "params", "message"), [
    ("xling-ranking", RankingSettings, {"lora_r": 0}, "'lora_r' = 0 is out of range: it must be >= 1"),
    ("xling-full", FullSettings, {"save_steps": -5}, "'save_steps' = -5 is out of range: it must be >= 0"),
    ("xling-language", LanguageSettings, {"lang": "de", "mlm_probability": 1.5},
     "'mlm_probability' = 1.5 is out of range: it must be in \\(0, 1\\)"),
    ("xling-language", LanguageSettings, {"lang": "de", "method": "adapterfusion"},
     "'method' = 'adapterfusion' is not one of 'lora', 'sft'"),
])
def test_bounds_hold_through_the_registry_and_when_settings_are_built(registry, trainer: str, settings: type,
                                                                      params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        registry.build("trainer", trainer, **params)
    with pytest.raises(ConfigError, match=message):
        settings(**params)


def test_rules_across_parameters_name_the_component(registry) -> None:
    with pytest.raises(ConfigError, match="trainer 'xling-ranking': loss = \"margin-mse\" and denoise need a teacher"):
        RankingSettings(loss="margin-mse")
    with pytest.raises(ConfigError, match="trainer 'xling-full': device 'tpu' is not one of"):
        FullSettings(device="tpu")
    with pytest.raises(ConfigError, match=r"'mlm_probability' = 0.0 is out of range: it must be in \(0, 1\)"):
        LanguageSettings(lang="de", mlm_probability=0.0)
    with pytest.raises(ConfigError, match="train.la: trainer 'xling-language': lang: 'German' is not a language code"):
        validate_params(registry.get("trainer", "xling-language").spec, {"lang": "German"}, "train.la")
    with pytest.raises(ConfigError, match="scorer 'xling': device 'gpu' is not one of"):
        ScorerSettings(ranking="ra", device="gpu")


def test_validation_touches_no_file_and_accepts_trained_references(registry, tmp_path) -> None:
    """``rankkit run`` validates before anything is trained: references and missing files wait for the build."""
    spec = registry.get("trainer", "xling-ranking").spec
    assert validate_params(spec, {"language_adapter": "train:la-en"}, "train.ra")["language_adapter"] == "train:la-en"
    missing = str(tmp_path / "missing.txt")
    language = registry.get("trainer", "xling-language").spec
    assert validate_params(language, {"lang": "de", "text_file": missing}, "train.la")["text_file"] == missing
    with pytest.raises(ConfigError, match="text_file .*missing.txt does not exist"):
        registry.build("trainer", "xling-language", lang="de", text_file=missing)
