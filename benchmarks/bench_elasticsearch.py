"""rankkit-elasticsearch against the raw client, in one process, on BEIR SciFact in a real Elasticsearch.

Run from the repository root with a server (scripts/elasticsearch.sh starts one)::

    bash scripts/elasticsearch.sh run -- .venv/bin/python -m benchmarks.bench_elasticsearch

* **Rescoring latency**: the same requests (BM25 top ``window`` + ``term-overlap``
  on every hit, top 10 returned) through ``rankkit serve``'s proxy against a direct
  ``Elasticsearch.search`` plus raw ``scorer.score`` of the same hits and a sort.
  Requests alternate between the two; p50/p95 per side; target overhead <= 10 % at p50.
* **Bulk indexing**: the ``elasticsearch`` index builder against
  ``elasticsearch.helpers.bulk`` called directly with the same mapping, settings
  and chunk size (best of ``repeats``, docs/s; target ratio <= 1.05 in time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, summary


def _percentiles(values: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.array(values) * 1000, [50, 95])
    return float(p50), float(p95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    if not os.environ.get("RANKKIT_ES_URL"):
        raise SystemExit("set RANKKIT_ES_URL (bash scripts/elasticsearch.sh run -- python -m benchmarks.bench_elasticsearch)")
    url = os.environ["RANKKIT_ES_URL"]

    import httpx
    from elasticsearch import Elasticsearch, helpers

    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry
    from rankkit_elasticsearch.builder import EsIndexBuilder
    from rankkit_elasticsearch.scorers import ScorerPool
    from rankkit_elasticsearch.server import ServeSettings, create_app

    registry = Registry.load()
    dataset = resolve_dataset("beir-scifact/test", registry)
    es = Elasticsearch(url, request_timeout=120)
    builder = EsIndexBuilder("rankkit-bench-scifact", url)
    with tempfile.TemporaryDirectory() as tmp:
        builder.build(dataset, Path(tmp))  # the index the latency benchmark searches

    # ---- rescoring latency: proxy vs direct search + raw scoring -------------------------------
    scorer = registry.build("scorer", "term-overlap")
    pool = ScorerPool(registry)
    pool.add("term-overlap", scorer)
    server = _serve(create_app(ServeSettings(upstream=url), pool))
    queries = dataset.queries()[: args.queries]
    direct_ms: list[float] = []
    proxy_ms: list[float] = []

    def direct(text: str) -> list[str]:
        hits = es.search(index="rankkit-bench-scifact", query={"match": {"contents": text}}, size=args.window,
                         source=["title", "text"])["hits"]["hits"]
        texts = [f"{h['_source']['title']} {h['_source']['text']}" if h["_source"]["title"] else h["_source"]["text"] for h in hits]
        new = scorer.score(text, texts)
        order = np.argsort(-(np.array([h["_score"] for h in hits]) + new), kind="stable")[:10]
        return [hits[i]["_id"] for i in order]

    with httpx.Client(base_url=server.url, timeout=60) as http:
        def proxied(text: str) -> list[str]:
            body = {"query": {"match": {"contents": text}}, "size": 10, "_source": ["title", "text"],
                    "rescore": {"window_size": args.window, "rankkit": {"scorer": "term-overlap"}}}
            return [h["_id"] for h in http.post("/rankkit-bench-scifact/_search", json=body).json()["hits"]["hits"]]

        for query in queries[:20]:  # warm both paths (connections, caches)
            direct(query.text), proxied(query.text)
        for query in queries:
            for fn, sink in ((direct, direct_ms), (proxied, proxy_ms)):
                start = time.perf_counter()
                fn(query.text)
                sink.append(time.perf_counter() - start)
    server.stop()
    d50, d95 = _percentiles(direct_ms)
    p50, p95 = _percentiles(proxy_ms)
    overhead = p50 / d50 - 1
    verdict = "ok" if overhead <= 0.10 else "ABOVE the 10% target"
    latency = (f"rescoring latency ({len(queries)} queries, window {args.window}, term-overlap): direct search+score "
               f"p50 {d50:.1f} ms p95 {d95:.1f} ms; proxy p50 {p50:.1f} ms p95 {p95:.1f} ms; "
               f"overhead at p50 {overhead * 100:+.1f}% ({verdict})")
    print(latency, flush=True)

    # ---- bulk indexing: rankkit builder vs helpers.bulk ------------------------------------------
    docs = list(dataset.iter_documents())

    def rankkit_index() -> None:
        fresh = EsIndexBuilder("rankkit-bench-bulk", url)
        es.indices.delete(index="rankkit-bench-bulk-*", ignore_unavailable=True)
        with tempfile.TemporaryDirectory() as tmp:
            fresh.build(dataset, Path(tmp))

    def raw_index() -> None:
        es.indices.delete(index="raw-bench-bulk", ignore_unavailable=True)
        es.indices.create(index="raw-bench-bulk", settings=builder.settings(), mappings=builder.mappings(None))
        actions = ({"_index": "raw-bench-bulk", "_id": d.doc_id, "_source": {"doc_id": d.doc_id, "title": d.title, "text": d.text}}
                   for d in docs)
        helpers.bulk(es, actions, chunk_size=500)
        es.indices.refresh(index="raw-bench-bulk")

    timing = compare(f"bulk indexing {len(docs)} docs", rankkit_index, raw_index, repeats=args.repeats)
    print(f"bulk indexing: rankkit {len(docs) / timing.rankkit_s:.0f} docs/s, helpers.bulk {len(docs) / timing.raw_s:.0f} docs/s")
    es.indices.delete(index="rankkit-bench-*,raw-bench-bulk", ignore_unavailable=True)
    print(latency)
    print(summary())


def _serve(app):  # noqa: ANN001, ANN202
    """uvicorn on a free loopback port in a thread."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    class Handle:
        url = f"http://127.0.0.1:{port}"

        @staticmethod
        def stop() -> None:
            server.should_exit = True
            thread.join(20)

    return Handle()


if __name__ == "__main__":
    main()
