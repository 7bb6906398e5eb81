"""Integration tier against the real Elasticsearch: the builder and the retrievers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rankkit.testing import RetrieverContract, tiny_dataset
from rankkit.types import Query

from rankkit_elasticsearch.builder import BulkFailureError, EsIndexBuilder
from rankkit_elasticsearch.encoders import HashingEncoder
from rankkit_elasticsearch.settings import EsBuilderSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_es(es_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three-document test dataset with hashing vectors, over two shards."""
    target = tmp_path_factory.mktemp("tiny-es")
    EsIndexBuilder(EsBuilderSettings(index="rankkit-test-tiny", url=es_url, shards=2, encoder="hashing:32")).build(tiny_dataset(), target)
    return target


def test_scifact_index_manifest_and_idempotent_rerun(scifact_es, es, es_url: str, data_root: Path, tmp_path: Path) -> None:
    meta = json.loads((scifact_es.path / "es-index.json").read_text())
    assert scifact_es.stamp["stats"]["documents"] == meta["documents"] == 5183
    assert es.indices.get_alias(name="rankkit-scifact").body.keys() == {meta["index"]}
    settings = es.indices.get_settings(index=meta["index"]).body[meta["index"]]["settings"]["index"]
    assert settings["similarity"]["default"] == {"type": "BM25", "k1": "0.9", "b": "0.4"}
    from rankkit.datasets.beir import BeirDataset

    again = EsIndexBuilder(EsBuilderSettings(index="rankkit-scifact", url=es_url)).build(BeirDataset("beir-scifact", data_root / "beir-scifact"), tmp_path)
    assert again["reused"] and again["documents"] == 5183
    assert es.count(index="rankkit-scifact")["count"] == 5183


def test_failed_documents_are_reported_by_id(es_url: str, es, tmp_path: Path) -> None:
    class ZeroForWings(HashingEncoder):
        def encode_documents(self, texts):  # cosine similarity refuses zero vectors: ES rejects that document
            out = super().encode_documents(texts)
            out[["aerodynamics" in t for t in texts]] = 0.0
            return out

    settings = EsBuilderSettings(index="rankkit-test-failures", url=es_url, retries=1, backoff=0.1)
    builder = EsIndexBuilder(settings, encoder=ZeroForWings(8))
    with pytest.raises(BulkFailureError, match=r"1 document\(s\) failed.*d3: ") as info:
        builder.build(tiny_dataset(), tmp_path / "a")
    assert list(info.value.failed) == ["d3"]
    tolerant = EsIndexBuilder(replace(settings, allow_failures=True), encoder=ZeroForWings(8))
    stats = tolerant.build(tiny_dataset(), tmp_path / "b")
    assert stats["failed_ids"] == ["d3"] and stats["documents"] == 2
    assert json.loads((tmp_path / "b" / "es-index.json").read_text())["failed_ids"] == ["d3"]
    es.indices.delete(index="rankkit-test-failures-*")


def test_missing_server_index_names_the_fix(es_url: str) -> None:
    from rankkit.errors import IndexStateError
    from rankkit_elasticsearch.bm25 import EsBm25Retriever
    from rankkit_elasticsearch.settings import EsBm25Settings

    with pytest.raises(IndexStateError, match="does not exist on .*rankkit index build"):
        EsBm25Retriever(EsBm25Settings(index="rankkit-no-such-index", url=es_url)).retrieve([Query("q", "x")], 5)


class TestEsBm25Contract(RetrieverContract):
    @pytest.fixture
    def retriever(self, tiny_es, registry):
        return registry.build("retriever", "es-bm25", index=str(tiny_es))


class TestEsKnnContract(RetrieverContract):
    @pytest.fixture
    def retriever(self, tiny_es, registry):
        return registry.build("retriever", "es-knn", index=str(tiny_es))


class TestEsHybridContract(RetrieverContract):
    @pytest.fixture
    def retriever(self, tiny_es, registry):
        return registry.build("retriever", "es-hybrid", index=str(tiny_es), fusion="sum")


def test_bm25_matches_a_raw_es_search(scifact_es, es, registry) -> None:
    retriever = registry.build("retriever", "es-bm25", index=str(scifact_es.path), fields="title^2 text")
    ranking = retriever.retrieve([Query("1", "vitamin d deficiency bone density")], 20)[0]
    raw = es.search(index="rankkit-scifact", size=20, query={"multi_match": {
        "query": "vitamin d deficiency bone density", "fields": ["title^2", "text"]}})["hits"]["hits"]
    assert {h["_id"]: np.float32(h["_score"]) for h in raw} == dict(zip(ranking.doc_ids.tolist(), ranking.scores.tolist()))


def test_knn_and_rrf_hybrid_rank_the_obvious_document_first(tiny_es, registry) -> None:
    q = Query("q1", "effects of vitamin d on bone density")
    knn = registry.build("retriever", "es-knn", index=str(tiny_es)).retrieve([q], 3)[0]
    rrf = registry.build("retriever", "es-hybrid", index=str(tiny_es), fusion="rrf").retrieve([q], 3)[0]
    assert knn.doc_ids[0] == rrf.doc_ids[0] == "d1"
