"""The term-overlap scorer's parameters, declared once (rankkit reads them when the plugin registers)."""

from __future__ import annotations

from dataclasses import dataclass

from rankkit.params import Settings, param


@dataclass(frozen=True)
class OverlapSettings(Settings):
    """How terms are compared, and an artificial delay."""

    lowercase: bool = param(True, help="compare case-insensitively")
    delay: float = param(0.0, help="seconds to sleep per query (for interruption tests)", minimum=0)
