"""``rankkit serve`` under hostile requests, against the real Elasticsearch: each test fails on the proxy before profiles.

Paths are sent with :mod:`http.client`, which puts them on the wire byte for byte.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from rankkit_elasticsearch.profiles import Limits, ScorerProfile
from rankkit_elasticsearch.rescoring import search
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app

from .conftest import free_port, serve_cli

pytestmark = pytest.mark.integration
VICTIMS = ("victim", "victim-2", "victim-3", "logs-archive")


def raw_request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """``method path`` exactly as written (no normalisation, no re-encoding)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.fixture
def victims(es):
    """Four small indexes that hostile paths try to delete (removed afterwards)."""
    for name in VICTIMS:
        es.options(ignore_status=404).indices.delete(index=name)
        es.index(index=name, id="1", document={"title": name, "text": "a victim document"}, refresh=True)
    yield VICTIMS
    for name in VICTIMS:
        es.options(ignore_status=404).indices.delete(index=name)


@pytest.fixture(scope="module")
def scifact_queries(data_root):
    from rankkit.datasets.beir import BeirDataset

    return BeirDataset("beir-scifact/test", data_root / "beir-scifact", split="test").queries()


def overlap_pool(registry, **options) -> ScorerPool:
    return ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap", **options)])


@pytest.mark.parametrize("allow_writes", [True, False])
def test_encoded_paths_reach_elasticsearch_unchanged_and_delete_nothing_else(victims, es, es_url, registry, serve,
                                                                             allow_writes) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(allow_writes=allow_writes)), overlap_pool(registry)))
    for path in ("/victim%23old", "/victim-3%3Fpretty", "/logs-archive%2F..%2Fvictim-2"):
        direct, _ = raw_request(es_url, "DELETE", path)
        proxied, body = raw_request(proxy.url, "DELETE", path)
        assert direct in (400, 404)
        assert proxied == (direct if allow_writes else 403), body
        assert all(es.indices.exists(index=name) for name in victims), f"DELETE {path} deleted an index"
    for path in ("/victim/../victim-2", "/victim/%2e%2e/victim-2", "/victim%ZZ", "/victim%FF"):
        status, body = raw_request(proxy.url, "DELETE", path)
        assert status == 400 and json.loads(body)["error"]["type"] == "rankkit_bad_path_exception"
    rescoring = json.dumps({"query": {"match": {"text": "victim"}}, "rescore": {"rankkit": {"profile": "overlap"}}}).encode()
    direct, _ = raw_request(es_url, "POST", "/idx%23x/_search", b'{"query": {"match": {"text": "victim"}}}')
    proxied, body = raw_request(proxy.url, "POST", "/idx%23x/_search", rescoring)
    assert direct == 404 and proxied == 404, body
    if not allow_writes:
        status, body = raw_request(proxy.url, "DELETE", "/victim")
        assert status == 403 and "--allow-writes" in json.loads(body)["error"]["reason"]
        status, _ = raw_request(proxy.url, "POST", "/victim/_bulk", b'{"delete": {"_id": "1"}}\n')
        assert status == 403 and es.count(index="victim")["count"] == 1
        assert raw_request(proxy.url, "POST", "/victim/_count", b"{}")[0] == 200  # reads pass


def test_large_answers_pass_whole(scifact_es, es_url, registry, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), overlap_pool(registry)))
    body = {"query": {"match": {"contents": "cell"}}, "size": 500}
    direct = httpx.post(f"{es_url}/rankkit-scifact/_search", json=body, timeout=30)
    proxied = httpx.post(f"{proxy.url}/rankkit-scifact/_search", json=body, timeout=30)
    assert len(direct.content) > 500_000 and proxied.status_code == 200  # many upstream chunks
    assert proxied.json()["hits"] == direct.json()["hits"]
    rescored = httpx.post(f"{proxy.url}/rankkit-scifact/_search", timeout=30,
                          json={**body, "rescore": {"window_size": 500, "rankkit": {"profile": "overlap"}}})
    assert rescored.status_code == 200 and len(rescored.json()["hits"]["hits"]) == 500
    small = overlap_pool(registry)
    capped = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(max_response_bytes=100_000)), small))
    too_big = httpx.post(f"{capped.url}/rankkit-scifact/_search", json=body, timeout=30)
    assert too_big.status_code == 502 and "max_response_bytes" in too_big.json()["error"]["reason"]


