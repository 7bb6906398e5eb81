"""The data model: ordering, conversions, immutability."""

from __future__ import annotations

import ir_measures
import numpy as np
import pandas as pd
import pytest

from rankkit.types import Qrels, Ranking, Run


def test_ranking_sorts_by_score_then_doc_id_descending_like_trec_eval():
    ranking = Ranking("q", ["a", "c", "b", "d"], [1.0, 2.0, 2.0, 0.5])
    assert ranking.doc_ids.tolist() == ["c", "b", "a", "d"]
    assert ranking.scores.dtype == np.float32


def test_tie_order_matches_ir_measures_evaluation():
    # With every score tied, trec_eval ranks by decreasing doc id: "z" first.
    ranking = Ranking("q", ["a", "m", "z"], [1.0, 1.0, 1.0])
    qrels = [ir_measures.Qrel("q", "z", 1)]
    run = [ir_measures.ScoredDoc("q", d, float(s)) for d, s in ranking]
    assert ranking.doc_ids[0] == "z"
    assert ir_measures.calc_aggregate([ir_measures.P @ 1], qrels, run)[ir_measures.P @ 1] == 1.0


def test_ranking_is_immutable_and_validates_lengths():
    ranking = Ranking("q", ["a"], [1.0])
    with pytest.raises(ValueError):
        ranking.scores[0] = 3.0
    with pytest.raises(ValueError, match="equal length"):
        Ranking("q", ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="texts"):
        Ranking("q", ["a"], [1.0], ("x", "y"))


def test_texts_follow_their_documents_when_sorted():
    ranking = Ranking("q", ["a", "b"], [1.0, 2.0], ("text a", "text b"))
    assert ranking.texts == ("text b", "text a")
    assert ranking.top(1).texts == ("text b",)


def test_run_frame_round_trip_uses_pyterrier_columns():
    run = Run([Ranking("q1", ["a", "b"], [2.0, 1.0]), Ranking("q2", ["c"], [0.5])], "sys")
    frame = run.to_frame({"q1": "first", "q2": "second"})
    assert list(frame.columns) == ["qid", "query", "docno", "score", "rank"]
    assert frame["rank"].tolist() == [1, 2, 1]
    back = Run.from_frame(frame, "sys")
    assert back["q1"] == run["q1"] and back["q2"] == run["q2"]


def test_run_ir_measures_round_trip():
    run = Run([Ranking("q1", ["a", "b"], [2.0, 1.0])])
    frame = run.to_ir_measures()
    assert list(frame.columns) == ["query_id", "doc_id", "score"]
    scored = [ir_measures.ScoredDoc(r.query_id, r.doc_id, r.score) for r in frame.itertuples()]
    assert Run.from_ir_measures(scored)["q1"] == run["q1"]


def test_run_rejects_a_query_twice():
    with pytest.raises(ValueError, match="appears twice"):
        Run([Ranking("q", ["a"], [1.0]), Ranking("q", ["b"], [1.0])])


def test_qrels_conversions():
    qrels = Qrels(np.array(["q1", "q1", "q2"]), np.array(["a", "b", "c"]), np.array([1, 0, 2]))
    assert qrels.for_query("q1") == {"a": 1, "b": 0}
    assert qrels.to_dict() == {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}}
    assert list(qrels.to_frame().columns) == ["qid", "docno", "label"]
    again = Qrels.from_frame(qrels.to_ir_measures())
    assert again.to_dict() == qrels.to_dict()
    from_irm = Qrels.from_ir_measures([ir_measures.Qrel("q1", "a", 1)])
    assert from_irm.to_dict() == {"q1": {"a": 1}}
    with pytest.raises(ValueError, match="columns"):
        Qrels.from_frame(pd.DataFrame({"x": [1]}))


@pytest.mark.parametrize("seed", range(20))
def test_trec_order_fast_path_equals_a_full_sort(seed):
    from rankkit.types import trec_order

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    doc_ids = np.array([f"d{i}" for i in rng.integers(0, n, n)], dtype=str)  # duplicate ids too
    scores = rng.integers(0, int(rng.choice([3, 50, 10**6])), n).astype(np.float32)
    if seed % 4 == 0:
        scores[rng.integers(0, n)] = np.nan
    for candidate in (scores, -np.sort(-scores), np.sort(scores)):  # unsorted, sorted (the fast path), reversed
        expected = np.lexsort((doc_ids, candidate))[::-1]
        np.testing.assert_array_equal(trec_order(doc_ids, candidate), expected)


def test_a_batch_of_rankings_equals_rankings_built_one_by_one():
    rng = np.random.default_rng(0)
    scores = -np.sort(-rng.random((6, 50)).astype(np.float32), axis=1)
    scores[2, 10:13] = scores[2, 10]                      # a tie: that row goes through the constructor
    scores[4] = scores[4][::-1]                           # ascending: reordered like any ranking
    ids = np.array([[f"d{rng.integers(10_000)}-{j}" for j in range(50)] for _ in range(6)])
    query_ids = [f"q{i}" for i in range(6)]
    batch = Ranking.batch(query_ids, ids, scores)
    one_by_one = [Ranking(q, i, s) for q, i, s in zip(query_ids, ids, scores)]
    assert batch == one_by_one and [r.query_id for r in batch] == query_ids
    assert all(not r.doc_ids.flags.writeable and not r.scores.flags.writeable for r in batch)
    assert batch[0].texts is None and len(batch[0]) == 50 and batch[0].scores.dtype == np.float32
    with pytest.raises(ValueError, match="a row per query"):
        Ranking.batch(query_ids[:5], ids, scores)
