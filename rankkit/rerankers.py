"""Rerankers the core provides itself: the random order, the chance baseline every results table needs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rankkit.components import fingerprint
from rankkit.params import Settings, param
from rankkit.types import Query, Ranking


@dataclass(frozen=True)
class RandomSettings(Settings):
    """The random order's parameters."""

    window: int = param(0, help="how many of each ranking's top documents are shuffled (0: all)", minimum=0)
    seed: int = param(0, help="seeds the permutations (report several seeds: one random order is noisy)")


class RandomReranker:
    """Shuffles the top ``window`` of each ranking: what a reranker that knows nothing scores.

    The order depends only on ``seed`` and the query id (not on the batch or on other queries), so a run is
    reproducible and resumable. Documents below the window keep their order under the shuffled ones.
    Scores become ``n, n-1, ..., 1`` in the new order.

    Args:
        settings: The window and the seed (:class:`RandomSettings`).
    """

    def __init__(self, settings: RandomSettings | None = None) -> None:
        settings = settings or RandomSettings()
        self.window, self.seed = settings.window, settings.seed
        self.fingerprint = fingerprint("reranker", "random", {"window": self.window, "seed": self.seed})

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """Each ranking with its top ``window`` shuffled."""
        return [self._shuffle(r) for r in rankings]

    def _shuffle(self, ranking: Ranking) -> Ranking:
        n = len(ranking)
        head = n if not self.window else min(self.window, n)
        digest = hashlib.sha256(f"{self.seed}\x00{ranking.query_id}".encode()).digest()
        order = np.concatenate([np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(head),
                                np.arange(head, n)]).astype(int)
        texts = tuple(ranking.texts[i] for i in order) if ranking.texts is not None else None
        return Ranking(ranking.query_id, ranking.doc_ids[order], np.arange(n, 0, -1, dtype=np.float64), texts)
