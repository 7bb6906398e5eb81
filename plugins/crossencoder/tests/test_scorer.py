"""The cross-encoder scorer: the contract, parity with CrossEncoder.predict, fingerprints, cache, adapter, bad models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rankkit.cache import CachedScorer, ScoreCache
from rankkit.errors import ConfigError
from rankkit.pipeline import ScorerReranker
from rankkit.rescore import RescoreSettings
from rankkit.testing import SAMPLE_DOCUMENTS, SAMPLE_QUERIES, RerankerContract, ScorerContract
from rankkit_crossencoder.models import ModelError
from rankkit_crossencoder.scorer import CrossEncoderScorer
from rankkit_crossencoder.settings import CrossEncoderScorerSettings
from rankkit_crossencoder.testing import make_tiny_cross_encoder


def ce(model: Path, **params) -> CrossEncoderScorer:  # noqa: ANN003
    """The scorer of the model folder ``model``, built directly from its settings."""
    return CrossEncoderScorer(CrossEncoderScorerSettings(model=str(model), **params))


class TestCrossEncoderScorer(ScorerContract):
    @pytest.fixture
    def scorer(self, tiny_model: Path, rankkit_registry):  # noqa: ANN001, ANN201
        return rankkit_registry.build("scorer", "cross-encoder", model=str(tiny_model), batch_size=2)


class TestCrossEncoderReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, tiny_model: Path):  # noqa: ANN201
        return ScorerReranker(ce(tiny_model), settings=RescoreSettings(window_size=2))


def test_same_scores_as_raw_predict(tiny_model: Path) -> None:
    from sentence_transformers.cross_encoder import CrossEncoder

    raw = CrossEncoder(str(tiny_model), device="cpu")
    pairs = [(SAMPLE_QUERIES[0].text, d) for d in SAMPLE_DOCUMENTS]
    expected = raw.predict(pairs, batch_size=2)  # the model's default activation (sigmoid)
    got = ce(tiny_model, batch_size=2, activation="model").score(SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    logits = ce(tiny_model, activation="none").score(SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS))
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_scores_near_float32_under_their_own_fingerprint(tiny_model: Path) -> None:
    torch = pytest.importorskip("torch")
    fp32, bf16 = ce(tiny_model, batch_size=2), ce(tiny_model, batch_size=2, dtype="bfloat16")
    assert ce(tiny_model, dtype="float32").fingerprint == fp32.fingerprint   # the default's key is the one it had
    assert bf16.fingerprint != fp32.fingerprint   # other scores: the cache never mixes them
    assert "dtype='bfloat16'" in repr(bf16)
    query, documents = SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS)
    expected, got = fp32.score(query, documents), bf16.score(query, documents)
    assert next(bf16.model.model.parameters()).dtype == torch.bfloat16
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert not np.array_equal(got, expected)   # really computed in bfloat16
    np.testing.assert_allclose(got, expected, atol=0.02 * np.abs(expected).max())
    assert bf16.score_many([(query, documents[:2]), (query, [])])[0].shape == (2,)


def test_a_reduced_dtype_on_a_cpu_without_instructions_for_it_warns(tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    import rankkit.models

    monkeypatch.setattr(rankkit.models, "cpu_runs_natively", lambda name: False)
    with caplog.at_level("WARNING", logger="rankkit.models"):
        ce(tiny_model, dtype="bfloat16", device="cpu").score("q", ["d"])
    assert "cross-encoder: dtype bfloat16 on a CPU without AMX or AVX512-BF16 instructions runs slower than " \
           "float32" in caplog.text


def test_fingerprint_covers_content_and_parameters(tiny_model: Path, tmp_path: Path) -> None:
    base = ce(tiny_model)
    assert base.fingerprint == ce(tiny_model, batch_size=7, device="cpu").fingerprint
    assert base.fingerprint != ce(tiny_model, max_length=16).fingerprint
    assert base.fingerprint != ce(tiny_model, activation="sigmoid").fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    assert ce(copy).fingerprint == base.fingerprint  # content, not path
    (copy / "README.md").write_text("notes")  # documentation is no part of the model (the core's rule)
    assert ce(copy).fingerprint == base.fingerprint
    make_tiny_cross_encoder(copy, seed=5)  # retrained into the same folder
    assert ce(copy).fingerprint != base.fingerprint


def test_a_device_this_machine_lacks_is_refused_by_name(tiny_model: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    scorer = ce(tiny_model, device="cuda")  # checked on load: a cached run needs no device
    with pytest.raises(ConfigError, match="cross-encoder: device 'cuda' is not available on this machine"):
        scorer.score("q", ["d"])


def test_score_cache_serves_a_rerun_without_loading_the_model(tiny_model: Path, tmp_path: Path) -> None:
    cache = ScoreCache(tmp_path / "scores.sqlite")
    first = CachedScorer(ce(tiny_model), cache)
    cold = first.score(SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS))
    fresh = ce(tiny_model)
    warm = CachedScorer(fresh, cache).score(SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS))
    np.testing.assert_allclose(warm, cold, rtol=1e-6)
    assert fresh._model is None and cache.hits == len(SAMPLE_DOCUMENTS)


def test_model_without_classification_head_is_refused(tmp_path: Path) -> None:
    folder = make_tiny_cross_encoder(tmp_path / "bare", head=False)
    with pytest.raises(ModelError, match="has no classification head"):
        ce(folder)


def test_mismatched_tokenizer_is_refused(tmp_path: Path) -> None:
    folder = make_tiny_cross_encoder(tmp_path / "small-vocab", vocab_size=50)
    scorer = ce(folder)
    with pytest.raises(ModelError, match="does not belong to this model"):
        scorer.score("query", ["document"])


def test_cross_query_batching_scores_like_one_query_at_a_time(tiny_model: Path, tmp_path: Path) -> None:
    items = [(q.text, list(SAMPLE_DOCUMENTS)[: 2 + i]) for i, q in enumerate(SAMPLE_QUERIES)] + [("empty", [])]
    alone = ce(tiny_model, batch_size=2)
    batched = ce(tiny_model, batch_size=2, cross_query=True)
    assert batched.fingerprint == alone.fingerprint  # same scores: cached ones serve both
    expected = [alone.score(q, d) for q, d in items]
    got = batched.score_many(items)
    assert [len(g) for g in got] == [len(e) for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    calls = []
    original = batched.model.predict
    batched.model.predict = lambda pairs, **kw: calls.append(len(pairs)) or original(pairs, **kw)
    reranker = ScorerReranker(CachedScorer(batched, ScoreCache(tmp_path / "s.sqlite")),
                              settings=RescoreSettings(window_size=3, query_weight=0.0))
    from rankkit.types import Ranking

    ids, first = ["d1", "d2", "d3"], np.array([3.0, 2.0, 1.0], dtype=np.float32)
    reranker.rerank(list(SAMPLE_QUERIES), [Ranking(q.query_id, ids, first, SAMPLE_DOCUMENTS) for q in SAMPLE_QUERIES])
    assert len(calls) == 1  # the whole batch of queries in one predict call
