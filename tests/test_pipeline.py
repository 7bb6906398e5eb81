"""Pipelines: composition, cutoff push-down, fusion, the scorer adapter with ES rescore semantics."""

from __future__ import annotations

import numpy as np
import pytest

from rankkit.docstore import DictDocStore
from rankkit.errors import ConfigError, MissingDocumentError
from rankkit.fusion import combsum as combsum_rankings
from rankkit.fusion import reciprocal_rank_fusion
from rankkit.pipeline import Composable, Cutoff, RetrieverStage, ScorerReranker, Sequential, combsum, rrf
from rankkit.rescore import RescoreSettings, apply_rescore
from rankkit.types import Query, Ranking

QUERIES = [Query("q1", "alpha"), Query("q2", "beta")]


class ListRetriever(Composable):
    """Returns fixed rankings and records the k it was asked for."""

    fingerprint = "list-retriever"

    def __init__(self, docs: dict[str, list[tuple[str, float]]]) -> None:
        self.docs = docs
        self.asked: list[int] = []

    def retrieve(self, queries, k):
        self.asked.append(k)
        out = []
        for q in queries:
            ids, scores = zip(*self.docs[q.query_id])
            out.append(Ranking(q.query_id, list(ids), list(scores)).top(k))
        return out


class LengthScorer:
    """Scores a text by its length (deterministic, no model)."""

    fingerprint = "length"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, query, documents):
        self.calls += 1
        return np.array([len(d) for d in documents], dtype=np.float32)


DOCS = {
    "q1": [("a", 5.0), ("b", 4.0), ("c", 3.0), ("d", 2.0)],
    "q2": [("e", 9.0), ("f", 1.0)],
}
TEXTS = {"a": "x", "b": "xxxx", "c": "xx", "d": "xxxxxxxx", "e": "e", "f": "ffff"}


def test_cutoff_is_pushed_into_the_retriever():
    retriever = ListRetriever(DOCS)
    pipeline = retriever % 2
    compiled = pipeline.compile()
    assert isinstance(compiled, RetrieverStage) and compiled.k == 2
    rankings = pipeline.run(QUERIES).rankings()
    assert retriever.asked == [2]
    assert [r.doc_ids.tolist() for r in rankings] == [["a", "b"], ["e", "f"]]


def test_composition_runs_batched_and_keeps_query_order():
    retriever = ListRetriever(DOCS)
    scorer = LengthScorer()
    pipeline = retriever % 3 >> ScorerReranker(scorer, DictDocStore(TEXTS), RescoreSettings(window_size=3, query_weight=0.0))
    run = pipeline.run(QUERIES, batch_size=1)
    assert list(run) == ["q1", "q2"]
    assert run["q1"].doc_ids.tolist() == ["b", "c", "a"]
    assert isinstance(pipeline, Sequential) and isinstance(pipeline.stages[1], Cutoff)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("total", [5 + 2, 4 + 8]), ("multiply", [5 * 2, 4 * 8]), ("avg", [3.5, 6.0]), ("max", [5, 8]), ("min", [2, 4])],
)
def test_score_modes_follow_elasticsearch(mode, expected):
    ranking = Ranking("q", ["a", "b", "c"], [5.0, 4.0, 1.0])
    settings = RescoreSettings(window_size=2, query_weight=1.0, rescore_query_weight=2.0, score_mode=mode)
    out = apply_rescore(ranking, np.array([1.0, 4.0]), settings)
    got = dict(zip(out.doc_ids.tolist(), out.scores.tolist()))
    assert [got["a"], got["b"]] == pytest.approx(expected)
    assert out.doc_ids[-1] == "c"


def test_documents_below_the_window_keep_their_order_below_it():
    ranking = Ranking("q", ["a", "b", "c", "d"], [10.0, 9.0, 8.0, 7.0])
    out = apply_rescore(ranking, np.array([-5.0, -6.0]), RescoreSettings(window_size=2, query_weight=0.0))
    assert out.doc_ids.tolist() == ["a", "b", "c", "d"]
    assert out.scores[1] > out.scores[2]


def test_chained_rescorers_each_work_on_the_previous_output():
    retriever = ListRetriever(DOCS)
    first = ScorerReranker(LengthScorer(), DictDocStore(TEXTS), RescoreSettings(window_size=4, query_weight=0.0))
    second = ScorerReranker(LengthScorer(), DictDocStore(TEXTS), RescoreSettings(window_size=1, score_mode="multiply"))
    run = (retriever >> first >> second).run(QUERIES[:1])
    # first: d(8) b(4) c(2) a(1); second rescores only d: 8 * 8 = 64
    assert run["q1"].doc_ids.tolist() == ["d", "b", "c", "a"]
    assert run["q1"].scores[0] == 64.0


