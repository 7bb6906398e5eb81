"""Contract tests and fixtures that plugin authors reuse (a pytest plugin).

Subclass a contract and provide its fixtures; pytest collects the inherited
tests::

    from rankkit.testing import ScorerContract

    class TestMyScorer(ScorerContract):
        @pytest.fixture
        def scorer(self):
            return MyScorer(...)

Its fixtures load with ``pytest_plugins = ["rankkit.testing"]`` in a
``conftest.py``; importing it does no work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rankkit.datasets.beir import BeirDataset
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry
from rankkit.types import Query, Ranking, trec_order

SAMPLE_QUERIES = (
    Query("q1", "effects of vitamin d on bone density"),
    Query("q2", "neural ranking models for retrieval"),
)
SAMPLE_DOCUMENTS = (
    "Vitamin D supplementation increased bone mineral density in older adults.",
    "Neural rankers reorder candidate documents retrieved by BM25.",
    "The aerodynamics of a wing in a propeller slipstream.",
)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The offline dataset mirror named by ``RANKKIT_DATA``; skips the test when there is none."""
    from rankkit.datasets.mirror import DATA_ENV, mirror_root

    root = mirror_root()
    if root is None or not root.is_dir():
        pytest.skip(f"no dataset mirror: set {DATA_ENV} to a folder of BEIR-layout datasets")
    return root


@pytest.fixture
def rankkit_isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``RANKKIT_CACHE`` (scores, indexes) for one test, and no plugin blocking from the environment."""
    from rankkit.config import CACHE_ENV
    from rankkit.plugins import DISABLE_AUTOLOAD_ENV, DISABLE_PLUGINS_ENV

    cache = tmp_path_factory.mktemp("rankkit-cache")
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.delenv(DISABLE_PLUGINS_ENV, raising=False)
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    return cache


@pytest.fixture
def rankkit_registry() -> Registry:
    """A fresh registry with every installed plugin (no state shared between tests)."""
    return Registry(load_plugins(PluginSettings(strict=False)))


@pytest.fixture
def rankkit_core_registry() -> Registry:
    """A fresh registry with only the core's own components."""
    return Registry(load_plugins(PluginSettings(autoload=False)))


def assert_valid_ranking(ranking: Ranking, query_id: str, k: int | None = None) -> None:
    """Check the invariants every ranking must hold."""
    assert isinstance(ranking, Ranking), f"expected a rankkit Ranking, got {type(ranking).__name__}"
    assert ranking.query_id == query_id, f"ranking for {ranking.query_id!r} where {query_id!r} was asked"
    assert ranking.scores.dtype == np.float32
    assert len(set(ranking.doc_ids.tolist())) == len(ranking), "a document appears twice in one ranking"
    assert np.array_equal(trec_order(ranking.doc_ids, ranking.scores), np.arange(len(ranking))), "not in trec_eval order"
    assert np.isfinite(ranking.scores).all(), "non-finite scores"
    if k is not None:
        assert len(ranking) <= k, f"asked for {k} documents, got {len(ranking)}"


class RetrieverContract:
    """Tests every retriever must pass. Provide a ``retriever`` fixture (and optionally ``queries``)."""

    k = 10

    @pytest.fixture
    def queries(self) -> Sequence[Query]:
        """Queries to retrieve for; override with ones your index can answer."""
        return SAMPLE_QUERIES

    def test_one_ranking_per_query_in_order(self, retriever, queries):
        """One valid ranking per query, in query order, at most k long."""
        rankings = retriever.retrieve(list(queries), self.k)
        assert [r.query_id for r in rankings] == [q.query_id for q in queries]
        for ranking, query in zip(rankings, queries):
            assert_valid_ranking(ranking, query.query_id, self.k)

    def test_deterministic(self, retriever, queries):
        """The same queries give the same rankings."""
        assert retriever.retrieve(list(queries), self.k) == retriever.retrieve(list(queries), self.k)

    def test_cutoff_is_a_prefix(self, retriever, queries):
        """A smaller k gives a prefix of the larger k's ranking."""
        full = retriever.retrieve(list(queries), self.k)
        short = retriever.retrieve(list(queries), 3)
        for a, b in zip(full, short):
            assert b.doc_ids.tolist() == a.doc_ids[: len(b)].tolist()

    def test_no_queries(self, retriever):
        """No queries give no rankings (and no error)."""
        assert retriever.retrieve([], self.k) == []

    def test_has_fingerprint(self, retriever):
        """The retriever exposes a non-empty fingerprint."""
        assert isinstance(retriever.fingerprint, str) and retriever.fingerprint


