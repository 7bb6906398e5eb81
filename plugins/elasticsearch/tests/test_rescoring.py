"""The rescoring extension against the real Elasticsearch: exactness, the proxy, failure and recovery, load."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from rankkit.datasets.beir import BeirDataset
from rankkit.pipeline import RetrieverStage, ScorerReranker
from rankkit.rescore import RescoreSettings

from rankkit_elasticsearch.profiles import Limits, ScorerProfile
from rankkit_elasticsearch.rescoring import search
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app

from .conftest import free_port, serve_cli

pytestmark = pytest.mark.integration

K, WINDOW = 100, 50


@pytest.fixture(scope="module")
def scifact(data_root):
    return BeirDataset("beir-scifact/test", data_root / "beir-scifact", split="test")


def _body(retriever, query, rescore):
    body = {k: v for k, v in retriever.search_body(query, K).items() if k != "_source"}
    return {**body, "rescore": rescore}


def profiles(registry) -> ScorerPool:
    """The proxy's pool: one profile, ``overlap``, served by ``term-overlap``."""
    return ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])


def as_profile(body: dict) -> dict:
    """``body`` with its ``{"scorer": "term-overlap"}`` rankkit entries naming the ``overlap`` profile instead."""
    entries = body["rescore"] if isinstance(body["rescore"], list) else [body["rescore"]]
    out = [{**e, "rankkit": {**{k: v for k, v in e["rankkit"].items() if k != "scorer"}, "profile": "overlap"}}
           if "rankkit" in e else e for e in entries]
    return {**body, "rescore": out}


def _scorers() -> list[tuple[str, dict]]:
    """term-overlap always; the cross-encoder plugin's scorer too when it is installed."""
    return [("term-overlap", {})]


@pytest.mark.parametrize("mode", ["total", "multiply"])
def test_rescoring_through_es_equals_the_offline_pipeline(scifact_es, scifact, es, registry, mode) -> None:
    retriever = registry.build("retriever", "es-bm25", index=str(scifact_es.path))
    pool = ScorerPool(registry)
    queries = scifact.queries()
    for name, params in _scorers():
        scorer = registry.build("scorer", name, **params)
        settings = RescoreSettings(WINDOW, 0.5, 2.0, mode)
        offline = (RetrieverStage(retriever, K) >> ScorerReranker(scorer, scifact.doc_store(), settings)).run(queries)
        rescore = [{"window_size": WINDOW, "rankkit": {"scorer": name, "params": params, "query_weight": 0.5,
                                                      "rescore_query_weight": 2.0, "score_mode": mode}}]
        differing = []
        for query in queries:
            hits = search(es, "rankkit-scifact", {**_body(retriever, query, rescore), "size": K}, pool)["hits"]["hits"]
            want = offline[query.query_id]
            got_ids = [h["_id"] for h in hits]
            got_scores = np.array([h["_score"] for h in hits], dtype=np.float32)
            if got_ids != want.doc_ids.tolist() or not np.array_equal(got_scores, want.scores):
                differing.append(query.query_id)
        assert not differing, f"{name}: {len(differing)} of {len(queries)} queries rank differently: {differing[:5]}"


def test_proxy_passes_everything_else_through_untouched(scifact_es, es_url, registry, serve) -> None:
    proxy = serve(create_app(ServeSettings(upstream=es_url), profiles(registry)))
    body = {"query": {"match": {"contents": "vitamin d"}}, "size": 5, "rescore": {
        "window_size": 20, "query": {"rescore_query": {"match": {"title": "vitamin"}}, "query_weight": 0.3}}}
    for method, path, payload in [("POST", "/rankkit-scifact/_search", body), ("GET", "/rankkit-scifact/_count", None),
                                  ("GET", "/_cluster/health", None), ("POST", "/no-such-index/_search", {})]:
        direct = httpx.request(method, es_url + path, json=payload, timeout=30)
        proxied = httpx.request(method, proxy.url + path, json=payload, timeout=30)
        assert proxied.status_code == direct.status_code
        a, b = direct.json(), proxied.json()
        for volatile in ("took", "task_max_waiting_in_queue_millis"):
            a.pop(volatile, None), b.pop(volatile, None)
        assert a == b, path


def test_proxy_rescoring_matches_the_client_api(scifact_es, es, es_url, registry, serve) -> None:
    pool = ScorerPool(registry)
    proxy = serve(create_app(ServeSettings(upstream=es_url), profiles(registry)))
    body = {"query": {"match": {"contents": "coronary heart disease risk"}}, "size": 10, "from": 5, "_source": ["title"],
            "rescore": [{"window_size": 10, "query": {"rescore_query": {"match": {"title": "heart"}}}},
                        {"window_size": 30, "rankkit": {"scorer": "term-overlap", "score_mode": "avg"}},
                        {"window_size": 8, "rankkit": {"scorer": "term-overlap", "query": "risk", "score_mode": "max"}}]}
    expected = search(es, "rankkit-scifact", body, pool)
    got = httpx.post(f"{proxy.url}/rankkit-scifact/_search", json=as_profile(body), timeout=30).json()
    assert got["hits"] == expected["hits"]
    assert len(got["hits"]["hits"]) == 10 and all(set(h["_source"]) == {"title"} for h in got["hits"]["hits"])


