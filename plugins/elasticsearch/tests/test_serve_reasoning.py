"""Reranker profiles and opt-in reasoning in ``rankkit serve``, against the real Elasticsearch.

The reranker is the real ``rank-r1`` component (built by the registry from a profile), with its openai backend
pointed at a scripted OpenAI-compatible server on 127.0.0.1: it answers like a perfect reasoning model (the passage
with the highest ``rel=N`` wins, and its reasoning says so), so no LLM generates anything. Queries steer the script:
``longthink`` gives a long reasoning full of control characters and a lone surrogate, ``outage`` a 500.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rankkit.types import Query, Ranking

from rankkit_elasticsearch.profiles import Limits, RerankerProfile, ScorerProfile
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.rescoring import search
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app

from .conftest import free_port, serve_cli

pytest.importorskip("rankkit_reasoning")
pytestmark = pytest.mark.integration

INDEX = "rankkit-reasoning-test"
DOCS = 30
K = 5  # rank-r1 sorts the best K of a window; the rest of the window keeps ES's order
RELS = random.Random(7).sample(range(100), DOCS)


def scripted_app(calls: list[str]):
    """An OpenAI-compatible chat server that answers like a perfect Rank-R1 model."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request):  # noqa: ANN202
        user = (await request.json())["messages"][-1]["content"]
        query = re.search(r"^Query: (.*)$", user, re.M).group(1)
        calls.append(query)
        if "outage" in query:
            return JSONResponse({"error": "the model server is down"}, status_code=500)
        label, rel = max(re.findall(r"^\[(\d+)\] rel=(\d+)", user, re.M), key=lambda p: int(p[1]))
        reasoning = f"Passage [{label}] has rel={rel}, the highest."
        if "longthink" in query:
            reasoning += " \x00\x1b[2J\ud800\u0007" + "and so on " * 500
        text = f"<think>{reasoning}</think>\n<answer>[{label}]</answer>"
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20}}
        return Response(json.dumps(body).encode(), media_type="application/json")  # \ud800 escaped, as JSON allows

    return app


@pytest.fixture(scope="module")
def index(es_url):
    """30 documents whose BM25 order for "apple" is by their apple count; each says its relevance (rel=N)."""
    from elasticsearch import Elasticsearch

    with Elasticsearch(es_url, request_timeout=60) as es:
        es.options(ignore_status=404).indices.delete(index=INDEX)
        es.indices.create(index=INDEX, settings={"number_of_shards": 1, "number_of_replicas": 0})
        for i, rel in enumerate(RELS):
            es.index(index=INDEX, id=f"d{i}", document={"title": f"doc {i}", "text": f"rel={rel} " + "apple " * (i + 1)})
        es.indices.refresh(index=INDEX)
        yield es
        es.options(ignore_status=404).indices.delete(index=INDEX)


@pytest.fixture(scope="module")
def model():
    """The scripted model's ``…/v1`` URL, and the queries it was asked about."""
    from rankkit_reasoning.testing import serve

    calls: list[str] = []
    with serve(scripted_app(calls)) as url:
        yield url, calls


def r1_params(url: str) -> dict:
    return {"backend": "openai", "base_url": url, "api_model": "scripted", "timeout": 5.0, "retries": 0,
            "num_child": 3, "k": K, "window": 100, "passage_tokens": 64, "max_new_tokens": 64}


@pytest.fixture
def pools(registry, model):
    scorers = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    params = r1_params(model[0])
    rerankers = RerankerPool(registry, [
        RerankerProfile("r1", "rank-r1", params, ("text",), expose_reasoning=True),
        RerankerProfile("r1-open", "rank-r1", params, ("text",), allow_rerank_failures=True, expose_reasoning=True),
        RerankerProfile("r1-quiet", "rank-r1", params, ("text",)),
    ])
    return scorers, rerankers


def es_hits(es, size: int) -> list[dict]:
    return es.search(index=INDEX, query={"match": {"text": "apple"}}, size=size)["hits"]["hits"]


def rel(hit: dict) -> int:
    return int(re.match(r"rel=(\d+)", hit["_source"]["text"]).group(1))