def test_rescored_pages_are_exact_and_cursors_are_refused(scifact_es, scifact_queries, es, es_url, registry, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), overlap_pool(registry)))
    missing = duplicates = 0
    with httpx.Client(base_url=proxy.url, timeout=30) as http:
        for query in scifact_queries[:50]:
            base = {"query": {"match": {"contents": query.text}}, "sort": [{"_score": "desc"}, {"doc_id": "desc"}],
                    "rescore": {"window_size": 50, "rankkit": {"profile": "overlap"}}}
            whole = http.post("/rankkit-scifact/_search", json={**base, "size": 30}).json()["hits"]["hits"]
            pages = [h for page in range(3)
                     for h in http.post("/rankkit-scifact/_search", json={**base, "from": 10 * page, "size": 10}).json()["hits"]["hits"]]
            ids = [h["_id"] for h in pages]
            missing += len({h["_id"] for h in whole} - set(ids))
            duplicates += len(ids) - len(set(ids))
            assert ids == [h["_id"] for h in whole]
            assert all(h["sort"][0] == h["_score"] for h in whole), "sort values must be the rescored scores"
        assert missing == duplicates == 0
        cursor = http.post("/rankkit-scifact/_search", json={**base, "size": 10, "search_after": [1.0, "1"]})
        assert cursor.status_code == 400 and "search_after" in cursor.json()["error"]["reason"]
        scroll = http.post("/rankkit-scifact/_search?scroll=1m", json={**base, "size": 10})
        assert scroll.status_code == 400 and "scroll" in scroll.json()["error"]["reason"]


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf", "1.0", True, None, [1], 1e400])
def test_non_finite_or_non_numeric_weights_are_400(scifact_es, es_url, registry, serve, weight) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), overlap_pool(registry)))
    for key in ("query_weight", "rescore_query_weight", "min_score"):
        spec = {"profile": "overlap", key: weight}
        body = json.dumps({"query": {"match": {"contents": "vitamin"}}, "rescore": {"rankkit": spec}}).replace("Infinity", "1e400")
        answer = httpx.post(f"{proxy.url}/rankkit-scifact/_search", content=body, timeout=30,
                            headers={"Content-Type": "application/json"})
        if weight is None and key == "min_score":
            assert answer.status_code == 200  # null: no threshold
            continue
        assert answer.status_code == 400, (key, weight, answer.text)
        assert key in answer.json()["error"]["reason"] or "JSON" in answer.json()["error"]["reason"]