def test_an_elasticsearch_client_only_changes_its_url(scifact_es, es, es_url, registry, serve) -> None:
    from elasticsearch import Elasticsearch

    pool = ScorerPool(registry)
    proxy = serve(create_app(ServeSettings(upstream=es_url), profiles(registry)))
    body = {"query": {"match": {"contents": "coronary heart disease risk"}}, "size": 5,
            "rescore": {"window_size": 20, "rankkit": {"scorer": "term-overlap"}}}
    with Elasticsearch(proxy.url, request_timeout=30) as client:  # checks the X-Elastic-Product header
        got = client.search(index="rankkit-scifact", **as_profile(body))
        assert client.count(index="rankkit-scifact")["count"] == es.count(index="rankkit-scifact")["count"]
    assert got["hits"] == search(es, "rankkit-scifact", body, pool)["hits"]


class Relay:
    """A TCP relay on a fixed port to the real server: start and stop it to take the 'upstream' down and up."""

    def __init__(self, port: int, target: str) -> None:
        host, _, tport = target.removeprefix("http://").partition(":")
        self.port, self.target = port, (host, int(tport))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = None
        self.writers: set = set()

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> None:
        async def go():
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.server = asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def stop(self) -> None:
        async def halt():
            self.server.close()
            for writer in self.writers:  # drop live connections too, as a dying server would
                writer.close()
            self.writers.clear()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(halt(), self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_upstream_down_then_back_then_slow(scifact_es, es_url, registry, serve) -> None:
    port = free_port()
    relay = Relay(port, es_url)
    proxy = serve(create_app(ServeSettings(upstream=f"http://127.0.0.1:{port}", limits=Limits(timeout=1.5)), profiles(registry)))
    body = {"query": {"match": {"contents": "vitamin"}}, "size": 3, "rescore": {"window_size": 5, "rankkit": {"profile": "overlap"}}}
    url = f"{proxy.url}/rankkit-scifact/_search"
    health = f"{proxy.url}/_rankkit/health"
    try:
        for cycle in range(2):  # bounded: down, up, down, up
            down = httpx.post(url, json=body, timeout=10)
            assert down.status_code == 502, down.text
            assert down.json()["error"]["type"] == "upstream_unavailable_exception"
            sick = httpx.get(health, timeout=10)  # health tells the truth: 503 while ES is unreachable
            assert sick.status_code == 503 and sick.json()["status"] == "upstream_unavailable", sick.text
            relay.start()
            up = httpx.post(url, json=body, timeout=10)
            assert up.status_code == 200 and len(up.json()["hits"]["hits"]) == 3, up.text
            well = httpx.get(health, timeout=10)
            assert well.status_code == 200 and well.json()["status"] == "ok" and well.json()["upstream"]["reachable"]
            relay.stop()
    finally:
        relay.close()
    # a slow upstream: accepts the connection and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = serve(create_app(ServeSettings(upstream=f"http://127.0.0.1:{silent.getsockname()[1]}", limits=Limits(timeout=1.0)),
                                profiles(registry)))
        started = time.time()
        answer = httpx.post(f"{slow.url}/rankkit-scifact/_search", json=body, timeout=10)
        assert answer.status_code == 504 and "did not answer within 1 s" in answer.json()["error"]["reason"]
        assert time.time() - started < 5


def test_rankkit_serve_binds_loopback_and_needs_its_token(scifact_es, es_url, tmp_path) -> None:
    env = {**os.environ, "RANKKIT_SERVE_TOKEN": "t0ken", "RANKKIT_ES_URL": es_url}
    process, port = serve_cli(env=env)
    try:
        listening = [line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:] if line.split()[3] == "0A"]
        assert f"0100007F:{port:04X}" in listening
        assert httpx.get(f"http://127.0.0.1:{port}/_cluster/health", timeout=5).status_code == 401
        ok = httpx.get(f"http://127.0.0.1:{port}/_cluster/health", headers={"Authorization": "Bearer t0ken"}, timeout=5)
        assert ok.status_code == 200 and ok.json()["status"] in ("green", "yellow")
    finally:
        process.terminate()
        process.wait(20)


def test_load_8_clients_x_200_rescoring_requests(scifact_es, scifact, es, es_url, registry, serve, capsys) -> None:
    pool = ScorerPool(registry)
    proxy = serve(create_app(ServeSettings(upstream=es_url), profiles(registry)))
    queries = scifact.queries()[:40]
    bodies = [{"query": {"match": {"contents": q.text}}, "size": 10,
               "rescore": {"window_size": 50, "rankkit": {"scorer": "term-overlap", "score_mode": "total"}}} for q in queries]
    expected = [[(h["_id"], h["_score"]) for h in search(es, "rankkit-scifact", b, pool)["hits"]["hits"]] for b in bodies]
    bodies = [as_profile(b) for b in bodies]
    clients, per_client = 8, 200
    latencies: list[float] = []
    errors: list[str] = []
    wrong: list[int] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=proxy.url, timeout=30) as http:
            for i in range(per_client):
                j = (n * per_client + i) % len(bodies)
                t0 = time.perf_counter()
                try:
                    answer = http.post("/rankkit-scifact/_search", json=bodies[j])
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                    continue
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                elif [(h["_id"], h["_score"]) for h in answer.json()["hits"]["hits"]] != expected[j]:
                    wrong.append(j)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as executor:
        list(executor.map(client, range(clients)))
    elapsed = time.perf_counter() - started
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
    with capsys.disabled():
        print(f"\nload: {clients} clients x {per_client} rescoring requests (window 50, term-overlap) in {elapsed:.1f} s: "
              f"{clients * per_client / elapsed:.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
              f"{len(errors)} errors, {len(wrong)} wrong")
    assert not errors, errors[:3]
    assert not wrong
    assert len(latencies) == clients * per_client