def same_hits(got: list[dict], plain: list[dict]) -> bool:
    """The same hits (every key) with the same scores, as float32 (ES's score type, which rankkit keeps)."""
    strip = [[{k: v for k, v in h.items() if k != "_score"} for h in hits] for hits in (got, plain)]
    return strip[0] == strip[1] and [h["_score"] for h in got] == pytest.approx([h["_score"] for h in plain], rel=1e-6)


def expected_ids(hits: list[dict], window: int) -> list[str]:
    """What a perfect model does: the best K of the window by rel, then the rest of the window and below in ES order."""
    best = sorted(hits[:window], key=lambda h: -rel(h))[:K]
    chosen = {h["_id"] for h in best}
    return [h["_id"] for h in best] + [h["_id"] for h in hits if h["_id"] not in chosen]


def body(window: int = 20, size: int = 25, **rankkit) -> dict:
    return {"query": {"match": {"text": "apple"}}, "size": size,
            "rescore": {"window_size": window, "rankkit": {"profile": "r1", **rankkit}}}


def test_reranker_profiles_reorder_the_window_and_leave_the_rest(index, pools, es_url, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), *pools))
    plain = es_hits(index, 25)
    answer = httpx.post(f"{proxy.url}/{INDEX}/_search", json=body(), timeout=60)
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == expected_ids(plain, 20)
    floor = plain[20]["_score"]
    assert [h["_score"] for h in hits[:20]] == pytest.approx([floor + n for n in range(20, 0, -1)])
    assert same_hits(hits[20:], plain[20:])  # below the window: ES's hits, scores and sources, unchanged
    assert all("_rankkit" not in h for h in hits)  # reasoning not asked for
    assert answer.json()["hits"]["max_score"] == pytest.approx(floor + 20)
    assert search(index, INDEX, body(), pools[0], pools[1])["hits"] == answer.json()["hits"]  # the client API agrees


def test_reasoning_is_opt_in_and_is_the_trace_of_the_placing_call(index, pools, registry, model, es_url, serve,
                                                                  caplog) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), *pools))
    caplog.set_level(logging.INFO, logger="rankkit_elasticsearch.access")
    answer = httpx.post(f"{proxy.url}/{INDEX}/_search", json=body(reasoning=True), timeout=60)
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]["hits"]
    plain = es_hits(index, 25)
    assert [h["_id"] for h in hits] == expected_ids(plain, 20)
    # the same reranker, offline, on the same window: its trace says which call placed each of the best K
    offline = registry.build("reranker", "rank-r1", **r1_params(model[0]))
    window = Ranking("q", [h["_id"] for h in plain[:20]], [h["_score"] for h in plain[:20]],
                     tuple(h["_source"]["text"] for h in plain[:20]))
    offline.rerank([Query("q", "apple")], [window])
    [trace] = offline.traces()
    placing = {c["chosen"]: c for c in trace["trace"]}  # the last call that chose each document
    for hit in hits[:K]:
        note, call = hit["_rankkit"], placing[hit["_id"]]
        assert note["reasoning"] == call["reasoning"] and note["call"] == call["call"]
        assert f"rel={rel(hit)}," in note["reasoning"] and f"[{note['answer']}]" in note["reasoning"]
        assert call["doc_ids"][note["answer"] - 1] == hit["_id"]
        assert (note["profile"], note["fallback"], note["constrained"], note["truncated"]) == ("r1", None, False, False)
    for hit in hits[K:20]:  # in the window, in ES's order: no call placed them
        assert hit["_rankkit"] == {"profile": "r1", "call": None, "reasoning": None, "answer": None, "fallback": None,
                                   "constrained": False, "truncated": False}
    assert same_hits(hits[20:], plain[20:])  # below the window: no _rankkit field
    assert any(f"POST /{INDEX}/_search 200" in r.getMessage() and "profile=r1" in r.getMessage() for r in caplog.records)
    off = httpx.post(f"{proxy.url}/{INDEX}/_search", json=body(reasoning=False), timeout=60).json()["hits"]["hits"]
    assert [h["_id"] for h in off] == [h["_id"] for h in hits] and all("_rankkit" not in h for h in off)