def test_clients_cannot_exhaust_or_lock_the_scorers(scifact_es, es_url, registry, serve) -> None:
    pool = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap"),
                                          ScorerProfile("broken", "term-overlap", {"no_such_parameter": 1})])
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(max_rescorers=3)), pool))
    url = f"{proxy.url}/rankkit-scifact/_search"
    query = {"match": {"contents": "vitamin d"}}
    with httpx.Client(timeout=30) as http:
        for params in ({"model": "/etc"}, {"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}, {"e": 5}, {"f": 6}, {"g": 7}, {"h": 8}):
            answer = http.post(url, json={"query": query, "rescore": {"rankkit": {"scorer": "term-overlap", "params": params}}})
            assert answer.status_code == 400 and "does not take scorer names or parameters" in answer.text
        assert pool.loaded() == []  # nothing was built for them
        ok = http.post(url, json={"query": query, "rescore": {"rankkit": {"profile": "overlap"}}})
        assert ok.status_code == 200 and pool.loaded() == ["overlap"]
        many = http.post(url, json={"query": query, "rescore": [{"window_size": 1000, "rankkit": {"profile": "overlap"}}] * 200})
        assert many.status_code == 400 and "at most 3" in many.json()["error"]["reason"]
        for _ in range(2):  # a failed load is a JSON 500 naming the profile, and is not kept: the next request tries again
            broken = http.post(url, json={"query": query, "rescore": {"rankkit": {"profile": "broken"}}})
            assert broken.status_code == 500 and broken.json()["error"]["type"] == "rankkit_profile_load_exception"
            assert "profile 'broken'" in broken.json()["error"]["reason"]
        assert pool.loaded() == ["overlap"]
        assert http.post(url, json={"query": query, "rescore": {"rankkit": {"profile": "overlap"}}}).status_code == 200


class SlowScorer:
    """term-overlap behind a sleep: a scorer too slow for the request deadline."""

    fingerprint = "slow"

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def score(self, query, documents):
        time.sleep(self.seconds)
        return self.inner.score(query, documents)


def test_slow_scoring_meets_the_deadline_and_fails_open_when_allowed(scifact_es, es, es_url, registry, serve) -> None:
    inner = registry.build("scorer", "term-overlap")
    pool = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    pool.add("slow", SlowScorer(inner, 3.0))
    pool.add("slow-open", SlowScorer(inner, 3.0), allow_rerank_failures=True)
    limits = Limits(timeout=2.0, max_concurrent_scoring=2, max_queued_scoring=8)
    proxy = serve(create_app(ServeSettings(upstream=es_url, limits=limits), pool))
    url = f"{proxy.url}/rankkit-scifact/_search"
    body = {"query": {"match": {"contents": "vitamin d bone"}}, "size": 5, "rescore": {"window_size": 20, "rankkit": {"profile": "slow"}}}
    counts: dict[int, int] = {}
    times: list[float] = []
    kinds: list[str] = []

    def call(_: int) -> None:
        started = time.perf_counter()
        answer = httpx.post(url, json=body, timeout=30)
        times.append(time.perf_counter() - started)
        counts[answer.status_code] = counts.get(answer.status_code, 0) + 1
        if answer.status_code == 504:  # mostly scoring; under this load the upstream call can be the slow part too
            kinds.append(answer.json()["error"]["type"])
        elif answer.status_code == 429:
            assert answer.json()["error"]["type"] == "es_rejected_execution_exception"

    with ThreadPoolExecutor(40) as executor:
        list(executor.map(call, range(40)))
    assert sum(counts.values()) == 40 and set(counts) <= {200, 504, 429} and counts.get(429, 0) > 0, counts
    assert max(times) < 6, f"a request waited {max(times):.1f} s past its 2 s deadline"
    assert "rankkit_scoring_timeout_exception" in kinds and set(kinds) <= {"rankkit_scoring_timeout_exception", "upstream_timeout_exception"}
    deadline = time.time() + 30  # the slow jobs finish; then the service serves normally again
    while time.time() < deadline:
        fine = httpx.post(url, json={**body, "rescore": {"window_size": 20, "rankkit": {"profile": "overlap"}}}, timeout=30)
        if fine.status_code == 200:
            break
        time.sleep(0.5)
    assert fine.status_code == 200, fine.text
    opened = httpx.post(url, json={**body, "rescore": {"window_size": 20, "rankkit": {"profile": "slow-open"}}}, timeout=30)
    assert opened.status_code == 200 and opened.headers["Warning"].startswith('299 rankkit "rescoring failed')
    assert opened.json()["rankkit"]["rescored"] is False
    plain = es.search(index="rankkit-scifact", query=body["query"], size=5)["hits"]["hits"]
    assert [h["_id"] for h in opened.json()["hits"]["hits"]] == [h["_id"] for h in plain]


class Failing:
    """A scorer whose error message spans lines (it must not break the Warning header of a fail-open answer)."""

    fingerprint = "failing"

    def score(self, query, documents):
        raise RuntimeError("model server said:\r\nbad gateway \x00")


def test_fail_open_on_a_failing_scorer_and_odd_headers(scifact_es, es, es_url, registry, serve) -> None:
    pool = ScorerPool(registry, profiles=[])
    pool.add("failing", Failing(), allow_rerank_failures=True)
    pool.add("failing-closed", Failing())
    proxy = serve(create_app(ServeSettings(upstream=es_url), pool))
    body = {"query": {"match": {"contents": "vitamin d"}}, "size": 5, "_source": ["title"],
            "rescore": {"window_size": 10, "rankkit": {"profile": "failing"}}}
    opened = httpx.post(f"{proxy.url}/rankkit-scifact/_search", json=body, timeout=30)
    assert opened.status_code == 200 and "\n" not in opened.headers["Warning"] and "bad gateway" in opened.headers["Warning"]
    plain = es.search(index="rankkit-scifact", query=body["query"], size=5, source=["title"])["hits"]["hits"]
    assert [(h["_id"], h["_source"]) for h in opened.json()["hits"]["hits"]] == [(h["_id"], h["_source"]) for h in plain]
    closed = httpx.post(f"{proxy.url}/rankkit-scifact/_search", timeout=30,
                        json={**body, "rescore": {"window_size": 10, "rankkit": {"profile": "failing-closed"}}})
    assert closed.status_code == 500 and closed.json()["error"]["type"] == "rankkit_scorer_exception"
    status, _ = raw_request(proxy.url, "POST", "/rankkit-scifact/_search", b"{}", {"Content-Length": "0" * 5000 + "2"})
    assert status in (400, 413)


def test_retriever_form_and_min_score(scifact_es, es, es_url, registry, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), overlap_pool(registry)))
    node = {"retriever": {"standard": {"query": {"match": {"contents": "vitamin d bone density"}}}}, "field": "text",
            "inference_id": "overlap", "inference_text": "vitamin d bone density", "rank_window_size": 20}
    answer = httpx.post(f"{proxy.url}/rankkit-scifact/_search", json={"retriever": {"text_similarity_reranker": node}, "size": 20},
                        timeout=30).json()["hits"]["hits"]
    first = es.search(index="rankkit-scifact", query={"match": {"contents": "vitamin d bone density"}}, size=20)["hits"]["hits"]
    scores = registry.build("scorer", "term-overlap").score("vitamin d bone density", [h["_source"]["text"] for h in first])
    expected = sorted(range(20), key=lambda i: -scores[i])
    assert sorted(h["_id"] for h in answer) == sorted(h["_id"] for h in first)
    assert np.allclose([h["_score"] for h in answer], [scores[i] for i in expected], atol=1e-6)
    threshold = float(np.median(scores))
    kept = httpx.post(f"{proxy.url}/rankkit-scifact/_search", json={"retriever": {"text_similarity_reranker": {**node, "min_score": threshold}},
                                                                    "size": 20}, timeout=30).json()["hits"]["hits"]
    assert kept and all(h["_score"] >= threshold for h in kept) and len(kept) == int(np.sum(np.float32(scores) >= np.float32(threshold)))
    foreign = {"retriever": {"text_similarity_reranker": {**node, "inference_id": "not-a-profile"}}}
    assert httpx.post(f"{proxy.url}/rankkit-scifact/_search", json=foreign, timeout=30).status_code == \
        httpx.post(f"{es_url}/rankkit-scifact/_search", json=foreign, timeout=30).status_code  # ES's own inference: forwarded