class ScorerContract:
    """Tests every scorer must pass. Provide a ``scorer`` fixture."""

    def test_one_finite_score_per_document(self, scorer):
        """One finite score per document."""
        scores = np.asarray(scorer.score(SAMPLE_QUERIES[0].text, list(SAMPLE_DOCUMENTS)))
        assert scores.shape == (len(SAMPLE_DOCUMENTS),)
        assert np.isfinite(scores).all()

    def test_deterministic_and_order_independent(self, scorer):
        """A document's score does not depend on its batch position."""
        docs = list(SAMPLE_DOCUMENTS)
        forward = np.asarray(scorer.score(SAMPLE_QUERIES[0].text, docs), dtype=np.float64)
        backward = np.asarray(scorer.score(SAMPLE_QUERIES[0].text, docs[::-1]), dtype=np.float64)
        np.testing.assert_allclose(forward, backward[::-1], rtol=1e-5, atol=1e-6)

    def test_no_documents(self, scorer):
        """No documents give an empty score array."""
        assert len(np.asarray(scorer.score(SAMPLE_QUERIES[0].text, []))) == 0

    def test_has_fingerprint(self, scorer):
        """The scorer exposes a non-empty fingerprint."""
        assert isinstance(scorer.fingerprint, str) and scorer.fingerprint


class RerankerContract:
    """Tests every reranker must pass. Provide a ``reranker`` fixture; input rankings carry texts."""

    @pytest.fixture
    def candidates(self) -> list[Ranking]:
        """Input rankings (with texts) for the sample queries."""
        ids = [f"d{i}" for i in range(len(SAMPLE_DOCUMENTS))]
        scores = np.arange(len(ids), 0, -1, dtype=np.float32)
        return [Ranking(q.query_id, ids, scores, SAMPLE_DOCUMENTS) for q in SAMPLE_QUERIES]

    def test_permutes_each_ranking(self, reranker, candidates):
        """Each output is a valid permutation of its input ranking."""
        out = reranker.rerank(list(SAMPLE_QUERIES), candidates)
        assert len(out) == len(candidates)
        for before, after in zip(candidates, out):
            assert_valid_ranking(after, before.query_id)
            assert sorted(after.doc_ids.tolist()) == sorted(before.doc_ids.tolist())

    def test_deterministic(self, reranker, candidates):
        """The same input gives the same output."""
        assert reranker.rerank(list(SAMPLE_QUERIES), candidates) == reranker.rerank(list(SAMPLE_QUERIES), candidates)

    def test_has_fingerprint(self, reranker):
        """The reranker exposes a non-empty fingerprint."""
        assert isinstance(reranker.fingerprint, str) and reranker.fingerprint


class ReverseReranker:
    """A reranker that reverses each ranking (for tests of the reranker plumbing)."""

    fingerprint = "reverse"

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """Each ranking in reverse order (scores become negated ranks)."""
        return [
            Ranking(r.query_id, r.doc_ids[::-1], -np.arange(len(r), dtype=np.float32), None if r.texts is None else r.texts[::-1])
            for r in rankings
        ]


def write_beir(folder: Path, docs: list[dict | str], queries: dict[str, str], qrels: dict[str, str]) -> Path:
    """Write a BEIR-layout dataset folder for a test.

    Args:
        folder: Where to write (created if needed).
        docs: Corpus records; a ``str`` is written as a raw (possibly broken) line.
        queries: Query texts by id.
        qrels: One relevant doc id per query id.

    Returns:
        ``folder``.
    """
    import json

    folder.mkdir(parents=True, exist_ok=True)
    lines = [d if isinstance(d, str) else json.dumps(d) for d in docs]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (folder / "qrels").mkdir(exist_ok=True)
    rows = "".join(f"{q}\t{d}\t1\n" for q, d in qrels.items())
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


@pytest.fixture(name="write_beir")
def write_beir_fixture():  # noqa: ANN201
    """:func:`write_beir` as a fixture."""
    return write_beir


def tiny_dataset(root: Path | None = None) -> BeirDataset:
    """A three-document BEIR-layout dataset written to ``root`` (a temporary folder by default)."""
    import tempfile

    root = Path(root or tempfile.mkdtemp(prefix="rankkit-tiny-"))
    titles = ("Vitamin D", "Neural", "Wings")
    docs = [{"_id": f"d{i}", "title": t, "text": x} for i, (t, x) in enumerate(zip(titles, SAMPLE_DOCUMENTS), 1)]
    write_beir(root, docs, {q.query_id: q.text for q in SAMPLE_QUERIES}, {"q1": "d1", "q2": "d2"})
    return BeirDataset("tiny", root)


def assert_no_heavy_imports(statement: str, heavy: Sequence[str], warnings_as_errors: bool = True) -> None:
    """Run ``statement`` in a fresh interpreter and fail if it imported any module of ``heavy``.

    Plugin authors use it to prove that importing or registering their plugin
    starts no JVM and loads no model library.

    Args:
        statement: Python code, e.g. ``"import my_plugin.plugin"``.
        heavy: Top-level module names that must stay unimported (``"torch"``, ``"jnius"``).
        warnings_as_errors: Run with ``-W error``.
    """
    import subprocess
    import sys

    code = f"import sys; {statement}; loaded = sorted(m for m in {tuple(heavy)!r} if m in sys.modules); print(loaded)"
    flags = ["-W", "error"] if warnings_as_errors else []
    result = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", f"{statement!r} imported {result.stdout.strip()}"
