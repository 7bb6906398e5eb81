"""The curriculum plugin's own hook: other plugins add difficulty heuristics.

Registered on a registry with ``registry.add_hookspecs(hookspecs)`` when the
curriculum needs its heuristics; implement it in any ``rankkit`` plugin::

    from rankkit.hookspecs import hookimpl
    from rankkit_curriculum.heuristics import Heuristic

    @hookimpl
    def rankkit_curriculum_heuristics():
        return [Heuristic("sqrtrank", lambda scores, ranks: 1 / np.sqrt(ranks), "1/sqrt(rank)")]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rankkit.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from rankkit_curriculum.heuristics import Heuristic


@hookspec
def rankkit_curriculum_heuristics() -> list[Heuristic]:
    """Register difficulty heuristics for curriculum training.

    Called when a curriculum trainer resolves its ``heuristic`` parameter.
    Every plugin's result is collected; a name registered twice is an error
    naming both plugins.

    Returns:
        :class:`~rankkit_curriculum.heuristics.Heuristic` objects. Each maps one query's
            first-stage scores and ranks to a score D in [0, 1] per document, high for
            documents the first stage ranks as likely relevant.
    """
