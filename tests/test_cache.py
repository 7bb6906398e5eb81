"""The content-addressed score cache."""

from __future__ import annotations

import numpy as np

from rankkit.cache import CachedScorer, ScoreCache, score_key


class CountingScorer:
    fingerprint = "counting-v1"

    def __init__(self) -> None:
        self.pairs = 0

    def score(self, query, documents):
        self.pairs += len(documents)
        return np.array([len(query) + len(d) for d in documents], dtype=np.float32)


def test_repeated_scoring_hits_the_cache(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    inner = CountingScorer()
    scorer = CachedScorer(inner, cache)
    first = scorer.score("query", ["a", "bb", "ccc"])
    second = scorer.score("query", ["ccc", "a", "dddd"])
    assert inner.pairs == 4
    assert second.tolist() == [8.0, 6.0, 9.0] and first.tolist() == [6.0, 7.0, 8.0]
    assert (cache.hits, cache.misses) == (2, 4)


def test_cache_survives_a_new_process_and_separates_fingerprints(tmp_path):
    path = tmp_path / "scores.sqlite"
    CachedScorer(CountingScorer(), ScoreCache(path)).score("q", ["doc"])
    again = CountingScorer()
    CachedScorer(again, ScoreCache(path)).score("q", ["doc"])
    assert again.pairs == 0
    other = CountingScorer()
    other.fingerprint = "counting-v2"
    CachedScorer(other, ScoreCache(path)).score("q", ["doc"])
    assert other.pairs == 1


def test_keys_do_not_collide_on_concatenation():
    assert score_key("f", "ab", "c") != score_key("f", "a", "bc")