def test_missing_text_names_the_document():
    pipeline = ListRetriever(DOCS) >> ScorerReranker(LengthScorer(), DictDocStore({"a": "x"}, label="the test store"))
    with pytest.raises(MissingDocumentError, match="document 'b' has no text in the test store"):
        pipeline.run(QUERIES[:1])


def test_rrf_matches_the_formula():
    a = Ranking("q", ["x", "y", "z"], [3.0, 2.0, 1.0])
    b = Ranking("q", ["z", "x"], [2.0, 1.0])
    fused = reciprocal_rank_fusion([a, b], k=60)
    scores = dict(zip(fused.doc_ids.tolist(), fused.scores.tolist()))
    assert scores["x"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["z"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["y"] == pytest.approx(1 / 62)
    assert fused.doc_ids.tolist() == ["x", "z", "y"]


def test_combsum_normalises_and_weights():
    a = Ranking("q", ["x", "y"], [10.0, 0.0])
    b = Ranking("q", ["y", "z"], [4.0, 2.0])
    fused = combsum_rankings([a, b], weights=[1.0, 0.5])
    scores = dict(zip(fused.doc_ids.tolist(), fused.scores.tolist()))
    assert scores == pytest.approx({"x": 1.0, "y": 0.5, "z": 0.0})


def test_fusion_stages_compose_pipelines():
    one = ListRetriever(DOCS)
    two = ListRetriever({"q1": [("d", 1.0), ("c", 0.5)], "q2": [("f", 3.0)]})
    run = rrf(one % 2, two).run(QUERIES)
    assert set(run["q1"].doc_ids.tolist()) == {"a", "b", "c", "d"}
    assert one.asked == [2]
    weighted = combsum(one, two, weights=[0.0, 1.0]).run(QUERIES)
    assert weighted["q2"].doc_ids[0] == "f"


def test_a_retriever_cannot_follow_another_stage():
    retriever = ListRetriever(DOCS)
    with pytest.raises(ValueError, match="first stage"):
        (retriever >> retriever).run(QUERIES)


def test_scorers_need_the_adapter():
    with pytest.raises(TypeError, match="ScorerReranker"):
        ListRetriever(DOCS) >> LengthScorer()


def test_bad_rescore_settings_are_config_errors():
    from rankkit.errors import ConfigError

    with pytest.raises(ConfigError, match="score_mode 'sum' is not one of total, multiply, avg, max, min"):
        RescoreSettings(score_mode="sum")  # type: ignore[arg-type]


def test_normalized_interpolation_weights_mean_the_same_for_every_query():
    ranking = Ranking("q", ["a", "b", "c", "d"], [30.0, 20.0, 10.0, 5.0])
    settings = RescoreSettings(window_size=3, query_weight=0.4, rescore_query_weight=0.6, normalization="minmax")
    out = apply_rescore(ranking, np.array([0.0, 2.0, 1.0]), settings)
    # minmax: first stage [1, 0.5, 0], cross-encoder [0, 1, 0.5] -> [0.4, 0.8, 0.3]
    assert out.doc_ids.tolist() == ["b", "a", "c", "d"]
    assert np.allclose(out.scores[:3], [0.8, 0.4, 0.3])
    scaled = apply_rescore(Ranking("q", ["a", "b", "c", "d"], [300.0, 200.0, 100.0, 50.0]), np.array([0.0, 20.0, 10.0]), settings)
    assert np.allclose(scaled.scores[:3], out.scores[:3])  # the scale of either side no longer matters
    z = apply_rescore(ranking, np.array([0.0, 2.0, 1.0]), RescoreSettings(3, 1.0, 1.0, normalization="zscore"))
    assert np.isclose(z.scores[:3].sum(), 0.0, atol=1e-6)
    plain = ScorerReranker(LengthScorer(), None, RescoreSettings())
    assert plain.fingerprint == ScorerReranker(LengthScorer(), None, RescoreSettings(normalization="none")).fingerprint
    assert plain.fingerprint != ScorerReranker(LengthScorer(), None, RescoreSettings(normalization="minmax")).fingerprint
    for bad in ({"normalization": "l2"}, {"query_weight": float("nan")}, {"rescore_query_weight": "1"}):
        with pytest.raises(ConfigError):
            RescoreSettings(**bad)
