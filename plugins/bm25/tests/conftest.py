"""Fixtures for rankkit-bm25: the dataset mirror, a tiny BEIR mirror, and one SciFact index per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rankkit.indexes import INDEX_DIR_ENV, BuiltIndex, IndexManifest, ensure_index
from rankkit.registry import Registry
from rankkit.testing import write_beir

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "indexes"


@pytest.fixture
def registry() -> Registry:
    """A registry loaded the normal way: every installed entry point, as for a third party."""
    return Registry.load()


@pytest.fixture(scope="session")
def scifact_index(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltIndex]:
    """indexes/scifact-bm25.toml built once per session into a temporary index root."""
    root = tmp_path_factory.mktemp("indexes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RANKKIT_DATA", str(data_root))
        patch.setenv(INDEX_DIR_ENV, str(root))
        manifest = IndexManifest.load(MANIFESTS / "scifact-bm25.toml")
        yield ensure_index(manifest, Registry.load())


TINY_DOCS = [
    {"_id": "d1", "title": "Lucene", "text": "Lucene is a search library written in Java."},
    {"_id": "d2", "title": "Pyserini", "text": "Pyserini wraps Anserini and Lucene for Python users."},
    {"_id": "d3", "title": "Cooking", "text": "Boil the pasta in salted water for ten minutes."},
    {"_id": "d4", "title": "", "text": "BM25 ranks documents by term frequency and document length."},
]


@pytest.fixture
def tiny_docs() -> list[dict]:
    """Four small documents (one without a title)."""
    return [dict(d) for d in TINY_DOCS]


@pytest.fixture
def tiny_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mirror with one small, valid BEIR dataset named ``tiny``."""
    mirror = tmp_path / "mirror"
    write_beir(mirror / "tiny", TINY_DOCS, {"q1": "java search library", "q2": "pasta water"}, {"q1": "d1", "q2": "d3"})
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    return mirror
