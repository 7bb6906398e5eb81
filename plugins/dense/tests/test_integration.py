"""Integration tier: the default MiniLM model and FAISS on SciFact, against raw sentence-transformers + FAISS.

The corpus is encoded once per session (``scifact_dense`` in conftest.py) and
shared by the flat, HNSW and IVF-PQ indexes through the embedding cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankkit.datasets import resolve_dataset
from rankkit.indexes import IndexManifest, ensure_index
from rankkit.registry import Registry
from rankkit.types import trec_order

from rankkit_dense.layout import EMBEDDINGS
from rankkit_dense.models import DEFAULT_MODEL, resolve_model

pytestmark = pytest.mark.integration

K = 1000
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def scifact(scifact_dense):  # noqa: ANN001, ANN201
    """The test queries, and rankkit's flat and HNSW top-1000 for them."""
    registry = Registry.load()
    queries = resolve_dataset("beir-scifact/test", registry).queries()
    flat = registry.build("retriever", "dense", index=str(scifact_dense.flat.path)).retrieve(queries, K)
    hnsw = registry.build("retriever", "dense", index=str(scifact_dense.hnsw.path)).retrieve(queries, K)
    return queries, flat, hnsw


@pytest.fixture(scope="module")
def raw_model():  # noqa: ANN201
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resolve_model(DEFAULT_MODEL).path), device="cpu", local_files_only=True)


def test_document_vectors_are_sentence_transformers_encode(scifact_dense, raw_model) -> None:  # noqa: ANN001
    """A random sample of rows equals ``SentenceTransformer.encode`` of the same title + " " + text."""
    docs = list(resolve_dataset("beir-scifact", Registry.load()).iter_documents())
    rows = np.sort(np.random.default_rng(0).choice(len(docs), 96, replace=False))
    raw = raw_model.encode([docs[i].full_text for i in rows], batch_size=32)
    stored = np.load(scifact_dense.flat.path / EMBEDDINGS, mmap_mode="r")
    assert stored.shape == (5183, 384)
    np.testing.assert_allclose(stored[rows], raw, rtol=0, atol=1e-5)  # batches differ: float noise only


def test_flat_run_equals_sentence_transformers_and_raw_faiss(scifact, scifact_dense, raw_model) -> None:  # noqa: ANN001
    """rankkit's flat run = ST encode of the queries + faiss.IndexFlatIP over the corpus vectors, to the document."""
    import faiss

    queries, ours, _ = scifact
    vectors = np.load(scifact_dense.flat.path / EMBEDDINGS)
    doc_ids = np.array((scifact_dense.flat.path / "doc_ids.txt").read_text().split("\n"))
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, rows = index.search(raw_model.encode([q.text for q in queries], batch_size=32), K)
    tied = 0
    for ranking, query, row, score in zip(ours, queries, rows, scores):
        assert ranking.query_id == query.query_id and len(ranking) == K
        order = trec_order(doc_ids[row], score)  # FAISS breaks ties by row, trec_eval by decreasing doc id
        assert ranking.doc_ids.tolist() == doc_ids[row][order].tolist()
        np.testing.assert_allclose(ranking.scores, score[order], rtol=0, atol=1e-4)
        tied += int(not np.array_equal(order, np.arange(K)))
    assert tied < len(queries)


def test_hnsw_recall_at_10_against_flat(scifact, scifact_dense) -> None:  # noqa: ANN001
    """Default HNSW parameters (M=32, efConstruction=200, efSearch=128) keep recall@10 >= 0.99."""
    queries, flat, hnsw = scifact
    top10 = Registry.load().build("retriever", "dense", index=str(scifact_dense.hnsw.path)).retrieve(queries, 10)
    recall = np.mean([len(set(a.doc_ids[:10]) & set(b.doc_ids)) / 10 for a, b in zip(flat, top10)])
    recall_1000 = np.mean([len(set(a.doc_ids) & set(b.doc_ids)) / K for a, b in zip(flat, hnsw)])
    print(f"\nHNSW recall@10 against flat: {recall:.4f} (efSearch 128); recall@1000: {recall_1000:.4f} (efSearch 1000)")
    assert recall >= 0.99
    assert recall_1000 >= 0.99  # efSearch is raised to k for deep searches


def test_ivf_pq_memory_and_recall(scifact, scifact_dense) -> None:  # noqa: ANN001
    """IVF-PQ from the cached embeddings (no re-encoding): far smaller than flat, recall reported."""
    queries, flat, _ = scifact
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RANKKIT_CACHE", str(scifact_dense.cache))
        registry = Registry.load()
        built = ensure_index(IndexManifest.load(REPO / "indexes" / "scifact-dense-ivfpq.toml"), registry,
                             root=scifact_dense.index_root)
    stats = built.stamp["stats"]
    assert stats["cached_shards"] == stats["shards"]  # encoded once, for all three indexes
    flat_bytes = scifact_dense.flat.stamp["stats"]["faiss_bytes"]
    ivfpq = registry.build("retriever", "dense", index=str(built.path)).retrieve(queries, 10)
    recall = np.mean([len(set(a.doc_ids[:10]) & set(b.doc_ids)) / 10 for a, b in zip(flat, ivfpq)])
    print(f"\nIVF-PQ {stats['faiss']}: faiss.index {stats['faiss_bytes']:,} bytes vs flat {flat_bytes:,} "
          f"({flat_bytes / stats['faiss_bytes']:.1f}x smaller); recall@10 against flat {recall:.4f}")
    assert stats["faiss_bytes"] * 5 < flat_bytes
    assert recall >= 0.6