def test_reasoning_is_capped_and_safe_json(index, pools, es_url, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(max_reasoning_chars=120)), *pools))
    answer = httpx.post(f"{proxy.url}/{INDEX}/_search", json=body(window=8, size=8, reasoning=True, query="apple longthink"),
                        timeout=60)
    assert answer.status_code == 200, answer.text
    json.loads(answer.content.decode("utf-8", "strict"))  # strict UTF-8: the lone surrogate did not get through
    placed = [h["_rankkit"] for h in answer.json()["hits"]["hits"] if h["_rankkit"]["call"] is not None]
    assert len(placed) == K
    for note in placed:
        assert len(note["reasoning"]) == 120 and note["truncated"] is True
        assert "\ufffd" in note["reasoning"] and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", note["reasoning"])


def test_the_retriever_form_and_rerank_serve_reranker_profiles(index, pools, es_url, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url, token="t0ken"), *pools))
    auth = {"Authorization": "Bearer t0ken"}
    node = {"retriever": {"standard": {"query": {"match": {"text": "apple"}}}}, "field": "text", "inference_id": "r1",
            "inference_text": "apple", "rank_window_size": 12, "rankkit": {"reasoning": True}}
    answer = httpx.post(f"{proxy.url}/{INDEX}/_search", json={"retriever": {"text_similarity_reranker": node}, "size": 12},
                        headers=auth, timeout=60)
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == expected_ids(es_hits(index, 12), 12)
    assert [h["_score"] for h in hits] == list(range(12, 0, -1))  # scores replace ES's: rank-based, n down to 1
    assert sum(h["_rankkit"]["call"] is not None for h in hits) == K
    texts = [f"rel={r} apple" for r in (3, 40, 7, 99, 12, 0, 55)]
    ranked = httpx.post(f"{proxy.url}/rerank", json={"model": "r1", "query": "apple", "documents": texts}, headers=auth,
                        timeout=60).json()["results"]
    assert [r["index"] for r in ranked][:K] == [3, 6, 1, 4, 2] and [r["relevance_score"] for r in ranked] == list(range(7, 0, -1))
    health = httpx.get(f"{proxy.url}/_rankkit/health", headers=auth, timeout=10).json()
    assert health["profiles"]["r1"] == {"reranker": "rank-r1", "loaded": True}
    assert health["profiles"]["r1-quiet"] == {"reranker": "rank-r1", "loaded": False}
    assert "profiles" not in httpx.get(f"{proxy.url}/_rankkit/health", timeout=10).json()  # only for the token's holders
    assert httpx.post(f"{proxy.url}/{INDEX}/_search", json=body(), timeout=10).status_code == 401


def test_bad_reranker_requests_are_400(index, pools, es_url, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(max_window=50)), *pools))
    url = f"{proxy.url}/{INDEX}/_search"
    cases = [(body(reasoning=True) | {"rescore": {"rankkit": {"profile": "r1-quiet", "reasoning": True}}}, "does not expose"),
             (body() | {"rescore": {"rankkit": {"profile": "overlap", "reasoning": True}}}, "is a scorer"),
             (body(reasoning="true"), "must be true or false"),
             (body(reasoning=None), "must be true or false"),
             (body(score_mode="max"), "is a reranker"),
             (body(window=10**9), "larger than this service allows"),
             (body(window=0), "positive integer"),
             (body() | {"rescore": {"rankkit": {"profile": "r1", "scorer": "rank-r1"}}}, "give `profile` alone")]
    with httpx.Client(timeout=60) as http:
        for payload, message in cases:
            answer = http.post(url, json=payload)
            assert answer.status_code == 400 and message in answer.json()["error"]["reason"], (payload, answer.text)
        for raw in (b'{"query": {"match": {"text": "apple"}}, "rescore": {"rankkit": {"profile": "r1", "reasoning": NaN}}}',
                    b'{"rescore": {"window_size": 1e400, "rankkit": {"profile": "r1", "reasoning": true}}}',
                    '{"rescore": {"rankkit": {"profile": "r1", "query": "\udc80"}}}'.encode("utf-8", "surrogatepass")):
            answer = http.post(url, content=raw, headers={"Content-Type": "application/json"})
            assert answer.status_code == 400, answer.text
        zipped = http.post(url, content=gzip.compress(json.dumps(body(reasoning=True)).encode()),
                           headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert zipped.status_code == 200 and "_rankkit" in zipped.json()["hits"]["hits"][0]


def test_failing_reranker_fails_open_when_allowed(index, pools, es_url, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), *pools))
    url = f"{proxy.url}/{INDEX}/_search"
    closed = httpx.post(url, json=body(reasoning=True, query="apple outage"), timeout=60)
    assert closed.status_code == 500 and closed.json()["error"]["type"] == "rankkit_reranker_exception"
    assert "reranker profile 'r1' failed" in closed.json()["error"]["reason"] and "HTTP 500" in closed.json()["error"]["reason"]
    opened = httpx.post(url, json=body(reasoning=True, query="apple outage") | {
        "rescore": {"window_size": 20, "rankkit": {"profile": "r1-open", "reasoning": True, "query": "apple outage"}}}, timeout=60)
    assert opened.status_code == 200 and opened.headers["Warning"].startswith('299 rankkit "rescoring failed')
    assert opened.json()["rankkit"]["rescored"] is False
    assert same_hits(opened.json()["hits"]["hits"], es_hits(index, 25))  # ES's ranking, and no _rankkit field
    assert httpx.post(url, json=body(), timeout=60).status_code == 200  # the profile serves again


