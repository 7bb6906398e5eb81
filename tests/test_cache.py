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


class BatchingScorer(CountingScorer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def score_many(self, items):
        self.calls.append(sum(len(d) for _, d in items))
        return [self.score(q, d) for q, d in items]


def test_score_many_sends_the_uncached_pairs_of_a_whole_batch_at_once(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    inner = BatchingScorer()
    scorer = CachedScorer(inner, cache)
    scorer.score("q1", ["a"])
    got = scorer.score_many([("q1", ["a", "bb"]), ("q2", []), ("q22", ["c", "a"])])
    assert [g.tolist() for g in got] == [[3.0, 4.0], [], [4.0, 4.0]]
    assert inner.calls == [3] and (cache.hits, cache.misses) == (1, 4)  # one call for the three uncached pairs
    again = scorer.score_many([("q22", ["c"]), ("q1", ["bb"])])
    assert [g.tolist() for g in again] == [[4.0], [4.0]] and inner.calls == [3]  # all cached: no call
    plain = CachedScorer(CountingScorer(), ScoreCache(tmp_path / "other.sqlite"))  # an inner scorer without score_many
    assert [g.tolist() for g in plain.score_many([("q", ["a"]), ("qq", ["b"])])] == [[2.0], [3.0]]
