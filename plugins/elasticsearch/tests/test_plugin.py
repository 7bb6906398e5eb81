"""Unit tier (no Elasticsearch): registration, lazy imports, the rescore plan and its exactness, service guards."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rankkit.docstore import DictDocStore
from rankkit.errors import ConfigError
from rankkit.pipeline import ScorerReranker
from rankkit.rescore import RescoreSettings
from rankkit.types import Query, Ranking

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.plan import apply_plan, document_text, plan_search
from rankkit_elasticsearch.profiles import Limits, ScorerProfile
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.settings import EsBm25Settings, EsBuilderSettings, EsHybridSettings, EsKnnSettings

DOCS = {f"d{i}": {"title": f"title {i}", "text": t} for i, t in enumerate([
    "vitamin d and bone density in adults", "bone fractures", "neural ranking", "vitamin supplements",
    "density of bone tissue and vitamin d", "wings", "vitamin d", "unrelated text"])}


def _response(scores: list[float]) -> dict:
    hits = [{"_index": "i", "_id": d, "_score": s, "_source": DOCS[d]} for d, s in zip(DOCS, scores)]
    return {"took": 1, "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": max(scores), "hits": hits}}


def test_registers_components_and_serve(registry) -> None:
    assert {"es-bm25", "es-knn", "es-hybrid"} <= set(registry.components("retriever"))
    assert "elasticsearch" in registry.components("index_builder")
    from rankkit.cli import build_cli

    assert "serve" in build_cli(registry).commands


def test_bad_parameters_are_config_errors(registry) -> None:
    with pytest.raises(ConfigError, match=r"'num_candidates' = -1 is out of range: it must be >= 0"):
        registry.build("retriever", "es-knn", index="rankkit-x", num_candidates=-1)
    with pytest.raises(ConfigError, match=r"'b' = 1.5 is out of range: it must be in \[0, 1\]"):
        registry.build("index_builder", "elasticsearch", b=1.5)
    with pytest.raises(ConfigError, match="'operator' = 'xor' is not one of 'or', 'and'"):
        registry.build("retriever", "es-bm25", index="rankkit-x", operator="xor")
    with pytest.raises(ConfigError, match="'fusion' = 'max' is not one of 'sum', 'rrf'"):
        registry.build("retriever", "es-hybrid", index="rankkit-x", fusion="max")
    with pytest.raises(ConfigError, match="index 'Bad Name' must be lower case"):
        registry.build("index_builder", "elasticsearch", index="Bad Name")
    with pytest.raises(ConfigError, match="'shards' = 0 is out of range: it must be >= 1"):   # outside the registry
        EsBuilderSettings(shards=0)


def test_fingerprints_are_unchanged_by_the_settings_classes(tmp_path) -> None:
    from rankkit_elasticsearch.bm25 import EsBm25Retriever
    from rankkit_elasticsearch.hybrid import EsHybridRetriever
    from rankkit_elasticsearch.knn import EsKnnRetriever

    (tmp_path / "es-index.json").write_text(json.dumps({
        "url": "http://127.0.0.1:1", "alias": "rankkit-x", "index": "rankkit-x-abc", "key": "abcdef0123456789",
        "contents": True, "id_field": True, "vector_field": "vector", "encoder": "hashing:8", "dims": 8}))
    index = str(tmp_path)   # the values the retrievers had before their parameters were declared once
    assert EsBm25Retriever(EsBm25Settings(index=index)).fingerprint == "30d66a91e6e6a046"
    assert EsBm25Retriever(EsBm25Settings(index="foreign", fields="title^2 text", match_type="cross_fields",
                                          operator="and")).fingerprint == "f7ab5e4ed745d208"
    assert EsKnnRetriever(EsKnnSettings(index=index, num_candidates=50)).fingerprint == "dbad79907a8e992f"
    assert EsHybridRetriever(EsHybridSettings(index=index, fusion="rrf", bm25_weight=0.5)).fingerprint == "2fe9f3989d59fa9e"


def test_import_is_lazy() -> None:
    code = ("import sys, rankkit_elasticsearch.plugin, rankkit_elasticsearch; "
            "print(sorted(m for m in ('elasticsearch', 'fastapi', 'uvicorn', 'httpx', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["total", "multiply", "avg", "max", "min"])
def test_plan_ranks_exactly_as_offline_scorer_reranker(registry, mode: str) -> None:
    scores = [9.0, 8.5, 8.5, 7.0, 6.0, 5.5, 5.0, 1.0]
    body = {"query": {"match": {"contents": "vitamin d bone density"}}, "size": 8,
            "rescore": [{"window_size": 5, "rankkit": {"scorer": "term-overlap", "query_weight": 0.7,
                                                       "rescore_query_weight": 1.3, "score_mode": mode}},
                        {"window_size": 3, "rankkit": {"scorer": "term-overlap", "score_mode": "multiply"}}]}
    pool = ScorerPool(registry)
    plan = plan_search(body, pool)
    assert plan is not None and plan.upstream_body["size"] == 8 and "rescore" not in plan.upstream_body
    out = apply_plan(plan, _response(scores), pool)
    scorer = registry.build("scorer", "term-overlap")
    store = DictDocStore({d: document_text(s, ("title", "text")) for d, s in DOCS.items()})
    first = Ranking("q", list(DOCS), scores)
    query = [Query("q", "vitamin d bone density")]
    offline = ScorerReranker(scorer, store, RescoreSettings(5, 0.7, 1.3, mode))(query, [first])
    offline = ScorerReranker(scorer, store, RescoreSettings(3, score_mode="multiply"))(query, offline)[0]
    assert [h["_id"] for h in out["hits"]["hits"]] == offline.doc_ids.tolist()
    assert np.array_equal(np.array([h["_score"] for h in out["hits"]["hits"]], dtype=np.float32), offline.scores)


def test_hits_beyond_window_keep_their_order_and_paging(registry) -> None:
    scores = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0]
    body = {"query": {"match": {"text": "wings"}}, "from": 2, "size": 4,
            "rescore": {"window_size": 2, "rankkit": {"scorer": "term-overlap"}}}
    pool = ScorerPool(registry)
    plan = plan_search(body, pool)
    assert plan.upstream_body["size"] == 6 and plan.upstream_body["from"] == 0
    out = apply_plan(plan, _response(scores[:6]), pool)
    assert [h["_id"] for h in out["hits"]["hits"]] == ["d2", "d3", "d4", "d5"]


def test_native_rescorers_stay_and_must_come_first(rankkit_core_registry) -> None:
    pool = ScorerPool(rankkit_core_registry)
    native = {"window_size": 10, "query": {"rescore_query": {"match": {"text": "x"}}}}
    rk = {"window_size": 5, "rankkit": {"scorer": "term-overlap"}}
    plan = plan_search({"query": {"match": {"text": "x"}}, "rescore": [native, rk]}, pool)
    assert plan.upstream_body["rescore"] == [native]
    with pytest.raises(RescoreError, match="native rescorers must come before"):
        plan_search({"query": {"match": {"text": "x"}}, "rescore": [rk, native]}, pool)
    assert plan_search({"query": {"match": {"text": "x"}}, "rescore": [native]}, pool) is None


@pytest.mark.parametrize("body, message", [
    ({"rescore": [{"window_size": 5, "rankkit": {"scorer": "term-overlap"}}]}, "query"),
    ({"query": {"match": {"t": "x"}}, "rescore": [{"window_size": 0, "rankkit": {"scorer": "s"}}]}, "window_size"),
    ({"query": {"match": {"t": "x"}}, "rescore": [{"window_size": 5000, "rankkit": {"scorer": "s"}}]}, "larger than"),
    ({"query": {"match": {"t": "x"}}, "rescore": [{"rankkit": {"scorer": "s", "score_mode": "sum"}}]}, "score_mode"),
    ({"query": {"match": {"t": "x"}}, "rescore": [{"rankkit": {"scorer": "s", "bogus": 1}}]}, "unknown key"),
    ({"query": {"match": {"t": "x"}}, "sort": ["_id"], "rescore": [{"rankkit": {"scorer": "s"}}]}, "sort"),
])
def test_bad_rescorers_are_400(body: dict, message: str, rankkit_core_registry) -> None:
    with pytest.raises(RescoreError, match=message) as info:
        plan_search(body, ScorerPool(rankkit_core_registry), max_window=1000)
    assert info.value.status == 400 and info.value.body()["error"]["type"]


def test_pool_needs_the_callers_registry(registry) -> None:
    from rankkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"ScorerPool needs the plugin registry.*ScorerPool\(registry"):
        ScorerPool(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScorerPool()  # type: ignore[call-arg]
    assert ScorerPool(registry).registry is registry


def test_disabled_plugins_scorers_are_not_served(rankkit_core_registry) -> None:
    pool = ScorerPool(rankkit_core_registry)  # the example plugin (term-overlap) is not in this registry
    with pytest.raises(RescoreError, match="unknown scorer 'term-overlap'"):
        pool.get(pool.resolve({"scorer": "term-overlap"}, "rescore[0].rankkit"))


def test_unknown_scorer_names_the_choices(registry) -> None:
    pool = ScorerPool(registry)
    with pytest.raises(RescoreError, match="unknown scorer 'nope'.*term-overlap") as info:
        pool.get(pool.resolve({"scorer": "nope"}, "rescore[0].rankkit"))
    assert info.value.status == 400
    profiles = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    with pytest.raises(RescoreError, match="unknown scorer profile 'nope'; this service offers: overlap") as info:
        profiles.get("nope")
    assert info.value.status == 400


def test_source_filter_is_restored(registry) -> None:
    pool = ScorerPool(registry)
    plan = plan_search({"query": {"match": {"text": "vitamin"}}, "_source": ["title"], "size": 2,
                        "rescore": {"window_size": 3, "rankkit": {"scorer": "term-overlap"}}}, pool)
    assert set(plan.upstream_body["_source"]) == {"title", "text"}
    out = apply_plan(plan, _response([3.0, 2.0, 1.0]), pool)
    assert all(set(h["_source"]) == {"title"} for h in out["hits"]["hits"])


def test_service_guards_without_upstream(registry, serve, closed_url) -> None:
    import httpx

    from rankkit_elasticsearch.server import ServeSettings, create_app

    settings = ServeSettings(upstream=closed_url, token="s3cret", limits=Limits(max_body_bytes=2000, max_window=50, timeout=2))
    server = serve(create_app(settings, ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])))
    auth = {"Authorization": "Bearer s3cret"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        health = http.get("/_rankkit/health")
        assert health.status_code == 503 and health.json()["upstream"] == {"reachable": False, "status": "upstream_unavailable_exception"}
        assert "profiles" not in health.json()  # only for authenticated callers
        assert http.get("/_rankkit/health", headers=auth).json()["profiles"] == {"overlap": {"scorer": "term-overlap", "loaded": False}}
        denied = http.post("/i/_search", json={})
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "security_exception"
        assert http.post("/i/_search", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        bad = http.post("/i/_search", content=b"{not json", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "parse_exception"
        big = http.post("/i/_search", content=b" " * 5000, headers={**auth, "content-type": "application/json"})
        assert big.status_code == 413 and "larger" in big.json()["error"]["reason"]
        rk = {"query": {"match": {"t": "x"}}, "rescore": {"window_size": 51, "rankkit": {"profile": "overlap"}}}
        too_wide = http.post("/i/_search", json=rk, headers=auth)
        assert too_wide.status_code == 400 and "window_size 51" in too_wide.json()["error"]["reason"]
        rk["rescore"] = {"window_size": 5, "rankkit": {"profile": "nope"}}
        unknown = http.post("/i/_search", json=rk, headers=auth)
        assert unknown.status_code == 400 and "unknown scorer profile 'nope'; this service offers: overlap" in unknown.text
        rk["rescore"] = {"window_size": 5, "rankkit": {"scorer": "term-overlap", "params": {"model": "/etc"}}}
        refused = http.post("/i/_search", json=rk, headers=auth)
        assert refused.status_code == 400 and "does not take scorer names or parameters" in refused.text
        rk["rescore"] = {"window_size": 5, "rankkit": {"profile": "overlap"}}
        down = http.post("/i/_search", json=rk, headers=auth)
        assert down.status_code == 502 and "unreachable" in down.json()["error"]["reason"]
        assert http.get("/_cat/indices", headers=auth).status_code == 502
        unknown = http.post("/rerank", json={"query": "q", "input": ["a"], "model": "nope"}, headers=auth)
        assert unknown.status_code == 400 and "unknown scorer profile 'nope'" in unknown.json()["error"]["reason"]


def test_rerank_endpoint_shape(registry, serve) -> None:
    import httpx

    from rankkit_elasticsearch.server import ServeSettings, create_app

    pool = ScorerPool(registry, profiles=[ScorerProfile("overlap", "term-overlap")])
    server = serve(create_app(ServeSettings(default_profile="overlap"), pool))
    docs = ["pasta water", "vitamin d bone", "bone density vitamin d adults", "vitamin"]
    answer = httpx.post(f"{server.url}/rerank", json={"query": "vitamin d bone density", "input": docs, "top_n": 3,
                                                     "return_documents": True}, timeout=10).json()
    expected = registry.build("scorer", "term-overlap").score("vitamin d bone density", docs)
    order = sorted(range(4), key=lambda i: (-expected[i], i))[:3]
    assert [r["index"] for r in answer["results"]] == order
    assert [r["relevance_score"] for r in answer["results"]] == [float(expected[i]) for i in order]
    assert answer["results"][0]["document"] == {"text": docs[order[0]]} and answer["model"] == "overlap"
    # ES's custom service parses it with json_parser {"reranked_index": "$.results[*].index", ...}
    assert json.loads(json.dumps(answer))["results"][0].keys() >= {"index", "relevance_score"}


def test_upstream_session_is_closed_at_shutdown(registry, closed_url) -> None:
    from starlette.testclient import TestClient

    from rankkit_elasticsearch.server import ServeSettings, create_app

    app = create_app(ServeSettings(upstream=closed_url, limits=Limits(timeout=2)), ScorerPool(registry, profiles=[]))
    with TestClient(app) as client:  # runs the lifespan: a failing shutdown raises here
        assert client.get("/_rankkit/health").json()["upstream"]["reachable"] is False
        assert client.get("/_cat/indices").status_code == 502
