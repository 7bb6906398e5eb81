"""Unit tier of ``rankkit serve``'s parts (no Elasticsearch): config, paths, /rerank shapes, MaxP, credentials, plans."""

from __future__ import annotations

import numpy as np
import pytest

from rankkit.errors import ConfigError

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.plan import plan_search
from rankkit_elasticsearch.profiles import Limits, ScorerProfile, config_from_mapping, load_config, profile_from_spec
from rankkit_elasticsearch.rerank_api import parse_rerank, rerank_response
from rankkit_elasticsearch.routes import parse_target
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.scoring import MaxPassageScorer
from rankkit_elasticsearch.upstream import Upstream


def test_config_file_declares_profiles_limits_and_upstream(tmp_path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('default_profile = "ce"\n[limits]\nmax_rescorers = 2\ntimeout = 5.5\n'
                    '[upstream]\nurl = "http://es:9200"\n'
                    '[profiles.ce]\nscorer = "cross-encoder"\nparams = {model = "/m", max_length = 256}\n'
                    'fields = "text"\nallow_rerank_failures = true\npassage_words = 100\n')
    config = load_config(path)
    profile = config.profiles["ce"]
    assert (profile.scorer, dict(profile.params), profile.fields, profile.allow_rerank_failures) == \
        ("cross-encoder", {"model": "/m", "max_length": 256}, ("text",), True)
    assert profile.stride == 50 and config.limits.max_rescorers == 2 and config.limits.timeout == 5.5
    assert config.upstream == {"url": "http://es:9200"}


@pytest.mark.parametrize("data, message", [
    ({"profiles": {"ce": {"scorer": "x", "modle": "y"}}}, "unknown key.*profiles.ce.modle"),
    ({"profiles": {"ce": {"params": {}}}}, "`scorer` must name"),
    ({"limits": {"timeout": float("nan")}}, "limits.timeout must be a positive number"),
    ({"limits": {"max_window": 0}}, "limits.max_window must be a positive integer"),
    ({"limits": {"allow_writes": "yes"}}, "allow_writes must be true or false"),
    ({"default_profile": "nope"}, "default_profile 'nope' is not a declared profile"),
    ({"profiles": {"ce": {"scorer": "x", "passage_words": 10, "passage_stride": 20}}}, "passage_stride"),
    ({"bogus": 1}, "unknown key.*bogus"),
])
def test_bad_config_names_the_key(data, message) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


def test_bad_config_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text("[profiles.ce\n")
    with pytest.raises(ConfigError, match="serve.toml"):
        load_config(path)
    path.write_text('[profiles.ce]\nscorer = 3\n')
    with pytest.raises(ConfigError, match=r"serve.toml: profile 'ce': `scorer`"):
        load_config(path)
    assert profile_from_spec('term-overlap:{"k": 1}').params == {"k": 1}
    with pytest.raises(ConfigError, match="must be a JSON object"):
        profile_from_spec("term-overlap:[1]")


@pytest.mark.parametrize("path, segments, kind", [
    (b"/victim%23old", ("victim#old",), "write"),
    (b"/victim-3%3Fpretty", ("victim-3?pretty",), "write"),
    (b"/logs-archive%2F..%2Fvictim-2", ("logs-archive/../victim-2",), "write"),
    (b"/idx%23x/_search", ("idx#x", "_search"), "search"),
    (b"/a,b/_count", ("a,b", "_count"), "read"),
    (b"/a/_validate/query", ("a", "_validate", "query"), "read"),
    (b"/a/_update_by_query", ("a", "_update_by_query"), "write"),
    (b"/_bulk", ("_bulk",), "write"),
])
def test_targets_split_like_elasticsearch(path, segments, kind) -> None:
    target = parse_target(path, b"pretty")
    assert target.segments == segments and target.kind("POST" if kind != "write" else "DELETE") == kind
    assert target.upstream == path.decode() + "?pretty"  # forwarded byte for byte


@pytest.mark.parametrize("path", [b"/a/../b", b"/a/%2E%2e/b", b"/a/./b", b"/a b", b"/\xc3\xa9", b"/%zz", b"/%ff", b"/" + b"a" * 5000])
def test_odd_targets_are_refused(path) -> None:
    with pytest.raises(RescoreError) as info:
        parse_target(path, b"")
    assert info.value.status == 400 and info.value.es_type == "rankkit_bad_path_exception"


def test_rerank_speaks_cohere_tei_and_es_custom() -> None:
    docs = ["a", "b", "c"]
    cohere = parse_rerank({"model": "ce", "query": "q", "documents": [{"text": "a"}, "b", "c"], "top_n": 2,
                           "return_documents": True}, "", 10)
    out = rerank_response(cohere, [0.1, 0.9, 0.5], "ce")
    assert out["results"] == [{"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
                              {"index": 2, "relevance_score": 0.5, "document": {"text": "c"}}] and out["model"] == "ce"
    tei = parse_rerank({"query": "q", "texts": docs, "return_text": True}, "ce", 10)
    assert rerank_response(tei, [0.1, 0.9, 0.9], "ce") == [{"index": 1, "score": 0.9, "text": "b"},
                                                           {"index": 2, "score": 0.9, "text": "c"},
                                                           {"index": 0, "score": 0.1, "text": "a"}]
    custom = parse_rerank({"query": "q", "input": docs, "top_n": 1}, "ce", 10)
    assert rerank_response(custom, [3.0, 1.0, 2.0], "ce")["results"] == [{"index": 0, "relevance_score": 3.0}]
    for body, message in [({"query": "q", "texts": docs, "scorer": "x"}, "does not take `scorer`"),
                          ({"query": "q", "texts": docs * 5}, "at most 10"),
                          ({"query": "q", "input": docs, "top_n": 0}, "top_n"),
                          ({"query": "q", "input": docs}, "no default profile"),
                          ({"query": 1, "input": docs}, "needs `query`")]:
        with pytest.raises(RescoreError, match=message):
            parse_rerank(body, "", 10)


class Echo:
    """Scores a passage by the number of times 'hit' occurs in it."""

    fingerprint = "echo"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score(self, query, documents):
        self.calls.append(list(documents))
        return np.array([d.split().count("hit") for d in documents], dtype=float)


def test_maxp_scores_the_best_passage_in_one_call(rankkit_core_registry) -> None:
    inner = Echo()
    maxp = MaxPassageScorer(inner, words=4, stride=2)
    long = "x x x x x x hit hit x x"  # passages: 0-3, 2-5, 4-7 (2 hits), 6-9 (2 hits)
    assert maxp.passages(long) == ["x x x x", "x x x x", "x x hit hit", "hit hit x x"]
    assert maxp.passages("") == [""]
    scores = maxp.score("q", [long, "hit", "x"])
    assert scores.tolist() == [2.0, 1.0, 0.0] and len(inner.calls) == 1
    pool = ScorerPool(rankkit_core_registry, profiles=[])
    pool.add("long", Echo(), passage_words=4, passage_stride=2)
    assert isinstance(pool.get("long"), MaxPassageScorer)


def test_upstream_credentials_from_file_or_environment_never_shown(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RANKKIT_ES_USERNAME", "elastic")
    monkeypatch.setenv("RANKKIT_ES_PASSWORD", "s3cret-pw")
    conf = Upstream.from_config({"url": "https://es:9200/", "ssl_fingerprint": "AB:" * 31 + "AB"})
    assert conf.url == "https://es:9200" and conf.client_kwargs()["basic_auth"] == ("elastic", "s3cret-pw")
    assert conf.client_kwargs()["ssl_assert_fingerprint"] == "ab" * 32 and "s3cret" not in repr(conf)
    import aiohttp

    assert isinstance(conf.aiohttp_ssl(), aiohttp.Fingerprint)
    monkeypatch.setenv("RANKKIT_ES_API_KEY", "key")
    with pytest.raises(ConfigError, match="not both") as info:
        Upstream.from_config({})
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigError, match="ca_certs"):
        Upstream.from_config({"api_key": "k", "username": "", "password": "", "ca_certs": str(tmp_path / "none.pem")})


def test_plans_bound_the_work_and_refuse_cursors(rankkit_core_registry) -> None:
    pool = ScorerPool(rankkit_core_registry, profiles=[ScorerProfile("p", "term-overlap")])
    entry = {"window_size": 10, "rankkit": {"profile": "p"}}
    query = {"match": {"t": "x"}}
    with pytest.raises(RescoreError, match="at most 2"):
        plan_search({"query": query, "rescore": [entry] * 3}, pool, 100, 2)
    with pytest.raises(RescoreError, match="search_after"):
        plan_search({"query": query, "rescore": entry, "search_after": [1]}, pool)
    with pytest.raises(RescoreError, match=r"from \+ size"):
        plan_search({"query": query, "rescore": entry, "from": 90, "size": 20}, pool, 100)
    with pytest.raises(RescoreError, match="finite number"):
        plan_search({"query": query, "rescore": {"rankkit": {"profile": "p", "query_weight": "nan"}}}, pool)
    deep: dict = {"match": {"t": "deep"}}
    for _ in range(5000):  # any nesting orjson accepts is safe to search for the query text
        deep = {"bool": {"must": [deep]}}
    plan = plan_search({"query": deep, "rescore": entry}, pool)
    assert plan.rescorers[0].query == "deep"
    assert Limits().max_rescorers == 4


def test_retrievers_and_builder_clients_take_the_same_credentials(monkeypatch) -> None:
    from rankkit_elasticsearch._client import make_client

    monkeypatch.setenv("RANKKIT_ES_API_KEY", "a2V5")
    client = make_client("http://127.0.0.1:9")
    assert client._headers["authorization"] == "ApiKey a2V5"
    client.close()


def test_source_filters_widen_for_the_scored_fields_and_apply_like_elasticsearch() -> None:
    from rankkit_elasticsearch.source_filter import SourceFilter

    doc = {"title": "t", "text": "x", "meta": {"year": 2020, "tags": ["a"], "inner": {"deep": 1}}, "authors": [{"name": "n", "id": 1}]}
    wild = SourceFilter.parse({"includes": ["meta.*", "authors.name"], "excludes": "meta.inner"})
    assert wild.widened({"title", "text"}) == {"includes": ["authors.name", "meta.*", "text", "title"], "excludes": ["meta.inner"]}
    assert wild.apply({"_source": dict(doc)})["_source"] == {"meta": {"year": 2020, "tags": ["a"]}, "authors": [{"name": "n"}]}
    excluding = SourceFilter.parse({"excludes": ["te*", "meta"]})
    assert excluding.widened({"title", "text"}) == {"includes": [], "excludes": ["meta"]}
    assert excluding.apply({"_source": dict(doc)})["_source"] == {"title": "t", "authors": doc["authors"]}
    assert SourceFilter.parse(False).widened({"text"}) == ["text"] and "_source" not in SourceFilter.parse(False).apply({"_source": doc})
    assert SourceFilter.parse(["title"]).widened({"title", "text"}) == ["text", "title"]
    assert SourceFilter.parse(None).apply({"_source": doc})["_source"] == doc
    for bad in ([1], [None], [{}], {"includes": [[]]}, {"excludes": 5}, {"includes": "a", "other": 1}, 3):
        with pytest.raises(RescoreError, match=r"\[_source"):
            SourceFilter.parse(bad)


def test_hostile_paths_cannot_pass_as_reads() -> None:
    for path in (b"/victim/_doc/_search", b"/victim/_update/_mget", b"/newidx/_create/_count", b"/_security/user/_count",
                 b"/_security/_search", b"/victim/_delete_by_query", b"/_scripts/_count"):
        assert parse_target(path, b"").kind("POST") == "write", path
    assert parse_target(b"/_all/_search", b"").kind("POST") == "search"
    assert parse_target(b"/a/_explain/1", b"").kind("POST") == "read"
    assert parse_target(b"/_pit", b"").kind("DELETE") == "read"
    for path in (b"//victim", b"/a//b"):
        with pytest.raises(RescoreError, match="empty segment"):
            parse_target(path, b"")
