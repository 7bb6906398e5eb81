"""Unit tier: registration, schemas, index layout and parsing; no JVM starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankkit.errors import ConfigError, IndexStateError
from rankkit.registry import Registry
from rankkit.testing import assert_no_heavy_imports

from rankkit_bm25.docstore import text_of_raw
from rankkit_bm25.settings import Bm25Settings
from rankkit_bm25.layout import CORE_STAMP, LUCENE_DIR, META_FILE, resolve_index
from rankkit_bm25.retriever import parse_fields

HEAVY = ("jnius", "jnius_config", "pyserini", "torch")


def test_importing_the_plugin_starts_no_jvm() -> None:
    assert_no_heavy_imports(
        "import rankkit_bm25.plugin, rankkit_bm25.builder, rankkit_bm25.retriever, rankkit_bm25.docstore", HEAVY
    )


def test_registering_through_the_entry_point_starts_no_jvm() -> None:
    assert_no_heavy_imports(
        "from rankkit.registry import Registry; r = Registry.load(); "
        "r.get('retriever', 'bm25'); r.get('index_builder', 'bm25')",
        HEAVY,
        warnings_as_errors=False,
    )


def test_plugin_is_listed_with_its_summary(registry: Registry) -> None:
    assert "bm25" in registry.origins
    origin = registry.origins["bm25"]
    assert origin.distribution == "rankkit-bm25"
    retriever = registry.get("retriever", "bm25")
    builder = registry.get("index_builder", "bm25")
    assert retriever.origin == builder.origin == origin
    assert "BM25" in retriever.spec.summary and "\n" not in retriever.spec.summary
    assert "Lucene" in builder.spec.summary and "\n" not in builder.spec.summary
    listed = {(c["kind"], c["name"]): c for c in map(lambda c: c.as_dict(), registry.all_components())}
    assert listed[("retriever", "bm25")]["plugin"] == "bm25"


def test_parameter_schemas(registry: Registry) -> None:
    retriever = {p.name: p for p in registry.get("retriever", "bm25").spec.params}
    assert retriever["index"].required
    assert (retriever["k1"].default, retriever["b"].default, retriever["rm3"].default) == (0.9, 0.4, False)
    assert (retriever["fb_terms"].default, retriever["fb_docs"].default) == (10, 10)
    assert retriever["original_query_weight"].default == 0.5
    builder = {p.name: p for p in registry.get("index_builder", "bm25").spec.params}
    assert builder["threads"].default == 2
    assert builder["fields"].choices == ("title+text", "separate") and builder["fields"].default == "title+text"
    assert builder["stemmer"].default == "porter" and builder["stopwords"].default is True
    assert all(p.help for p in [*retriever.values(), *builder.values()])


def test_bad_parameters_are_config_errors(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown parameter.*valid parameters"):
        registry.build("retriever", "bm25", index=str(tmp_path), k=5)
    with pytest.raises(ConfigError, match=r"'b' = 1.5 is out of range: it must be in \[0, 1\]"):
        registry.build("retriever", "bm25", index=str(tmp_path), b=1.5)
    with pytest.raises(ConfigError, match="'k1' must be a finite number"):
        registry.build("retriever", "bm25", index=str(tmp_path), k1=float("nan"))
    with pytest.raises(ConfigError, match="'fields' = 'both' is not one of"):
        registry.build("index_builder", "bm25", fields="both")
    with pytest.raises(ConfigError, match="'threads' = 0 is out of range: it must be >= 1"):
        registry.build("index_builder", "bm25", threads=0)
    with pytest.raises(ConfigError, match="'fb_docs' = 0 is out of range"):   # the same rule outside the registry
        Bm25Settings(index=str(tmp_path), fb_docs=0)


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexStateError, match="does not exist.*rankkit index build"):
        resolve_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexStateError, match="not a bm25 index: it has no 'lucene/' folder"):
        resolve_index(tmp_path / "empty")


def _fake_index(root: Path, meta: dict | None = None, key: str | None = "k123") -> Path:
    (root / LUCENE_DIR).mkdir(parents=True)
    (root / LUCENE_DIR / "segments_a").write_bytes(b"commit")
    if meta is not None:
        (root / META_FILE).write_text(json.dumps(meta))
    if key is not None:
        (root / CORE_STAMP).write_text(json.dumps({"key": key}))
    return root


def test_resolve_built_and_bare_indexes(tmp_path: Path) -> None:
    built = resolve_index(_fake_index(tmp_path / "built", {"fields": "separate", "stemmer": "krovetz"}))
    assert built.lucene == tmp_path / "built" / LUCENE_DIR
    assert built.key == "k123" and built.fields == "separate" and built.meta["stemmer"] == "krovetz"
    assert built.searchable_fields == ("contents", "title")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "segments_1").write_bytes(b"x")
    location = resolve_index(bare)
    assert location.lucene == bare and location.fields == "title+text" and len(location.key) == 16


def test_index_name_resolves_in_the_index_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path))
    _fake_index(tmp_path / "scifact-bm25", {})
    monkeypatch.chdir(tmp_path / "scifact-bm25")
    assert resolve_index("scifact-bm25").root == tmp_path / "scifact-bm25"


def test_unfinished_lucene_folder_is_rejected(tmp_path: Path) -> None:
    (tmp_path / LUCENE_DIR).mkdir()
    with pytest.raises(IndexStateError, match="no Lucene commit"):
        resolve_index(tmp_path)


def test_parse_fields(tmp_path: Path) -> None:
    flat = resolve_index(_fake_index(tmp_path / "flat", {}))
    separate = resolve_index(_fake_index(tmp_path / "sep", {"fields": "separate"}))
    assert parse_fields("", flat) is None
    assert parse_fields("contents", flat) is None
    assert parse_fields("", separate) == {"contents": 1.0, "title": 1.0}
    assert parse_fields("contents=1.0 title=0.5", separate) == {"contents": 1.0, "title": 0.5}
    assert parse_fields("contents:2, title", separate) == {"contents": 2.0, "title": 1.0}
    with pytest.raises(ConfigError, match="has no field 'title'"):
        parse_fields("title=1", flat)
    with pytest.raises(ConfigError, match="cannot parse field"):
        parse_fields("contents=abc", separate)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('{"id": "d1", "contents": "Title body"}', "Title body"),
        ('{"id": "d1", "contents": "body", "title": "Title"}', "Title body"),
        ('{"_id": "d1", "title": "Title", "text": "body"}', "Title body"),
        ('{"_id": "d1", "title": "", "text": "body"}', "body"),
        ("<DOC>plain</DOC>", "<DOC>plain</DOC>"),
    ],
)
def test_text_of_raw(raw: str, text: str) -> None:
    assert text_of_raw(raw) == text
