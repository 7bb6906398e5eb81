"""Rank fusion: reciprocal rank fusion and normalised CombSUM over rankings of one query."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from rankkit.types import Ranking

Normalization = Literal["minmax", "zscore", "none"]
#: Fusion methods and the options each takes.
FUSION_OPTIONS: dict[str, tuple[str, ...]] = {"rrf": ("k", "depth"), "combsum": ("weights", "normalization")}


def check_options(method: str, n: int, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for fusing ``n`` rankings with ``method``, checked before any query runs.

    Raises:
        ValueError: For an unknown method or option, weights that do not match the ``n`` fused stages or are not
            finite, an unknown normalization, or an RRF constant or depth that is not positive.
    """
    if not isinstance(method, str) or method not in FUSION_OPTIONS:
        raise ValueError(f"unknown fusion method {method!r}; use {' or '.join(map(repr, FUSION_OPTIONS))}")
    unknown = sorted(set(options) - set(FUSION_OPTIONS[method]))
    if unknown:
        raise ValueError(f"{method} takes {', '.join(FUSION_OPTIONS[method])}, not {', '.join(unknown)}")
    weights = options.get("weights")
    if weights is not None:
        if not isinstance(weights, (list, tuple)) or len(weights) != n or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights
        ):
            raise ValueError(f"weights must be a list of {n} finite numbers, one per fused stage, got {weights!r}")
    if options.get("normalization", "minmax") not in ("minmax", "zscore", "none"):
        raise ValueError(f"normalization must be 'minmax', 'zscore' or 'none', got {options['normalization']!r}")
    for key in ("k", "depth"):
        value = options.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise ValueError(f"{key} must be a positive number, got {value!r}")
    return dict(options)


def _union(rankings: Sequence[Ranking]) -> tuple[np.ndarray, list[np.ndarray]]:
    """All doc ids of the rankings and, per ranking, each id's position in the union."""
    docs = np.unique(np.concatenate([r.doc_ids for r in rankings])) if rankings else np.empty(0, str)
    return docs, [np.searchsorted(docs, r.doc_ids) for r in rankings]


def _check(rankings: Sequence[Ranking]) -> str:
    if not rankings:
        raise ValueError("fusion needs at least one ranking")
    query_ids = {r.query_id for r in rankings}
    if len(query_ids) != 1:
        raise ValueError(f"fusion got rankings of different queries: {sorted(query_ids)}")
    return rankings[0].query_id


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = 60, depth: int | None = None) -> Ranking:
    """Reciprocal rank fusion (Cormack et al., 2009): ``sum 1 / (k + rank)``.

    Args:
        rankings: Rankings of the same query.
        k: The RRF constant.
        depth: Only the first ``depth`` documents of each ranking take part.

    Returns:
        The fused ranking over the union of documents.
    """
    query_id = _check(rankings)
    if depth is not None:
        rankings = [r.top(depth) for r in rankings]
    docs, positions = _union(rankings)
    fused = np.zeros(len(docs), dtype=np.float64)
    for pos in positions:
        fused[pos] += 1.0 / (k + np.arange(1, len(pos) + 1))
    return Ranking(query_id, docs, fused)


def normalize_scores(scores: np.ndarray, method: Normalization) -> np.ndarray:
    """Per-query score normalisation: ``minmax`` to [0, 1], ``zscore``, or ``none``."""
    values = scores.astype(np.float64)
    if method == "none" or len(values) == 0:
        return values
    if method == "minmax":
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 0 else np.ones_like(values)
    if method == "zscore":
        std = values.std()
        return (values - values.mean()) / std if std > 0 else np.zeros_like(values)
    raise ValueError(f"unknown normalization {method!r}; use 'minmax', 'zscore' or 'none'")


def combsum(
    rankings: Sequence[Ranking],
    weights: Sequence[float] | None = None,
    normalization: Normalization = "minmax",
) -> Ranking:
    """Weighted CombSUM of normalised scores; a document missing from a ranking adds 0.

    Args:
        rankings: Rankings of the same query.
        weights: One weight per ranking (default: all 1).
        normalization: How each ranking's scores are normalised first.

    Returns:
        The fused ranking over the union of documents.
    """
    query_id = _check(rankings)
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"combsum got {len(weights)} weights for {len(rankings)} rankings")
    docs, positions = _union(rankings)
    fused = np.zeros(len(docs), dtype=np.float64)
    for weight, ranking, pos in zip(weights, rankings, positions):
        fused[pos] += weight * normalize_scores(ranking.scores, normalization)
    return Ranking(query_id, docs, fused)
