"""A rescore window reordered by a reranker profile: the request's options, the new order and its scores.

A reranker orders the window as a whole; it gives no score to combine with
Elasticsearch's, so an entry that names a reranker profile takes no weights,
``score_mode`` or ``min_score``. The reordered window stays above the hits below
it, which keep their order and their scores: the hit the reranker puts at rank
``i`` (from 0) of a window of ``n`` gets ``_score = floor + (n - i)``, where
``floor`` is the score of the first hit below the window (0 when none is), so
the window's scores descend in steps of 1 to ``floor + 1`` (in larger steps only
when ``floor`` is so large that float32, ES's score type, cannot tell ``floor + 1``
from ``floor``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rankkit.types import Ranking

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.profiles import Profile, RerankerProfile
from rankkit_elasticsearch.reasoning import placements
from rankkit_elasticsearch.rerankers import RerankerPool

#: Keys of a ``rankkit`` rescore entry that names a reranker profile.
ENTRY_KEYS = {"profile", "query", "fields", "reasoning"}


def check_entry(spec: Mapping[str, Any], where: str, profile: Profile) -> bool:
    """Check a ``rankkit`` rescore entry's options against its profile; returns whether it asks for reasoning.

    Raises:
        RescoreError: (400) for weights, ``score_mode`` or ``min_score`` on a reranker profile, or an unusable
            ``reasoning`` switch.
    """
    if isinstance(profile, RerankerProfile):
        extra = sorted(set(spec) - ENTRY_KEYS)
        if extra:
            raise RescoreError(f"{where}: profile {profile.name!r} is a reranker, which orders the window and gives no "
                               f"score to combine: it takes {sorted(ENTRY_KEYS)}, not {extra}")
    return wants_reasoning(spec.get("reasoning", False), f"{where}.reasoning", profile)


def wants_reasoning(value: Any, where: str, profile: Profile) -> bool:
    """Whether a request asks for each hit's reasoning (``true``), checked against the profile.

    Raises:
        RescoreError: (400) for a value that is not a boolean, or ``true`` for a scorer profile or a reranker
            profile whose operator did not set ``expose_reasoning``.
    """
    if not isinstance(value, bool):
        raise RescoreError(f"{where} must be true or false, got {value!r}")
    if not value:
        return False
    if not isinstance(profile, RerankerProfile):
        raise RescoreError(f"{where}: profile {profile.name!r} is a scorer; only reranker profiles give reasoning")
    if not profile.expose_reasoning:
        raise RescoreError(f"{where}: profile {profile.name!r} does not expose its reasoning (the operator can allow "
                           "it with expose_reasoning = true)")
    return True


def rerank_window(ranking: Ranking, texts: Sequence[str], profile: RerankerProfile, query: str, rerankers: RerankerPool,
                  reasoning: bool, until: float | None, max_reasoning_chars: int) -> tuple[Ranking, dict[str, Any]]:
    """``ranking`` with its top ``len(texts)`` reordered by the profile's reranker, and the hits' ``_rankkit`` fields.

    Args:
        ranking: The hits so far (ES's, or a previous entry's output).
        texts: The texts of the window's hits, in order.
        profile: The reranker profile.
        query: The query text.
        rerankers: Where the profile's reranker comes from.
        reasoning: Whether to return each window hit's ``_rankkit`` field.
        until: ``time.monotonic()`` deadline for the call to start.
        max_reasoning_chars: Most characters of reasoning per hit.

    Returns:
        The new ranking and, when ``reasoning``, the ``_rankkit`` field of each window hit by doc id (else empty).

    Raises:
        RescoreError: As :meth:`RerankerPool.rerank`.
    """
    n = len(texts)
    if n == 0:
        return ranking, {}
    head = ranking.top(n)
    result = rerankers.rerank(profile, query, Ranking(ranking.query_id, head.doc_ids, head.scores, tuple(texts)), until)
    ids = head.doc_ids[np.asarray(result.order, dtype=np.int64)]
    rest = ranking.scores[n:]
    scores = placed_scores(n, float(rest[0]) if len(rest) else None)
    reordered = Ranking(ranking.query_id, np.concatenate([ids, ranking.doc_ids[n:]]),
                        np.concatenate([scores, rest.astype(np.float32)]))
    notes = placements(result.trace, ids.tolist(), profile.name, max_reasoning_chars) if reasoning else {}
    return reordered, notes


def placed_scores(n: int, floor: float | None) -> np.ndarray:
    """Scores for a reordered window of ``n``: ``floor + n`` down to ``floor + 1`` (float32), all above ``floor``.

    Raises:
        RescoreError: (500) when ``floor`` is so large that no step keeps the scores finite and distinct.
    """
    if n == 0:
        return np.empty(0, dtype=np.float32)
    base = 0.0 if floor is None else float(floor)
    steps = np.arange(n, 0, -1, dtype=np.float64)
    step, largest = 1.0, float(np.finfo(np.float32).max)
    while base + step * n <= largest:
        scores = (base + step * steps).astype(np.float32)
        if np.all(np.diff(scores) < 0) and (floor is None or scores[-1] > np.float32(floor)):
            return scores
        step *= 2.0
    raise RescoreError(f"the scores below the window ({floor!r}) leave no room for the reranked window's scores",
                       status=500, es_type="rankkit_reranker_exception")


def rank_texts(rerankers: RerankerPool, profile: RerankerProfile, query: str, texts: Sequence[str],
               until: float | None = None) -> list[float]:
    """Rank-based scores of ``texts`` (``/rerank``): the text the reranker puts at rank ``i`` of ``n`` gets ``n - i``.

    Raises:
        RescoreError: As :meth:`RerankerPool.rerank`.
    """
    n = len(texts)
    if n == 0:
        return []
    given = Ranking("rerank", [str(i) for i in range(n)], np.arange(n, 0, -1), tuple(texts))
    order = rerankers.rerank(profile, query, given, until).order
    scores = [0.0] * n
    for rank, position in enumerate(order):
        scores[position] = float(n - rank)
    return scores
