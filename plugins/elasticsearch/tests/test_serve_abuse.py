"""A bounded abuse run against ``rankkit serve`` in front of the real Elasticsearch: 1,000 hostile requests.

Odd paths (percent-encoded ``#``, ``?``, ``/``, ``..``, unicode, invalid UTF-8) on every
method, malformed and huge bodies, non-finite numbers, deep nesting and wrong types
in rankkit entries, for scorer and reranker profiles (with and without ``reasoning``).
Writes are *allowed* (the riskiest configuration), and every path is
Two proxies take the requests: one as deployed by default (writes refused) gets every method;
one that forwards writes gets the DELETEs, each on a path that, read exactly as sent, names no
existing index. Required: no 5xx, no index deleted or created, no document changed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
from urllib.parse import urlsplit

import pytest

from rankkit_elasticsearch.profiles import Limits, RerankerProfile, ScorerProfile
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.server import ServeSettings, create_app

pytestmark = pytest.mark.integration
VICTIMS = ("abuse-victim", "abuse-victim-2", "logs-archive")
SUFFIXES = ("%23old", "%3Fpretty", "%3F", "%23", "%2F..%2Fabuse-victim-2", "%2F..%2F..%2Fabuse-victim", "%2F", "%2e%2e",
            "%252F..%252Fabuse-victim", "%00", "%0A", "%E2%80%AE", "%C3%A9", "%F0%9F%92%A5", "%FF", "%C0%AF", "%",
            "%2", "/../abuse-victim", "/%2e%2e/abuse-victim-2", "/./", "%5C..%5Cabuse-victim", "%2A", "%2C_all")
TAILS = ("", "/_search", "/_doc/1", "/_bulk", "/_settings", "/_mapping", "/_close", "/_delete_by_query", "/_update/1")
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")


def _body(rng: random.Random) -> bytes:
    """A hostile body: junk, broken JSON, non-finite numbers, huge or deep, or rankkit entries of the wrong shape."""
    query = {"match": {"contents": rng.choice(["vitamin", "\u202e\u0000x", "\ud7ff" * 50, "é" * 1000, ""])}}
    entry = {"window_size": rng.choice([1, 10, 1000, 10**9, -1, 0, 1.5, "10", None, True]),
             "rankkit": {"profile": rng.choice(["overlap", "shuffle", "nope", "", None, 7, ["overlap"], {"a": 1}, "../etc"]),
                         rng.choice(["query_weight", "rescore_query_weight", "min_score", "score_mode", "fields", "query",
                                     "reasoning"]):
                             rng.choice(["nan", "inf", "-inf", 1e308, -0.0, None, [], {}, "total", "\x00", True, 10**30])}}
    choices = [
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))),
        lambda: b'{"query": {"match": {"contents": "vitamin"}}, "rescore": {"rankkit": {"profile": "overlap", "query_weight": ',
        lambda: b'{"query": {"match_all": {}}, "size": 1e999}',
        lambda: b'{"query": {"match_all": {}}, "rescore": {"rankkit": {"profile": "overlap", "query_weight": NaN}}}',
        lambda: b'{"rescore": {"rankkit": {"profile": "overlap", "rescore_query_weight": Infinity}}}',
        lambda: b"[" * 5000 + b"]" * 5000,
        lambda: b'{"a":' * 3000 + b"1" + b"}" * 3000,
        lambda: b" " * (1 << 20) + b"{}",
        lambda: json.dumps({"query": query, "rescore": [entry] * rng.choice([1, 2, 5, 50])}).encode(),
        lambda: json.dumps({"query": query, "rescore": entry, "search_after": [1], "sort": ["_score"]}).encode(),
        lambda: json.dumps({"retriever": {"text_similarity_reranker": {"retriever": rng.choice([{}, None, {"standard": {}}]),
                                                                       "inference_id": rng.choice(["overlap", "shuffle"]),
                                                                       "field": rng.choice(["text", 1, ""]),
                                                                       "rankkit": rng.choice([{}, {"reasoning": True}, None, 1]),
                                                                       "inference_text": rng.choice(["x", None]),
                                                                       "rank_window_size": rng.choice([1, 0, 10**6, "x"])}}}).encode(),
        lambda: json.dumps({"query": "x", "documents": rng.choice([["a"] * 2000, [1, 2], "a", [{"text": None}]]),
                            "top_n": rng.choice([0, -1, 1.5, "3", None, 10**12]),
                            "model": rng.choice(["overlap", "shuffle", "nope", 3])}).encode(),
        lambda: "{\"query\": \"\udc80\"}".encode("utf-8", "surrogatepass"),
        lambda: b"",
    ]
    return rng.choice(choices)()


def _request(url: str, method: str, path: str, body: bytes) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


def _state(es) -> dict:
    """Every index with its document counts and write counters, and a checksum of the victims' documents."""
    stats = es.indices.stats(metric=["docs", "indexing"], expand_wildcards="all")["indices"]
    state = {name: (s["primaries"]["docs"]["count"], s["primaries"]["docs"]["deleted"],
                    s["primaries"]["indexing"]["index_total"], s["primaries"]["indexing"]["delete_total"])
             for name, s in stats.items()}
    for name in VICTIMS:
        hits = es.search(index=name, query={"match_all": {}}, size=100, seq_no_primary_term=True, sort=["_doc"])["hits"]["hits"]
        state[f"{name}:content"] = hashlib.sha256(json.dumps([(h["_id"], h["_source"], h["_seq_no"]) for h in hits]).encode()).hexdigest()
    return state


def test_a_thousand_hostile_requests_change_nothing_and_get_no_5xx(scifact_es, es, es_url, registry, serve) -> None:
    for name in VICTIMS:
        es.options(ignore_status=404).indices.delete(index=name)
        for i in range(3):
            es.index(index=name, id=str(i), document={"title": name, "text": f"document {i} of {name}"})
        es.indices.refresh(index=name)
    pool = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    rerankers = RerankerPool(registry, [RerankerProfile("shuffle", "random", {"seed": 1})])
    proxy = serve(create_app(ServeSettings(upstream=es_url), pool, rerankers))
    writable = serve(create_app(ServeSettings(upstream=es_url, limits=Limits(allow_writes=True)), pool, rerankers))
    before = _state(es)
    rng = random.Random(20261204)
    statuses: dict[int, int] = {}
    server_errors: list[str] = []
    try:
        for _ in range(1000):
            kind = rng.random()
            if kind < 0.55:
                path = "/" + rng.choice(VICTIMS) + rng.choice(SUFFIXES) + rng.choice(TAILS)
                method = rng.choice(METHODS)
            elif kind < 0.85:
                path, method = rng.choice(["/rankkit-scifact/_search", "/_search", "/abuse-victim%23x/_search"]), rng.choice(["GET", "POST"])
            else:
                path, method = "/rerank", "POST"
            body = _body(rng) if method not in ("GET", "HEAD") or rng.random() < 0.5 else b""
            status = _request((writable if method == "DELETE" else proxy).url, method, path, body)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 500:
                server_errors.append(f"{method} {path} -> {status} ({body[:80]!r})")
    finally:
        after = _state(es)
        for name in VICTIMS:
            es.options(ignore_status=404).indices.delete(index=name)
    print(f"\nabuse: 1000 requests, statuses {dict(sorted(statuses.items()))}")
    assert not server_errors, server_errors[:5]
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
