"""Stamped ES indexes against the real server: lost or changed ones are rebuilt and listed as stale; $RANKKIT_ES_URL wins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rankkit.errors import IndexStateError
from rankkit.indexes import BuiltIndex, IndexManifest, ensure_index, list_indexes
from rankkit.registry import Registry
from rankkit.testing import tiny_dataset
from rankkit.types import Query

from rankkit_elasticsearch._client import META_FILE, URL_ENV, resolve_index
from rankkit_elasticsearch.bm25 import EsBm25Retriever
from rankkit_elasticsearch.settings import EsBm25Settings

pytestmark = pytest.mark.integration

ALIAS = "rankkit-test-index-state"


@pytest.fixture
def manifest(es_url: str, es: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IndexManifest]:
    """``indexes/tiny-es.toml`` over the three-document dataset, built into a fresh index cache on $RANKKIT_ES_URL."""
    tiny_dataset(tmp_path / "data" / "tiny")
    monkeypatch.setenv("RANKKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path / "built"))
    monkeypatch.setenv(URL_ENV, es_url)
    path = tmp_path / "indexes" / "tiny-es.toml"
    path.parent.mkdir()
    path.write_text(f'dataset = "tiny"\nbuilder = "elasticsearch"\n[params]\nindex = "{ALIAS}"\n')
    yield IndexManifest.load(path)
    es.indices.delete(index=f"{ALIAS}-*", ignore_unavailable=True)


def _meta(built: BuiltIndex) -> dict[str, Any]:
    return json.loads((built.path / META_FILE).read_text())


def _row(manifest: IndexManifest, registry: Registry) -> Any:
    [row] = list_indexes([manifest.source.parent], registry=registry)
    return row


def test_index_deleted_on_the_server_is_listed_as_missing_and_rebuilt(
    manifest: IndexManifest, registry: Registry, es: Any, es_url: str
) -> None:
    built = ensure_index(manifest, registry)
    concrete = _meta(built)["index"]
    assert _row(manifest, registry).status == "built"
    es.indices.delete(index=concrete)
    row = _row(manifest, registry)
    assert row.status == "stale"
    assert row.problem == (f"elasticsearch index {concrete!r} is missing on server {es_url}: "
                           f"rebuild it with `rankkit index build {manifest.source}`")
    again = ensure_index(manifest, registry)
    assert again.stamp["created"] >= built.stamp["created"] and not again.stamp["stats"]["reused"]
    assert es.count(index=ALIAS)["count"] == 3 and list(es.indices.get_alias(name=ALIAS).body) == [concrete]
    assert _row(manifest, registry).status == "built"


def test_index_with_another_document_count_is_rebuilt(manifest: IndexManifest, registry: Registry, es: Any) -> None:
    built = ensure_index(manifest, registry)
    concrete = _meta(built)["index"]
    es.delete(index=concrete, id="d2", refresh=True)
    assert "holds 2 documents, not the 3 indexed" in _row(manifest, registry).problem
    ensure_index(manifest, registry)
    assert es.count(index=ALIAS)["count"] == 3
    assert _row(manifest, registry).status == "built"


def test_index_of_a_server_that_is_gone_is_rebuilt_on_the_one_rankkit_es_url_names(
    manifest: IndexManifest, registry: Registry, es: Any, es_url: str, closed_url: str
) -> None:
    built = ensure_index(manifest, registry)
    meta = _meta(built)
    (built.path / META_FILE).write_text(json.dumps({**meta, "url": closed_url}))  # as if built on an older server
    es.indices.delete(index=meta["index"])
    problem = _row(manifest, registry).problem
    assert problem.startswith(f"elasticsearch index {meta['index']!r} is missing on server {es_url} (it was built on {closed_url})")
    again = ensure_index(manifest, registry)
    assert _meta(again)["url"] == es_url and es.count(index=ALIAS)["count"] == 3


def test_rankkit_es_url_wins_over_the_saved_url_and_an_explicit_url_over_both(
    manifest: IndexManifest, registry: Registry, es_url: str, closed_url: str
) -> None:
    built = ensure_index(manifest, registry)
    meta = _meta(built)
    (built.path / META_FILE).write_text(json.dumps({**meta, "url": closed_url}))  # the old server's port is gone
    assert resolve_index(str(built.path)).url == es_url
    assert _row(manifest, registry).status == "built"
    ranking = EsBm25Retriever(EsBm25Settings(index=str(built.path))).retrieve([Query("q1", "vitamin d bone density")], 3)[0]
    assert ranking.doc_ids[0] == "d1"
    assert resolve_index(str(built.path), url="http://127.0.0.1:1/").url == "http://127.0.0.1:1"


def test_unreachable_rankkit_es_url_is_not_reported_as_built(
    manifest: IndexManifest, registry: Registry, es_url: str, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = ensure_index(manifest, registry)
    monkeypatch.setenv(URL_ENV, closed_url)
    row = _row(manifest, registry)
    assert row.status == "stale" and row.problem.startswith(f"server {closed_url} did not answer the check")
    with pytest.raises(IndexStateError, match=f"server {closed_url}\\); is it running"):
        ensure_index(manifest, registry)
    monkeypatch.setenv(URL_ENV, es_url)
    assert ensure_index(manifest, registry).stamp["created"] == built.stamp["created"]
