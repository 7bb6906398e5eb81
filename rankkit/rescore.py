"""Elasticsearch rescore semantics over rankkit rankings.

Elasticsearch combines a hit's original score ``q`` and its rescore ``r`` as
``score_mode(query_weight * q, rescore_query_weight * r)`` for the top
``window_size`` hits; the hits below the window keep their order below the
window. This module implements exactly that on a :class:`~rankkit.types.Ranking`,
so the offline pipeline and the Elasticsearch extension rank identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rankkit.errors import ConfigError
from rankkit.types import Ranking

ScoreMode = Literal["total", "multiply", "avg", "max", "min"]
SCORE_MODES: tuple[str, ...] = ("total", "multiply", "avg", "max", "min")
NORMALIZATIONS: tuple[str, ...] = ("none", "minmax", "zscore")


@dataclass(frozen=True)
class RescoreSettings:
    """How rescores combine with the original scores.

    Attributes:
        window_size: How many top hits are rescored.
        query_weight: Weight of the original score.
        rescore_query_weight: Weight of the new score.
        score_mode: ``total`` (sum), ``multiply``, ``avg``, ``max`` or ``min``.
        normalization: ``none`` (Elasticsearch's semantics), or ``minmax`` / ``zscore``: both the original and
            the new scores of a query's window are normalised first (as :func:`rankkit.fusion.normalize_scores`),
            so that interpolation weights mean the same for every query.
    """

    window_size: int = 100
    query_weight: float = 1.0
    rescore_query_weight: float = 1.0
    score_mode: ScoreMode = "total"
    normalization: str = "none"

    def __post_init__(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization {self.normalization!r} is not one of {', '.join(NORMALIZATIONS)}")
        for name in ("query_weight", "rescore_query_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if self.score_mode not in SCORE_MODES:
            raise ConfigError(f"score_mode {self.score_mode!r} is not one of {', '.join(SCORE_MODES)}")
        if self.window_size < 1:
            raise ConfigError(f"window_size must be at least 1, got {self.window_size}")


def combine_scores(original: np.ndarray, rescored: np.ndarray, settings: RescoreSettings) -> np.ndarray:
    """Combine weighted original and new scores with Elasticsearch's ``score_mode``."""
    q = settings.query_weight * original.astype(np.float64)
    r = settings.rescore_query_weight * rescored.astype(np.float64)
    mode = settings.score_mode
    if mode == "total":
        return q + r
    if mode == "multiply":
        return q * r
    if mode == "avg":
        return (q + r) / 2.0
    if mode == "max":
        return np.maximum(q, r)
    return np.minimum(q, r)


def apply_rescore(ranking: Ranking, rescored: np.ndarray, settings: RescoreSettings) -> Ranking:
    """Rescore the top ``window_size`` of ``ranking`` with ``rescored`` scores.

    Args:
        ranking: The input ranking.
        rescored: New scores for its first ``min(window_size, len(ranking))`` documents.
        settings: The combination settings.

    Returns:
        The window re-sorted by combined score, followed by the rest in their
        original order. Hits below the window keep their scores when those are
        already lower than every window score; otherwise they are shifted to
        descend from just below the window's lowest score.
    """
    window = min(settings.window_size, len(ranking))
    if len(rescored) != window:
        raise ValueError(f"expected {window} rescores for query {ranking.query_id!r}, got {len(rescored)}")
    original, new = ranking.scores[:window], np.asarray(rescored)
    if settings.normalization != "none":
        from rankkit.fusion import normalize_scores

        original, new = normalize_scores(original, settings.normalization), normalize_scores(new, settings.normalization)  # type: ignore[arg-type]
    head = combine_scores(original, new, settings).astype(np.float32)
    tail = ranking.scores[window:].astype(np.float32)
    if len(tail) and window and tail[0] >= head.min():
        floor = np.float32(head.min())
        tail = floor - np.arange(1, len(tail) + 1, dtype=np.float32) * max(np.spacing(abs(floor)) * 4, np.float32(1e-3))
    scores = np.concatenate([head, tail])
    return Ranking(ranking.query_id, ranking.doc_ids, scores, ranking.texts)
