"""Unit tier of reranker profiles in ``rankkit serve`` (no Elasticsearch): config, plans, scores, placements, safety."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pytest

from rankkit.errors import ConfigError
from rankkit.types import Ranking

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.plan import apply_plan, plan_search
from rankkit_elasticsearch.profiles import Limits, RerankerProfile, ScorerProfile, config_from_mapping
from rankkit_elasticsearch.reasoning import placements, safe_text
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.reranking import placed_scores, rank_texts
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app


class Oracle:
    """Sorts by the ``rel=N`` in each text, best first, and keeps rank-r1-shaped traces: each of the top ``k`` is
    chosen by one call over it and the next candidate, after an earlier call that chose it too."""

    fingerprint = "oracle"

    def __init__(self, k: int = 3, reasoning: str = "rel={rel} wins") -> None:
        self.k, self.reasoning = k, reasoning
        self._traces: list[dict] = []
        self.resets = 0

    def rerank(self, queries, rankings):
        out = []
        for query, ranking in zip(queries, rankings):
            ids = ranking.doc_ids.tolist()
            rel = [int(re.search(r"rel=(\d+)", t).group(1)) for t in ranking.texts]
            order = sorted(range(len(ids)), key=lambda i: -rel[i])
            calls = []
            for i in order[: self.k]:
                for _ in range(2):  # the last call that chose a document is the one that placed it
                    other = ids[(i + 1) % len(ids)]
                    calls.append({"call": len(calls) + 1, "doc_ids": [other, ids[i]], "chosen": ids[i],
                                  "reasoning": self.reasoning.format(rel=rel[i], n=len(calls) + 1),
                                  "fallback": False, "fallback_choice": None})
            self._traces.append({"query_id": query.query_id, "top": [ids[i] for i in order[: self.k]], "trace": calls,
                                 "failed": False, "error": None})
            out.append(Ranking(ranking.query_id, [ids[i] for i in order], np.arange(len(ids), 0, -1)))
        return out

    def traces(self):
        return list(self._traces)

    def reset(self):
        self._traces, self.resets = [], self.resets + 1


def _response(rels: list[int]) -> dict:
    """An ES-shaped answer: hit i has ES score 100 - i and the text ``doc i rel=R``."""
    hits = [{"_index": "idx", "_id": f"d{i}", "_score": 100.0 - i, "_source": {"text": f"doc {i} rel={r}"}}
            for i, r in enumerate(rels)]
    return {"took": 1, "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": 100.0, "hits": hits}}


@pytest.fixture
def pools(rankkit_core_registry):
    scorers = ScorerPool(rankkit_core_registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    rerankers = RerankerPool(rankkit_core_registry)
    oracle = Oracle()
    rerankers.add("oracle", oracle, fields=("text",), expose_reasoning=True)
    rerankers.add("quiet", Oracle(), fields=("text",))
    return scorers, rerankers, oracle


def test_config_declares_reranker_profiles_beside_scorer_profiles() -> None:
    config = config_from_mapping({"default_profile": "r1", "limits": {"max_reasoning_chars": 100}, "profiles": {
        "ce": {"scorer": "term-overlap"},
        "r1": {"reranker": "rank-r1", "params": {"k": 5}, "fields": "text", "expose_reasoning": True}}})
    assert set(config.profiles) == {"ce"} and config.rerankers["r1"] == RerankerProfile(
        "r1", "rank-r1", {"k": 5}, ("text",), expose_reasoning=True)
    assert config.limits.max_reasoning_chars == 100
    for data, message in [({"profiles": {"r": {"reranker": "x", "scorer": "y"}}}, "both a `scorer` and a `reranker`"),
                          ({"profiles": {"r": {"reranker": "x", "passage_words": 9}}}, "unknown key.*profiles.r.passage_words"),
                          ({"profiles": {"r": {"reranker": "x", "expose_reasoning": "yes"}}}, "expose_reasoning"),
                          ({"profiles": {"r": {"reranker": ""}}}, "`reranker` must name"),
                          ({"limits": {"max_reasoning_chars": 0}}, "max_reasoning_chars must be a positive integer")]:
        with pytest.raises(ConfigError, match=message):
            config_from_mapping(data)


def test_reranker_parameters_are_checked_against_the_registry_at_startup(rankkit_core_registry) -> None:
    scorers = ScorerPool(rankkit_core_registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    for profile, message in [(RerankerProfile("r", "random", {"no_such": 1}), r"profile 'r'.*unknown parameter\(s\) no_such"),
                             (RerankerProfile("r", "random", {"seed": "x"}), "parameter 'seed' must be int"),
                             (RerankerProfile("r", "no-such-reranker"), "profile 'r'.*unknown reranker 'no-such-reranker'"),
                             (RerankerProfile("overlap", "random"), "declared both")]:
        with pytest.raises(ConfigError, match=message):
            create_app(ServeSettings(), scorers, RerankerPool(rankkit_core_registry, [profile]))
    pool = RerankerPool(rankkit_core_registry, [RerankerProfile("r", "random", {"seed": 3})])
    create_app(ServeSettings(default_profile="r"), scorers, pool)
    assert pool.loaded() == []  # checked, not built: profiles load for authenticated requests (or the CLI's start)
    exposed = RerankerPool(rankkit_core_registry, [RerankerProfile("r", "random", expose_reasoning=True)])
    with pytest.raises(RescoreError, match="expose_reasoning needs a reranker that keeps traces") as info:
        exposed.get("r")
    assert info.value.status == 500 and exposed.loaded() == []


def test_a_reranker_entry_reorders_its_window_above_the_unchanged_rest(pools) -> None:
    scorers, rerankers, oracle = pools
    rels = [1, 5, 3, 9, 0, 7, 2, 8]  # the window is the top 6; d7 (rel 8) lies below it
    body = {"query": {"match": {"text": "doc"}}, "size": 8, "rescore": {"window_size": 6, "rankkit": {"profile": "oracle"}}}
    plan = plan_search(body, scorers, 100, 4, rerankers)
    hits = apply_plan(plan, _response(rels), scorers, rerankers)["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["d3", "d5", "d1", "d2", "d0", "d4", "d6", "d7"]
    assert [h["_score"] for h in hits] == [100.0 - 6 + n for n in range(6, 0, -1)] + [94.0, 93.0]
    assert all("_rankkit" not in h for h in hits)  # not asked for
    assert oracle.resets == 1 and oracle.traces() == []  # the call's trace is read, then forgotten


def test_reasoning_is_the_placing_calls_and_only_when_asked(pools) -> None:
    scorers, rerankers, _ = pools
    rels = [1, 5, 3, 9, 0, 7, 2, 8]
    body = {"query": {"match": {"text": "doc"}}, "size": 8,
            "rescore": {"window_size": 6, "rankkit": {"profile": "oracle", "reasoning": True}}}
    hits = apply_plan(plan_search(body, scorers, 100, 4, rerankers), _response(rels), scorers, rerankers,
                      max_reasoning_chars=7)["hits"]["hits"]
    notes = {h["_id"]: h.get("_rankkit") for h in hits}
    assert notes["d3"] == {"profile": "oracle", "call": 2, "reasoning": "rel=9 w", "answer": 2, "fallback": None,
                           "constrained": False, "truncated": True}
    assert notes["d5"]["call"] == 4 and notes["d1"]["call"] == 6 and notes["d1"]["reasoning"] == "rel=5 w"
    for doc in ("d2", "d0", "d4"):  # in the window, placed by no call (first-stage order below the top k)
        assert notes[doc] == {"profile": "oracle", "call": None, "reasoning": None, "answer": None, "fallback": None,
                              "constrained": False, "truncated": False}
    assert notes["d6"] is None and notes["d7"] is None  # below the window: no field
    for spec, message in [({"profile": "quiet", "reasoning": True}, "does not expose its reasoning"),
                          ({"profile": "overlap", "reasoning": True}, "is a scorer"),
                          ({"profile": "oracle", "reasoning": "yes"}, "must be true or false"),
                          ({"profile": "oracle", "query_weight": 2.0}, "is a reranker.*not \\['query_weight'\\]"),
                          ({"profile": "oracle", "min_score": 1}, "is a reranker"),
                          ({"profile": "nope"}, "unknown profile 'nope'; this service offers: oracle, overlap, quiet")]:
        with pytest.raises(RescoreError, match=message):
            plan_search({**body, "rescore": {"rankkit": spec}}, scorers, 100, 4, rerankers)
    node = {"retriever": {"standard": {"query": {"match_all": {}}}}, "field": "text", "inference_id": "oracle",
            "inference_text": "q", "rank_window_size": 4}
    plan = plan_search({"retriever": {"text_similarity_reranker": {**node, "rankkit": {"reasoning": True}}}}, scorers,
                       100, 4, rerankers)
    assert plan.rescorers[0].reasoning and plan.limit == 4
    for extra, message in [({"rankkit": {"reasoning": 1}}, "must be true or false"), ({"rankkit": {"x": 1}}, "only `reasoning`"),
                           ({"min_score": 0.5}, "is a reranker")]:
        with pytest.raises(RescoreError, match=message):
            plan_search({"retriever": {"text_similarity_reranker": {**node, **extra}}}, scorers, 100, 4, rerankers)


def test_reasoning_text_is_safe_json_and_capped() -> None:
    hostile = "ok\x00\x1b[31m\ud800 é \u202e\t\nend" + "x" * 50
    text, cut = safe_text(hostile, 12)
    assert (text, cut) == ("ok[31m\ufffd é \u202e\t", True)
    orjson.dumps(text)  # a lone surrogate would make orjson refuse the whole response
    assert safe_text(b"bytes", 10) == (None, False) and safe_text(None, 10) == (None, False)
    assert safe_text("a\tb\nc", 10) == ("a\tb\nc", False)
    trace = {"top": ["a", 7, "b"], "trace": [
        {"call": 1, "doc_ids": ["a", "b"], "chosen": "a", "reasoning": "first", "fallback": False},
        {"call": True, "doc_ids": "ab", "chosen": "b", "reasoning": 3, "fallback": True, "fallback_choice": "constrained"},
        "junk", {"chosen": ["a"]}]}
    notes = placements(trace, ["a", "b", "c"], "p", 100)
    assert notes["a"]["call"] == 1 and notes["a"]["answer"] == 1 and notes["a"]["reasoning"] == "first"
    assert notes["b"] == {"profile": "p", "call": None, "reasoning": None, "answer": None, "fallback": "constrained",
                          "constrained": True, "truncated": False}
    assert notes["c"]["reasoning"] is None
    assert all(n["call"] is None for n in placements({"top": "a", "trace": None}, ["a"], "p", 9).values())
    assert all(n["call"] is None for n in placements(None, ["a"], "p", 9).values())


def test_rank_based_scores_stay_distinct_and_above_the_rest() -> None:
    assert placed_scores(3, None).tolist() == [3.0, 2.0, 1.0]
    assert placed_scores(2, 4.5).tolist() == [6.5, 5.5]
    assert placed_scores(2, -3.0).tolist() == [-1.0, -2.0]
    big = placed_scores(4, 3e8)  # float32 cannot tell 3e8 + 1 from 3e8: larger steps
    assert (np.diff(big) < 0).all() and big[-1] > np.float32(3e8)
    with pytest.raises(RescoreError, match="no room"):
        placed_scores(2, float(np.finfo(np.float32).max))
    assert placed_scores(0, 1.0).tolist() == []


class Broken:
    fingerprint = "broken"

    def __init__(self, result) -> None:
        self.result = result

    def rerank(self, queries, rankings):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result(rankings[0])


class GaveUp(Oracle):
    """Keeps the first-stage order and records the query as failed, as rank-r1 does when its endpoint is down."""

    def rerank(self, queries, rankings):
        self._traces.append({"query_id": queries[0].query_id, "failed": True, "error": "endpoint down"})
        return list(rankings)


def test_a_reranker_that_fails_or_answers_nonsense_is_a_500(rankkit_core_registry) -> None:
    pool = RerankerPool(rankkit_core_registry)
    cases = {"raises": RuntimeError("model server said:\r\nno"),
             "foreign": lambda r: [Ranking(r.query_id, ["zz", *r.doc_ids.tolist()[1:]], np.arange(len(r), 0, -1))],
             "twice": lambda r: [Ranking(r.query_id, [r.doc_ids[0]] * len(r), np.arange(len(r), 0, -1))],
             "none": lambda r: [None]}
    for name, result in cases.items():
        pool.add(name, Broken(result))
        with pytest.raises(RescoreError, match=f"reranker profile '{name}' failed") as info:
            rank_texts(pool, pool.profiles[name], "q", ["a", "b", "c"])
        assert info.value.status == 500 and info.value.es_type == "rankkit_reranker_exception"
    pool.add("short", Broken(lambda r: [r.top(1)]))  # documents left out follow in their input order
    assert rank_texts(pool, pool.profiles["short"], "q", ["a", "b", "c"]) == [3.0, 2.0, 1.0]
    pool.add("failed", GaveUp())
    with pytest.raises(RescoreError, match="'failed' failed: endpoint down"):
        rank_texts(pool, pool.profiles["failed"], "q", ["rel=1", "rel=2"])


def test_a_busy_profile_times_out_at_the_deadline(rankkit_core_registry) -> None:
    import time

    pool = RerankerPool(rankkit_core_registry)
    pool.add("o", Oracle())
    held = pool._calls["o"]
    held.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(RescoreError, match="busy until the request's deadline") as info:
            rank_texts(pool, pool.profiles["o"], "q", ["rel=1", "rel=2"], until=time.monotonic() + 0.2)
        assert info.value.status == 504 and time.monotonic() - started < 2
    finally:
        held.release()
    assert rank_texts(pool, pool.profiles["o"], "q", ["rel=1", "rel=2"]) == [1.0, 2.0]
    assert Limits().max_reasoning_chars == 2000