class Upstream(threading.Thread):
    """A stand-in upstream that records the headers it gets and answers like Elasticsearch's cluster health."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append(dict(self.headers))
                body = b'{"status": "green"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        super().__init__(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_upstream_credentials_replace_the_clients_and_never_show(registry, serve, monkeypatch) -> None:
    from rankkit_elasticsearch.upstream import Upstream as UpstreamConf

    upstream = Upstream()
    upstream.start()
    try:
        monkeypatch.setenv("RANKKIT_ES_API_KEY", "c2VjcmV0LWtleQ==")
        conf = UpstreamConf.from_config({"url": upstream.url})
        assert "c2VjcmV0" not in repr(conf)
        proxy = serve(create_app(ServeSettings(upstream=conf, token="client-token"), overlap_pool(registry)))
        answer = httpx.get(f"{proxy.url}/_cluster/health", timeout=10,
                           headers={"Authorization": "Bearer client-token", "es-security-runas-user": "elastic", "X-Opaque-Id": "o1"})
        assert answer.status_code == 200
        assert upstream.seen[-1]["Authorization"] == "ApiKey c2VjcmV0LWtleQ=="
        seen = {k.lower(): v for k, v in upstream.seen[-1].items()}
        assert "es-security-runas-user" not in seen and seen["x-opaque-id"] == "o1"
        with pytest.raises(Exception, match="credentials in the URL"):
            UpstreamConf.from_config({"url": "http://elastic:pw@127.0.0.1:9200"})
        monkeypatch.delenv("RANKKIT_ES_API_KEY")
        basic = UpstreamConf.from_config({"url": upstream.url, "username": "elastic", "password": "pw"})
        proxy = serve(create_app(ServeSettings(upstream=basic), overlap_pool(registry)))
        httpx.get(f"{proxy.url}/_cluster/health", headers={"Authorization": "Bearer whatever"}, timeout=10)
        assert upstream.seen[-1]["Authorization"] == "Basic ZWxhc3RpYzpwdw=="
        assert "pw" not in repr(basic)
    finally:
        upstream.server.shutdown()


def _serve(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rankkit.cli", "serve", *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_serve_is_closed_by_default_and_logs_each_request(es_url, tmp_path) -> None:
    env = {"RANKKIT_SERVE_TOKEN": "", "RANKKIT_ES_URL": es_url}
    exposed = _serve("--host", "0.0.0.0", "--port", str(free_port()), env=env)
    out, _ = exposed.communicate(timeout=60)
    assert exposed.returncode != 0 and "without a token" in out
    empty = _serve("--token", "", "--port", str(free_port()), env={**env, "RANKKIT_SERVE_TOKEN": "t0ken"})
    out, _ = empty.communicate(timeout=60)
    assert empty.returncode != 0 and "--token is empty" in out
    config = tmp_path / "serve.toml"
    config.write_text('[profiles.overlap]\nscorer = "term-overlap"\n[limits]\nmax_rescorers = 2\n')
    process, port = serve_cli("--config", str(config), env={**os.environ, **env})
    try:
        assert httpx.delete(f"http://127.0.0.1:{port}/no-such-index", timeout=5).status_code == 403
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert "no token" in out
    assert "DELETE /no-such-index 403" in out and "GET /_rankkit/health 200" in out
