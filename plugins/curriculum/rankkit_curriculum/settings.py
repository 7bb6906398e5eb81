"""The parameters of rankkit-curriculum's trainer, declared once (see :mod:`rankkit.params`).

Importing this module imports no trainer and no scipy: the registry reads it when the plugin registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rankkit.errors import ConfigError
from rankkit.params import Settings, param

#: What ``end`` counts.
UNITS = ("epochs", "steps")


@dataclass(frozen=True)
class CurriculumSettings(Settings):
    """The curriculum trainer's parameters: the trainer it wraps and the curriculum.

    When a registry is active (``rankkit`` commands make theirs so), the wrapped trainer's name and parameters and
    the heuristic's name are checked against that registry too, so ``rankkit run`` reports a bad ``trainer_params``
    key before any work.
    """

    trainer: str = param("cross-encoder", help="the trainer to wrap (must offer with_sample_weighter)")
    trainer_params: dict[str, Any] = param({}, help="that trainer's parameters (validated by its schema, before any "
                                           "work in rankkit run)")
    heuristic: str = param("kdescore", help="difficulty heuristic: reciprank, normscore, kdescore, or a plugin's")
    end: float = param(1.0, help="m: weights reach uniform (1) after this many end_units", minimum=0)
    end_unit: str = param("epochs", help="whether t and m (end) count epochs or optimiser steps", choices=UNITS)

    def __post_init__(self) -> None:
        super().__post_init__()
        from rankkit.registry import active_registry, validate_params

        try:
            registry = active_registry()
        except ConfigError:
            return   # built outside a registry (directly, in Python): the wrapped trainer is checked when built
        from rankkit_curriculum.heuristics import get_heuristic

        spec = registry.get("trainer", self.trainer).spec
        validate_params(spec, self.trainer_params, f"curriculum: trainer_params of trainer {self.trainer!r}")
        get_heuristic(registry, self.heuristic)
