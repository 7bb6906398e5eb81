"""Difficulty heuristics: from one query's first-stage scores to D in [0, 1] per document.

D is high where the first stage finds a document likely relevant. A relevant
document with high D, or a non-relevant one with low D, is an easy sample
(see :mod:`rankkit_curriculum.schedule`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rankkit.errors import ConfigError, PluginError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

HOOK = "rankkit_curriculum_heuristics"


@dataclass(frozen=True)
class Heuristic:
    """A named difficulty heuristic.

    Attributes:
        name: The name trainers' ``heuristic`` parameter takes.
        function: ``(scores, ranks) -> D`` for one query: float64 arrays in ranking order
            (ranks from 1); returns one value in [0, 1] per document.
        summary: One line for listings.
    """

    name: str
    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    summary: str = ""

    def __call__(self, scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """D for one query, checked to be finite and in [0, 1].

        Raises:
            PluginError: When the function returns something else.
        """
        values = np.asarray(self.function(np.asarray(scores, np.float64), np.asarray(ranks, np.float64)), np.float64)
        if values.shape != (len(scores),) or not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 1:
            raise PluginError(f"curriculum heuristic {self.name!r} must return {len(scores)} values in [0, 1], "
                              f"got {values!r}")
        return values


def reciprank(scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """1 / rank."""
    return 1.0 / ranks


def normscore(scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per-query min-max normalised score (all 1 when the scores are equal)."""
    low, high = scores.min(initial=np.inf), scores.max(initial=-np.inf)
    if not len(scores) or high - low <= 0:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def kdescore(scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """CDF, at each score, of a Gaussian kernel density estimate over the query's scores."""
    if len(scores) < 2 or np.ptp(scores) <= 0:
        return normscore(scores, ranks)
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(scores)
    return np.clip(np.array([kde.integrate_box_1d(-np.inf, s) for s in scores]), 0.0, 1.0)


BUILTIN = (
    Heuristic("reciprank", reciprank, "1/rank in the first-stage run"),
    Heuristic("normscore", normscore, "per-query min-max normalised first-stage score"),
    Heuristic("kdescore", kdescore, "CDF of a Gaussian KDE over the query's first-stage scores"),
)


def available_heuristics(registry: Registry) -> dict[str, tuple[str, Heuristic]]:
    """Every heuristic of every plugin, by name, with the plugin that registered it.

    Raises:
        PluginError: For a duplicate name (naming both plugins) or a result that is not heuristics.
    """
    from rankkit_curriculum import hookspecs

    registry.add_hookspecs(hookspecs)
    found: dict[str, tuple[str, Heuristic]] = {}
    for plugin, result in registry.call_plugin_hook(HOOK):
        if result is None:
            continue
        if not isinstance(result, (list, tuple)) or not all(isinstance(h, Heuristic) for h in result):
            raise PluginError(f"plugin {plugin!r} must return a list of Heuristic from {HOOK}, got {result!r}")
        for heuristic in result:
            if heuristic.name in found:
                raise PluginError(f"curriculum heuristic {heuristic.name!r} is registered by two plugins: "
                                  f"{found[heuristic.name][0]!r} and {plugin!r}; disable one (--disable-plugin NAME)")
            found[heuristic.name] = (plugin, heuristic)
    return found


def get_heuristic(registry: Registry, name: str) -> Heuristic:
    """One heuristic by name.

    Raises:
        ConfigError: Naming the available heuristics.
    """
    found = available_heuristics(registry)
    if name not in found:
        raise ConfigError(f"unknown curriculum heuristic {name!r}; available: {', '.join(sorted(found))}")
    return found[name][1]
