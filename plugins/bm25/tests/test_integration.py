"""Integration tier: real Pyserini/Anserini on the JVM, real SciFact from the mirror."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankkit.datasets import resolve_dataset
from rankkit.errors import DataFormatError, MissingDocumentError
from rankkit.indexes import IndexManifest, ensure_index, read_stamp
from rankkit.pipeline import Sequential
from rankkit.registry import Registry
from rankkit.types import Query, Ranking, trec_order

from rankkit_bm25.layout import LUCENE_DIR, META_FILE

pytestmark = pytest.mark.integration

K = 1000


@pytest.fixture(scope="module")
def scifact_runs(scifact_index, data_root: Path):  # noqa: ANN001, ANN201
    """rankkit's and raw Pyserini's top-1000 for the SciFact test queries, on the same index."""
    registry = Registry.load()
    dataset = resolve_dataset("beir-scifact", registry)
    queries = dataset.queries()
    retriever = registry.build("retriever", "bm25", index=str(scifact_index.path), k1=0.9, b=0.4)
    ours = retriever.retrieve(queries, K)

    from pyserini.search.lucene import LuceneSearcher  # after rankkit prepared the JVM

    searcher = LuceneSearcher(str(scifact_index.path / LUCENE_DIR))
    searcher.set_bm25(0.9, 0.4)
    hits = searcher.batch_search([q.text for q in queries], [q.query_id for q in queries], k=K, threads=2)
    raw = {qid: [(h.docid, h.score) for h in result] for qid, result in hits.items()}
    return dataset, queries, ours, raw


def test_rankkit_equals_raw_pyserini(scifact_runs) -> None:  # noqa: ANN001
    _, queries, ours, raw = scifact_runs
    assert [r.query_id for r in ours] == [q.query_id for q in queries]
    ties_reordered = 0
    for ranking in ours:
        expected = raw[ranking.query_id]
        docs = np.array([d for d, _ in expected], dtype=str)
        scores = np.array([s for _, s in expected], dtype=np.float64)
        assert len(ranking) == len(expected) <= K
        assert set(ranking.doc_ids.tolist()) == set(docs.tolist())
        # Same order once ties are broken the trec_eval way (rankkit's Ranking always is).
        order = trec_order(docs, scores.astype(np.float32))
        assert ranking.doc_ids.tolist() == docs[order].tolist()
        np.testing.assert_allclose(ranking.scores, scores[order], rtol=0, atol=1e-5)
        ties_reordered += int(not np.array_equal(order, np.arange(len(order))))
    # Pyserini breaks ties by ascending doc id, trec_eval by descending: only tied runs differ in raw order.
    assert ties_reordered < len(ours)


def _evaluate(dataset, run: dict[str, list[tuple[str, float]]]) -> dict[str, float]:  # noqa: ANN001
    import ir_measures
    from ir_measures import R, nDCG

    qrels = dataset.qrels().to_ir_measures()
    scored = [ir_measures.ScoredDoc(q, d, float(s)) for q, hits in run.items() for d, s in hits]
    result = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], qrels, scored)
    return {str(m): v for m, v in result.items()}


def test_scifact_matches_pyserinis_published_regression(scifact_runs) -> None:  # noqa: ANN001
    dataset, _, ours, raw = scifact_runs
    rankkit = _evaluate(dataset, {r.query_id: list(r) for r in ours})
    pyserini = _evaluate(dataset, raw)
    assert round(rankkit["nDCG@10"], 4) == 0.6789
    assert round(rankkit["R@100"], 4) == 0.9253
    assert rankkit == pytest.approx(pyserini, abs=1e-9)


def test_index_layout_and_stats(scifact_index) -> None:  # noqa: ANN001
    stamp = scifact_index.stamp
    assert stamp["stats"]["documents"] == 5183
    assert stamp["stats"]["pyserini"] == "1.6.0" and stamp["stats"]["anserini"]
    assert (scifact_index.path / LUCENE_DIR).is_dir()
    assert json.loads((scifact_index.path / META_FILE).read_text())["fields"] == "title+text"
    assert not list(scifact_index.path.glob(".jsoncollection-*"))


def test_rebuilding_the_same_manifest_is_a_no_op(scifact_index, data_root: Path) -> None:  # noqa: ANN001
    manifest = IndexManifest.load(Path(__file__).resolve().parents[3] / "indexes" / "scifact-bm25.toml")
    again = ensure_index(manifest, Registry.load(), root=scifact_index.path.parent)
    assert again.stamp == scifact_index.stamp
    assert again.stamp["created"] == scifact_index.stamp["created"]


def test_changed_parameter_rebuilds(tiny_mirror: Path, tmp_path: Path, registry: Registry) -> None:
    root = tmp_path / "indexes"
    first = ensure_index(IndexManifest("tiny-bm25", "tiny", "bm25", {"threads": 1}), registry, root=root)
    same = ensure_index(IndexManifest("tiny-bm25", "tiny", "bm25", {"threads": 1}), registry, root=root)
    assert same.stamp["created"] == first.stamp["created"] and same.stamp["key"] == first.stamp["key"]
    changed = ensure_index(IndexManifest("tiny-bm25", "tiny", "bm25", {"threads": 1, "stemmer": "none"}), registry, root=root)
    assert changed.stamp["key"] != first.stamp["key"]
    assert changed.stamp["params"]["stemmer"] == "none" and changed.stamp["stats"]["documents"] == 4
    assert sorted(p.name for p in root.iterdir()) == ["tiny-bm25"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"_id": "d9", "text": "broken', "invalid JSON"),
        ('{"title": "no id", "text": "x"}', "no '_id'"),
        ('{"_id": "d1", "text": "again"}', "duplicate _id 'd1' (first on line 1)"),
    ],
)
def test_bad_corpus_line_stops_the_build(
    bad_line: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry,
    tiny_docs: list, write_beir,  # noqa: ANN001
) -> None:
    mirror = tmp_path / "mirror"
    docs: list = [*tiny_docs[:2], bad_line, *tiny_docs[2:]]
    write_beir(mirror / "broken", docs, {"q1": "java"}, {"q1": "d1"})
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    root = tmp_path / "indexes"
    with pytest.raises(DataFormatError) as info:
        ensure_index(IndexManifest("broken-bm25", "broken", "bm25", {"threads": 1}), registry, root=root)
    assert f"{mirror / 'broken' / 'corpus.jsonl'}:3:" in str(info.value) and message in str(info.value)
    assert info.value.line == 3
    assert read_stamp(root / "broken-bm25") is None
    assert list(root.iterdir()) == []  # neither an index nor a staging leftover


def test_doc_store_serves_raw_text(scifact_index, registry: Registry) -> None:  # noqa: ANN001
    dataset = resolve_dataset("beir-scifact", registry)
    retriever = registry.build("retriever", "bm25", index=str(scifact_index.path))
    store = retriever.doc_store()
    docs = [d for _, d in zip(range(50), dataset.iter_documents())]
    assert store.get_many([d.doc_id for d in docs]) == [d.full_text for d in docs]
    with pytest.raises(MissingDocumentError) as info:
        store.get_many([docs[0].doc_id, "no-such-doc"])
    assert info.value.doc_id == "no-such-doc" and "'no-such-doc'" in str(info.value)


def test_retrieval_edge_cases_and_composition(scifact_index, registry: Registry) -> None:  # noqa: ANN001
    retriever = registry.build("retriever", "bm25", index=str(scifact_index.path))
    queries = [Query("a", "cancer cells"), Query("a2", "cancer cells"), Query("e", ""), Query("z", "zzqqxxnotaword")]
    rankings = retriever.retrieve(queries, 5)
    assert [r.query_id for r in rankings] == ["a", "a2", "e", "z"]
    assert len(rankings[0]) == 5 and rankings[0] == Ranking("a", rankings[1].doc_ids, rankings[1].scores)
    assert rankings[0].scores.dtype == np.float32 and len(rankings[2]) == 0 and len(rankings[3]) == 0
    assert retriever.retrieve([], 10) == []
    with pytest.raises(ValueError, match="positive integer"):
        retriever.retrieve(queries, 0)
    pipeline = retriever % 3
    assert isinstance(pipeline, Sequential)
    run = pipeline.run(queries[:1])
    assert len(run["a"]) == 3 and run["a"].doc_ids.tolist() == rankings[0].doc_ids[:3].tolist()


def test_fingerprint_tracks_results_not_paths(scifact_index, registry: Registry) -> None:  # noqa: ANN001
    path = str(scifact_index.path)
    base = registry.build("retriever", "bm25", index=path).fingerprint
    assert registry.build("retriever", "bm25", index=path, threads=1).fingerprint == base
    assert registry.build("retriever", "bm25", index=path, k1=1.2).fingerprint != base
    assert registry.build("retriever", "bm25", index=path, rm3=True).fingerprint != base


def test_rm3_equals_pyserini(scifact_index, registry: Registry) -> None:  # noqa: ANN001
    queries = resolve_dataset("beir-scifact", registry).queries()[:20]
    retriever = registry.build("retriever", "bm25", index=str(scifact_index.path), rm3=True)
    ours = retriever.retrieve(queries, 100)
    plain = registry.build("retriever", "bm25", index=str(scifact_index.path)).retrieve(queries, 100)
    assert any(a != b for a, b in zip(ours, plain))

    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(scifact_index.path / LUCENE_DIR))
    searcher.set_bm25(0.9, 0.4)
    searcher.set_rm3(10, 10, 0.5)
    for query, ranking in zip(queries, ours):
        hits = searcher.search(query.text, k=100)
        expected = Ranking(query.query_id, [h.docid for h in hits], [h.score for h in hits])
        assert ranking.doc_ids.tolist() == expected.doc_ids.tolist()
        np.testing.assert_allclose(ranking.scores, expected.scores, atol=1e-5)


def test_separate_fields(tiny_mirror: Path, tmp_path: Path, registry: Registry) -> None:
    built = ensure_index(
        IndexManifest("tiny-sep", "tiny", "bm25", {"threads": 1, "fields": "separate"}), registry, root=tmp_path
    )
    title_only = registry.build("retriever", "bm25", index=str(built.path), fields="title=1.0")
    both = registry.build("retriever", "bm25", index=str(built.path))
    [by_title] = title_only.retrieve([Query("q", "pyserini")], 10)
    assert by_title.doc_ids.tolist() == ["d2"]
    [by_both] = both.retrieve([Query("q", "lucene")], 10)
    assert set(by_both.doc_ids.tolist()) == {"d1", "d2"}
    assert both.doc_store().get_many(["d2"]) == ["Pyserini Pyserini wraps Anserini and Lucene for Python users."]


def test_bm25_reranker_gives_each_candidate_its_retrieval_score(scifact_runs, scifact_index, registry: Registry) -> None:  # noqa: ANN001
    _, queries, ours, _ = scifact_runs
    rescorer = registry.build("reranker", "bm25", index=str(scifact_index.path), k1=0.9, b=0.4)
    # Candidates in reverse order with placeholder scores, as a candidate list without BM25 scores arrives.
    given = [Ranking(r.query_id, r.doc_ids[:30], -np.arange(30, dtype=np.float32)) for r in ours[:25]]
    rescored = rescorer.rerank(queries[:25], given)
    for ranking, retrieved in zip(rescored, ours[:25]):
        expected = dict(zip(retrieved.doc_ids[:30].tolist(), retrieved.scores[:30].tolist()))
        assert sorted(ranking.doc_ids.tolist()) == sorted(expected)
        np.testing.assert_allclose(ranking.scores, [expected[d] for d in ranking.doc_ids.tolist()], rtol=0, atol=1e-4)
        assert (np.diff(ranking.scores) <= 0).all()
    assert rescorer.rerank([], []) == []
    assert registry.build("reranker", "bm25", index=str(scifact_index.path), k1=1.2).fingerprint != rescorer.fingerprint
    missing = Ranking("q", np.array(["not-a-doc"]), np.zeros(1, dtype=np.float32))
    with pytest.raises(MissingDocumentError, match="not-a-doc"):
        rescorer.rerank([Query("q", "cancer")], [missing])
