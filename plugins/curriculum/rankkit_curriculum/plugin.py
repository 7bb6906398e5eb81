"""The rankkit hooks of rankkit-curriculum (entry point ``curriculum`` in the ``rankkit`` group).

Only hook implementations live here: the ``curriculum`` trainer, and the
built-in heuristics through the plugin's own hook
(:mod:`rankkit_curriculum.hookspecs`).
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl


def _trainer(registry: Any, **params: Any) -> Any:
    from rankkit_curriculum.trainer import CurriculumTrainer

    return CurriculumTrainer(registry, **params)


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The curriculum trainer, wrapping any trainer that accepts sample weights."""
    return [
        ComponentSpec(
            "trainer",
            "curriculum",
            _trainer,
            "curriculum learning (MacAvaney et al. 2020) around any weightable trainer, e.g. cross-encoder",
            (
                Param("trainer", str, "cross-encoder", "the trainer to wrap (must offer with_sample_weighter)"),
                Param("trainer_params", dict, {}, "that trainer's parameters"),
                Param("heuristic", str, "kdescore", "difficulty heuristic: reciprank, normscore, kdescore, or a plugin's"),
                Param("end", float, 1.0, "m: weights reach uniform (1) after this many end_units"),
                Param("end_unit", str, "epochs", "unit of `end`", ("epochs", "steps")),
            ),
            needs_registry=True,
        )
    ]


@hookimpl
def rankkit_curriculum_heuristics() -> list[Any]:
    """The paper's heuristics: reciprank, normscore, kdescore."""
    from rankkit_curriculum.heuristics import BUILTIN

    return list(BUILTIN)
