"""rankkit-elasticsearch against the raw client, in one process, on BEIR SciFact in a real Elasticsearch.

Run from the repository root with a server (scripts/elasticsearch.sh starts one)::

    bash scripts/elasticsearch.sh run -- .venv/bin/python -m benchmarks.bench_elasticsearch

* **Rescoring latency**: the same requests (BM25 top ``window`` + ``term-overlap``
  on every hit, top 10 returned) through ``rankkit serve``'s proxy (its own process,
  as deployed; the official ``Elasticsearch`` client with the proxy's URL) against a
  direct ``Elasticsearch.search`` plus raw ``scorer.score`` of the same hits and a sort
  (same client library). With a free scorer (``term-overlap``) this is the proxy's
  whole cost; ``--cross-encoder DIR`` adds the same comparison with a real model,
  where scoring dominates.
  Requests alternate between the two; p50/p95/p99 per side, and how many top 10s agree; target overhead <= 10 % at p50.
  A third line sends a plain search (no rescorer, top ``window``) through the proxy and
  directly: the cost of the extra HTTP hop alone, which any out-of-process proxy pays.
  A fourth line runs the same rescoring through the in-process client API
  (:func:`rankkit_elasticsearch.rescoring.search`, no hop) against the same direct path.
* **Bulk indexing**: the ``elasticsearch`` index builder against
  ``elasticsearch.helpers.bulk`` called directly with the same mapping, settings
  and chunk size (best of ``repeats``, docs/s; target ratio <= 1.05 in time).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, summary


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cross-encoder", type=Path, help="also measure with this trained cross-encoder folder as scorer")
    parser.add_argument("--ce-queries", type=int, default=20, help="queries for the cross-encoder latency")
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    if not os.environ.get("RANKKIT_ES_URL"):
        raise SystemExit("set RANKKIT_ES_URL (bash scripts/elasticsearch.sh run -- python -m benchmarks.bench_elasticsearch)")
    url = os.environ["RANKKIT_ES_URL"]

    from elasticsearch import Elasticsearch, helpers

    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry
    from rankkit_elasticsearch.builder import EsIndexBuilder
    from rankkit_elasticsearch.settings import EsBuilderSettings

    registry = Registry.load()
    dataset = resolve_dataset("beir-scifact/test", registry)
    es = Elasticsearch(url, request_timeout=120)
    builder = EsIndexBuilder(EsBuilderSettings(index="rankkit-bench-scifact", url=url))
    with tempfile.TemporaryDirectory() as tmp:
        builder.build(dataset, Path(tmp))  # the index the latency benchmark searches

    # ---- rescoring latency: proxy vs direct search + raw scoring -------------------------------
    lines = [_latency(es, url, registry, "term-overlap", {}, dataset.queries()[: args.queries], args.window),
             _hop(es, url, dataset.queries()[: args.queries], args.window),
             _client_api(es, registry, "term-overlap", dataset.queries()[: args.queries], args.window)]
    if args.cross_encoder:
        params = {"model": str(args.cross_encoder), "max_length": 256}
        lines.append(_latency(es, url, registry, "cross-encoder", params, dataset.queries()[: args.ce_queries],
                              args.window))
    latency = "\n".join(lines)

    # ---- bulk indexing: rankkit builder vs helpers.bulk ------------------------------------------
    docs = list(dataset.iter_documents())

    def rankkit_index() -> None:
        fresh = EsIndexBuilder(EsBuilderSettings(index="rankkit-bench-bulk", url=url))
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


def _latency(es, url: str, registry, name: str, params: dict, queries: list, window: int) -> str:  # noqa: ANN001
    """p50/p95/p99 of proxy rescoring against direct search plus raw scoring, requests alternating."""
    from elasticsearch import Elasticsearch

    scorer = registry.build("scorer", name, **params)
    server = _serve_process(url, f"{name}:{json.dumps(params)}" if params else name)
    proxy = Elasticsearch(server.url, request_timeout=300)  # the same client, pointed at the proxy
    rescore = {"window_size": window, "rankkit": {"profile": name}}  # the profile --scorer declared

    def proxied(text: str) -> list[str]:
        hits = proxy.search(index="rankkit-bench-scifact", query={"match": {"contents": text}}, size=10,
                            source=["title", "text"], rescore=rescore)["hits"]["hits"]
        return [h["_id"] for h in hits]

    outputs: dict[str, list] = {}
    try:
        times = _alternate({"direct": lambda text: _direct_rescore(es, scorer, text, window), "proxy": proxied}, queries,
                           warm=min(20, max(2, len(queries) // 5)), outputs=outputs)
    finally:
        proxy.close()
        server.stop()
    same = sum(a == b for a, b in zip(outputs["direct"], outputs["proxy"]))
    direct_ms, proxy_ms = times["direct"], times["proxy"]
    d50, d95, d99 = _percentiles(direct_ms)
    p50, p95, p99 = _percentiles(proxy_ms)
    overhead = p50 / d50 - 1
    verdict = "ok" if overhead <= 0.10 else "ABOVE the 10% target"
    line = (f"rescoring latency ({len(queries)} queries, window {window}, {name}): direct search+score "
            f"p50 {d50:.1f} ms p95 {d95:.1f} ms p99 {d99:.1f} ms; proxy p50 {p50:.1f} ms p95 {p95:.1f} ms p99 {p99:.1f} ms; "
            f"overhead at p50 {p50 - d50:+.1f} ms, {overhead * 100:+.1f}% ({verdict}), at p99 {(p99 / d99 - 1) * 100:+.1f}%; "
            f"identical top 10 on {same} of {len(queries)} queries")
    print(line, flush=True)
    return line


def _direct_rescore(es, scorer, text: str, window: int) -> list[str]:  # noqa: ANN001
    """Direct ``Elasticsearch.search`` of the top ``window`` plus raw ``scorer.score`` and a sort: the baseline."""
    hits = es.search(index="rankkit-bench-scifact", query={"match": {"contents": text}}, size=window,
                     source=["title", "text"])["hits"]["hits"]
    texts = [f"{h['_source']['title']} {h['_source']['text']}" if h["_source"]["title"] else h["_source"]["text"] for h in hits]
    new = scorer.score(text, texts)
    order = np.argsort(-(np.array([h["_score"] for h in hits]) + new), kind="stable")[:10]
    return [hits[i]["_id"] for i in order]


def _alternate(sides: dict, queries: list, warm: int = 20, outputs: dict | None = None) -> dict[str, list[float]]:  # noqa: ANN001
    """Seconds per call of each side's ``fn(text)``, the sides alternating query by query after ``warm`` queries.

    ``outputs``, when given, receives each side's results in query order (to check both sides agree).
    """
    for query in queries[:warm]:
        for fn in sides.values():
            fn(query.text)
    times: dict[str, list[float]] = {side: [] for side in sides}
    if outputs is not None:
        outputs.update({side: [] for side in sides})
    for query in queries:
        for side, fn in sides.items():
            start = time.perf_counter()
            result = fn(query.text)
            times[side].append(time.perf_counter() - start)
            if outputs is not None:
                outputs[side].append(result)
    return times


def _client_api(es, registry, name: str, queries: list, window: int) -> str:  # noqa: ANN001
    """p50 of rescoring through the in-process client API against direct search plus raw scoring."""
    from rankkit_elasticsearch.rescoring import search
    from rankkit_elasticsearch.scorers import ScorerPool

    scorer = registry.build("scorer", name)
    pool = ScorerPool(registry)
    pool.add(name, scorer)
    rescore = {"window_size": window, "rankkit": {"scorer": name}}

    def api(text: str) -> list[str]:
        body = {"query": {"match": {"contents": text}}, "size": 10, "_source": ["title", "text"], "rescore": rescore}
        return [h["_id"] for h in search(es, "rankkit-bench-scifact", body, pool)["hits"]["hits"]]

    times = _alternate({"direct": lambda text: _direct_rescore(es, scorer, text, window), "api": api}, queries)
    d50, _, _ = _percentiles(times["direct"])
    a50, a95, _ = _percentiles(times["api"])
    line = (f"rescoring through the client API ({len(queries)} queries, window {window}, {name}, in process): direct p50 "
            f"{d50:.1f} ms; client API p50 {a50:.1f} ms p95 {a95:.1f} ms; overhead at p50 {a50 - d50:+.1f} ms, "
            f"{(a50 / d50 - 1) * 100:+.1f}%")
    print(line, flush=True)
    return line


def _hop(es, url: str, queries: list, window: int) -> str:  # noqa: ANN001
    """p50 of a plain search (no rescorer) through the proxy against the same search sent directly."""
    from elasticsearch import Elasticsearch

    server = _serve_process(url, "term-overlap")
    proxy = Elasticsearch(server.url, request_timeout=300)

    def plain(client):  # noqa: ANN001, ANN202
        return lambda text: client.search(index="rankkit-bench-scifact", query={"match": {"contents": text}},
                                          size=window, source=["title", "text"])

    try:
        times = _alternate({"direct": plain(es), "proxy": plain(proxy)}, queries)
    finally:
        proxy.close()
        server.stop()
    d50, _, _ = _percentiles(times["direct"])
    p50, _, _ = _percentiles(times["proxy"])
    line = (f"plain search through the proxy ({len(queries)} queries, size {window}, no rescorer): direct p50 {d50:.1f} ms, "
            f"proxy p50 {p50:.1f} ms: the extra hop alone costs {p50 - d50:+.1f} ms ({(p50 / d50 - 1) * 100:+.1f}%)")
    print(line, flush=True)
    return line


def _serve_process(upstream: str, scorer: str):  # noqa: ANN202
    """``rankkit serve`` on a free loopback port in a subprocess; waits for its health endpoint."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "rankkit.cli", "serve", "--port", str(port), "--upstream", upstream,
                                "--scorer", scorer])
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(f"{url}/_rankkit/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("rankkit serve did not start")
        time.sleep(0.2)

    class Handle:
        @staticmethod
        def stop() -> None:
            process.terminate()
            process.wait(20)

    Handle.url = url
    return Handle()


if __name__ == "__main__":
    main()
