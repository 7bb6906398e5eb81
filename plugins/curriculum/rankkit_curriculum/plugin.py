"""The rankkit hooks of rankkit-curriculum (entry point ``curriculum`` in the ``rankkit`` group).

Only hook implementations live here: the ``curriculum`` trainer (named by import path, its parameters the
dataclass of :mod:`rankkit_curriculum.settings`), and the built-in heuristics through the plugin's own hook
(:mod:`rankkit_curriculum.hookspecs`).
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_curriculum.settings import CurriculumSettings

#: What the curriculum's weights depend on besides rankkit and this plugin: scipy (kdescore's kernel density).
#: The wrapped trainer is a parameter, so its libraries cannot be declared here.
LIBRARIES = ("scipy",)


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The curriculum trainer, wrapping any trainer that accepts sample weights."""
    return [
        ComponentSpec("trainer", "curriculum", summary="curriculum learning (MacAvaney et al. 2020) around any "
                      "weightable trainer, e.g. cross-encoder", target="rankkit_curriculum.trainer:CurriculumTrainer",
                      settings=CurriculumSettings, needs_registry=True, libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_curriculum_heuristics() -> list[Any]:
    """The paper's heuristics: reciprank, normscore, kdescore."""
    from rankkit_curriculum.heuristics import BUILTIN

    return list(BUILTIN)