class Slow:
    """A reranker that takes longer than the request's deadline (keeps the order)."""

    fingerprint = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0
        self.lock = threading.Lock()

    def rerank(self, queries, rankings):
        with self.lock:
            self.calls += 1
        time.sleep(self.seconds)
        return list(rankings)


def test_a_slow_reranker_meets_the_deadline_and_skips_calls_past_it(index, registry, es_url, serve) -> None:
    slow = Slow(3.0)
    rerankers = RerankerPool(registry)
    rerankers.add("slow", slow, fields=("text",))
    scorers = ScorerPool(registry, profiles=[])
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(timeout=1.5)), scorers, rerankers))
    payload = {"query": {"match": {"text": "apple"}}, "rescore": {"window_size": 10, "rankkit": {"profile": "slow"}}}

    def call(_: int) -> tuple[int, str, float]:
        started = time.perf_counter()
        answer = httpx.post(f"{proxy.url}/{INDEX}/_search", json=payload, timeout=30)
        return answer.status_code, answer.json()["error"]["type"], time.perf_counter() - started

    with ThreadPoolExecutor(3) as executor:
        results = list(executor.map(call, range(3)))
    assert {(status, kind) for status, kind, _ in results} == {(504, "rankkit_scoring_timeout_exception")}
    assert max(seconds for *_, seconds in results) < 3.0
    time.sleep(3.5)  # the one call that started finishes; the others were dropped at their deadline, never called
    assert slow.calls == 1


def test_serve_loads_reranker_profiles_at_start_and_refuses_bad_ones(index, es_url, tmp_path) -> None:
    import os

    env = {**os.environ, "RANKKIT_SERVE_TOKEN": "", "RANKKIT_ES_URL": es_url}
    config = tmp_path / "serve.toml"
    config.write_text('[profiles.shuffle]\nreranker = "random"\nparams = {seed = 3, window = 5}\nfields = "text"\n')
    process, port = serve_cli("--config", str(config), env=env)
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/_rankkit/health", timeout=5).json()
        assert health["profiles"] == {"shuffle": {"reranker": "random", "loaded": True}}
        answer = httpx.post(f"http://127.0.0.1:{port}/{INDEX}/_search", timeout=30, json={
            "query": {"match": {"text": "apple"}}, "size": 10, "rescore": {"window_size": 5, "rankkit": {"profile": "shuffle"}}})
        assert answer.status_code == 200 and len(answer.json()["hits"]["hits"]) == 10
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert "loading profile 'shuffle'" in out and "profile=shuffle" in out
    config.write_text('[profiles.shuffle]\nreranker = "random"\nparams = {sead = 3}\n')
    import subprocess
    import sys

    bad = subprocess.run([sys.executable, "-m", "rankkit.cli", "serve", "--port", str(free_port()), "--config", str(config)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "profile 'shuffle'" in bad.stderr and "sead" in bad.stderr
