"""Per-document language adapters: cross-fitted libraries (each document scored by an adapter that never read it)
and multilingual corpora (each document's language from its ``LANG:`` id prefix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankkit.cache import CachedScorer, ScoreCache
from rankkit.datasets.folds import FoldDataset, fold_of
from rankkit.errors import ConfigError
from rankkit.pipeline import ScorerReranker
from rankkit.rescore import RescoreSettings
from rankkit.types import Query, Ranking
from rankkit_crossencoder.testing import tiny_training_data
from rankkit_xling.library import AdapterLibrary
from rankkit_xling.testing import tiny_encoder

QUERY = "what about glacier ice cave?"
FAST = {"batch_size": 4, "max_length": 48, "device": "cpu", "logging_steps": 2}


@pytest.fixture(scope="module")
def registry():
    from rankkit.registry import Registry

    return Registry.load()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, registry):
    """Language adapters 'xx' on each half (fold) of a corpus and on all of it, an 'en' one, and a ranking adapter."""
    work = tmp_path_factory.mktemp("crossfit")
    encoder = tiny_encoder(work / "encoder")
    dataset, candidates = tiny_training_data(work / "data")
    out = {"dataset": dataset, "encoder": encoder}

    def train(name: str, output: Path, data, **params):
        output.mkdir(parents=True)
        registry.build("trainer", name, backbone=str(encoder), **params).train(data, output, candidates)
        return output

    for k in (0, 1):
        out[f"xx-{k}"] = train("xling-language", work / f"xx-{k}", FoldDataset(f"fold:{k}/2", dataset, k, 2),
                               lang="xx", steps=3, learning_rate=5e-3, batch_size=4, max_length=32, device="cpu",
                               seed=k)
    out["xx-all"] = train("xling-language", work / "xx-all", dataset, lang="xx", steps=3, learning_rate=5e-3,
                          batch_size=4, max_length=32, device="cpu")
    out["en"] = train("xling-language", work / "en", dataset, lang="en", steps=3, learning_rate=1e-2,
                      batch_size=4, max_length=32, device="cpu", seed=7)
    out["ra"] = train("xling-ranking", work / "ra", dataset, language_adapter=str(out["en"]), max_steps=4,
                      learning_rate=5e-3, **FAST)
    return out


def _scorer(registry, trained, library, **params):
    return registry.build("scorer", "xling", ranking=str(trained["ra"]), library=[str(trained[x]) for x in library],
                          device="cpu", max_length=48, **params)


def _docs(trained):
    return [d for d in trained["dataset"].iter_documents()]


def test_a_language_adapter_trained_on_a_corpus_records_what_it_read(trained):
    docs = _docs(trained)
    for k in (0, 1):
        seen = AdapterLibrary([trained[f"xx-{k}"]]).get("xx").seen
        assert seen == {d.doc_id for d in docs if fold_of(d.doc_id, 2) == k} and seen
    assert AdapterLibrary([trained["xx-all"]]).get("xx").seen == {d.doc_id for d in docs}


def test_each_document_is_scored_by_the_adapter_that_never_read_it(registry, trained):
    library = AdapterLibrary([trained["xx-0"], trained["xx-1"]])
    docs = _docs(trained)
    for doc in docs:
        chosen = library.for_document("xx", doc.doc_id, held_out=True)
        assert doc.doc_id not in chosen.seen
    with pytest.raises(ConfigError, match="2 language adapters for 'xx'"):
        library.get("xx")
    crossfit = _scorer(registry, trained, ["xx-0", "xx-1"], doc_lang="xx")
    assert crossfit.by_document
    ranking = Ranking("q0", [d.doc_id for d in docs], np.linspace(1, 0, len(docs)).astype(np.float32)).with_texts(
        [d.full_text for d in docs])
    stage = ScorerReranker(crossfit, settings=RescoreSettings(window_size=len(docs), query_weight=0.0))
    scores = dict(zip(*[stage.rerank([Query("q0", QUERY)], [ranking])[0].doc_ids.tolist(),
                        stage.rerank([Query("q0", QUERY)], [ranking])[0].scores.tolist()]))
    for k in (0, 1):  # the fixed composition with the other half's adapter gives the same scores for this half
        fixed = _scorer(registry, trained, [f"xx-{1 - k}"], doc_lang="xx")
        half = [d for d in docs if fold_of(d.doc_id, 2) == k]
        expected = fixed.score(QUERY, [d.full_text for d in half])
        np.testing.assert_allclose([scores[d.doc_id] for d in half], expected, rtol=1e-5, atol=1e-6)


def test_held_out_refuses_an_adapter_trained_on_the_document(registry, trained):
    docs = _docs(trained)
    transductive = _scorer(registry, trained, ["xx-all"], doc_lang="xx", held_out=True)
    with pytest.raises(ConfigError, match=f"trained on document '{docs[0].doc_id}'"):
        transductive.score(QUERY, [docs[0].full_text], doc_ids=[docs[0].doc_id])
    plain = _scorer(registry, trained, ["xx-all"], doc_lang="xx")
    assert not plain.by_document and np.isfinite(plain.score(QUERY, [docs[0].full_text])).all()


def test_a_multilingual_corpus_takes_each_documents_language_from_its_id(registry, trained):
    docs = _docs(trained)[:4]
    ids = [f"{'en' if i % 2 else 'xx'}:{d.doc_id}" for i, d in enumerate(docs)]
    texts = [d.full_text for d in docs]
    mixed = _scorer(registry, trained, ["xx-all", "en"], doc_lang="id")
    got = mixed.score(QUERY, texts, doc_ids=ids)
    for lang in ("en", "xx"):
        fixed = _scorer(registry, trained, ["xx-all", "en"], doc_lang=lang)
        idx = [i for i, d in enumerate(ids) if d.startswith(f"{lang}:")]
        np.testing.assert_allclose(got[idx], fixed.score(QUERY, [texts[i] for i in idx]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="needs each document's id"):
        mixed.score(QUERY, texts)
    with pytest.raises(ConfigError, match="has none"):
        mixed.score(QUERY, texts[:1], doc_ids=[docs[0].doc_id])
    with pytest.raises(ConfigError, match="no language adapter for 'de'"):
        mixed.score(QUERY, texts[:1], doc_ids=[f"de:{docs[0].doc_id}"])


def test_the_score_cache_keys_by_document_for_such_scorers(registry, trained, tmp_path):
    docs = _docs(trained)[:2]
    mixed = _scorer(registry, trained, ["xx-all", "en"], doc_lang="id")
    cached = CachedScorer(mixed, ScoreCache(tmp_path / "scores.sqlite"))
    text = docs[0].full_text
    both = cached.score(QUERY, [text, text], doc_ids=[f"en:{docs[0].doc_id}", f"xx:{docs[0].doc_id}"])
    assert both[0] != both[1] and cached.cache.misses == 2
    again = cached.score(QUERY, [text], doc_ids=[f"xx:{docs[0].doc_id}"])
    assert again[0] == both[1] and cached.cache.hits == 1
