"""A bounded fault test: 8 clients x 100 rescoring requests through ``rankkit serve`` while Elasticsearch is
killed (``kill -9``) and restarted on the same data (``scripts/elasticsearch.sh restart``).

The server is a second one of the test's own (the session's server is never touched). Every answer must
be a 200 with exactly the ranking the client API computed before the kill, or an ES-shaped 502/504 (or ES's
own 503 while its shards recover, relayed); the service must serve again once Elasticsearch is back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rankkit.datasets.beir import BeirDataset
from rankkit.registry import Registry

from rankkit_elasticsearch.builder import EsIndexBuilder
from rankkit_elasticsearch.profiles import Limits, ScorerProfile
from rankkit_elasticsearch.rescoring import search
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app
from rankkit_elasticsearch.settings import EsBuilderSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
CLIENTS, PER_CLIENT, KILL_AFTER = 8, 100, 150


def test_kill_and_restart_elasticsearch_under_load(second, data_root: Path, tmp_path: Path, serve, capsys) -> None:
    second.call("start")
    url = second.read_state()["ES_URL"]
    dataset = BeirDataset("beir-scifact/test", data_root / "beir-scifact", split="test")
    EsIndexBuilder(EsBuilderSettings(index="rankkit-faults", url=url)).build(dataset, tmp_path / "index")
    registry = Registry.load()
    retriever = registry.build("retriever", "es-bm25", index=str(tmp_path / "index"))
    bodies = []
    for query in dataset.queries()[:40]:
        body = {k: v for k, v in retriever.search_body(query, 10).items() if k != "_source"}
        bodies.append({**body, "rescore": {"window_size": 30, "rankkit": {"scorer": "term-overlap"}}})
    with second.client() as client:
        expected = [[(h["_id"], h["_score"]) for h in search(client, "rankkit-faults", b, ScorerPool(registry))["hits"]["hits"]]
                    for b in bodies]
    bodies = [{**b, "rescore": {"window_size": 30, "rankkit": {"profile": "overlap"}}} for b in bodies]
    pool = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    proxy = serve(create_app(ServeSettings(upstream=url, limits=Limits(timeout=10)), pool))

    statuses: dict[int, int] = {}
    wrong: list[int] = []
    other: list[str] = []
    done = [0]
    lock = threading.Lock()
    back_at: list[float] = []
    served_after = [0]

    def client(n: int) -> None:
        with httpx.Client(base_url=proxy.url, timeout=60) as http:
            for i in range(PER_CLIENT):
                j = (n * PER_CLIENT + i) % len(bodies)
                answer = http.post("/rankkit-faults/_search", json=bodies[j])
                with lock:
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    done[0] += 1
                if answer.status_code == 200:
                    if [(h["_id"], h["_score"]) for h in answer.json()["hits"]["hits"]] != expected[j]:
                        wrong.append(j)
                    if back_at:
                        with lock:
                            served_after[0] += 1
                elif answer.status_code in (502, 503, 504):  # the proxy's 502/504, or ES's own 503 while shards recover
                    assert answer.json()["error"]["type"] in ("upstream_unavailable_exception", "upstream_timeout_exception",
                                                              "search_phase_execution_exception")
                    time.sleep(0.5)  # a client backing off while the server is down
                else:
                    other.append(f"{answer.status_code}: {answer.text[:200]}")

    def chaos() -> None:
        while done[0] < KILL_AFTER:
            time.sleep(0.05)
        os.kill(int(second.read_state()["ES_PID"]), signal.SIGKILL)
        second.call("restart")
        back_at.append(done[0])

    started = time.perf_counter()
    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    with ThreadPoolExecutor(CLIENTS) as executor:
        list(executor.map(client, range(CLIENTS)))
    killer.join(timeout=400)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nfaults: {CLIENTS} clients x {PER_CLIENT} rescoring requests in {elapsed:.0f} s, ES killed after {KILL_AFTER} "
              f"and back after {back_at[0] if back_at else '?'}: statuses {dict(sorted(statuses.items()))}, {len(wrong)} wrong, "
              f"{served_after[0]} served after the restart")
    assert back_at, "Elasticsearch was not restarted"
    assert not wrong and not other, (wrong[:5], other[:3])
    assert sum(statuses.values()) == CLIENTS * PER_CLIENT
    assert statuses.get(502, 0) > 0, "the kill did not reach the clients"
    assert served_after[0] > 0, "no client was served after the restart"
    after = httpx.post(f"{proxy.url}/rankkit-faults/_search", json=bodies[0], timeout=60)
    assert after.status_code == 200 and [(h["_id"], h["_score"]) for h in after.json()["hits"]["hits"]] == expected[0]
