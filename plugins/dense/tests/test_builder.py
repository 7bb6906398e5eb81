"""Index builds and retrieval on a tiny corpus with tiny models: layout, FAISS types, resume, cache, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankkit.errors import DataFormatError, IndexStateError
from rankkit.indexes import IndexManifest, ensure_index, read_stamp
from rankkit.pipeline import Sequential
from rankkit.registry import Registry
from rankkit.testing import RetrieverContract
from rankkit.types import Query

from rankkit_dense.embeddings import PROGRESS, embedding_cache_root
from rankkit_dense.encoder import DenseEncoder
from rankkit_dense.layout import DOC_IDS, EMBEDDINGS, FAISS_FILE, META_FILE

QUERIES = [Query("q1", "vitamin bone density"), Query("q2", "faiss index graph"), Query("q3", "pasta water salt")]


def build(registry: Registry, root: Path, name: str = "tiny-dense", **params):  # noqa: ANN003, ANN201
    return ensure_index(IndexManifest(name, "tiny", "dense", {"device": "cpu", **params}), registry, root=root)


def test_flat_index_layout_and_stamp(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    built = build(registry, tmp_path / "indexes", model=str(tiny_models.main), shard_size=7)
    names = sorted(p.name for p in built.path.iterdir())
    assert names == sorted([DOC_IDS, EMBEDDINGS, FAISS_FILE, META_FILE, "rankkit-index.json"])
    embeddings = np.load(built.path / EMBEDDINGS, mmap_mode="r")
    assert isinstance(embeddings, np.memmap) and embeddings.dtype == np.float32 and embeddings.shape == (40, 16)
    stats = built.stamp["stats"]
    assert stats["documents"] == 40 and stats["dim"] == 16 and stats["shards"] == 6 and stats["cached_shards"] == 0
    assert built.outcome == "built" and not stats["resumed"]
    assert build(registry, tmp_path / "indexes", model=str(tiny_models.main), shard_size=7).outcome == "reused"
    assert stats["faiss"] == {"type": "flat", "metric": "ip"}
    encoder = DenseEncoder()
    assert stats["encoder"]["model_fingerprint"] != encoder.model_fingerprint
    meta = json.loads((built.path / META_FILE).read_text())
    assert meta["corpus_checksum"] == built.stamp["corpus_checksum"] and meta["encoder"] == stats["encoder"]
    assert "+model-" in built.stamp["builder_version"]
    # the rows are the documents, in corpus order, encoded as title + " " + text
    docs = [json.loads(line) for line in (tiny_mirror / "tiny" / "corpus.jsonl").read_text().splitlines()]
    assert (built.path / DOC_IDS).read_text().split("\n") == [d["_id"] for d in docs]
    from sentence_transformers import SentenceTransformer

    texts = [f"{d['title']} {d['text']}" if d["title"] else d["text"] for d in docs]
    raw = SentenceTransformer(str(tiny_models.main), device="cpu").encode(texts[:7])
    np.testing.assert_array_equal(embeddings[:7], raw)


@pytest.mark.parametrize(
    ("index_type", "params"),
    [("hnsw", {"hnsw_m": 8, "ef_construction": 40, "ef_search": 16}), ("ivf-pq", {"nlist": 2, "pq_m": 4, "pq_nbits": 4})],
)
def test_approximate_indexes_find_the_exact_neighbours_on_a_tiny_corpus(
    index_type: str, params: dict, tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models  # noqa: ANN001
) -> None:
    model = str(tiny_models.main)  # normalised: inner-product graph search needs vectors of equal length
    flat = build(registry, tmp_path / "indexes", "flat", model=model, normalize=True)
    other = build(registry, tmp_path / "indexes", index_type, model=model, normalize=True, index_type=index_type, **params)
    assert other.stamp["stats"]["cached_shards"] == 1  # the embeddings came from the cache
    assert other.stamp["stats"]["faiss"]["type"] == index_type
    exact = registry.build("retriever", "dense", index=str(flat.path), device="cpu")
    approx = registry.build("retriever", "dense", index=str(other.path), device="cpu", nprobe=2, ef_search=64)
    if index_type == "hnsw":  # a graph search: the exact top 10, with the exact scores
        assert exact.retrieve(QUERIES, 10) == approx.retrieve(QUERIES, 10)
    else:  # every list probed: every document, with approximate (PQ) scores
        for a, b in zip(exact.retrieve(QUERIES, 40), approx.retrieve(QUERIES, 40)):
            assert len(b) == 40 and set(a.doc_ids.tolist()) == set(b.doc_ids.tolist())


class TestDenseRetrieverContract(RetrieverContract):
    @pytest.fixture
    def retriever(self, tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models):  # noqa: ANN001, ANN201
        built = build(registry, tmp_path / "indexes", model=str(tiny_models.main))
        return registry.build("retriever", "dense", index=str(built.path), device="cpu")

    def test_composes_and_compiles_the_cutoff(self, retriever) -> None:  # noqa: ANN001
        pipeline = retriever % 3
        assert isinstance(pipeline, Sequential)
        run = pipeline.run(QUERIES)
        assert [len(run[q.query_id]) for q in QUERIES] == [3, 3, 3]
        assert run["q1"].doc_ids.tolist() == retriever.retrieve(QUERIES[:1], 10)[0].doc_ids[:3].tolist()

    def test_k_beyond_the_corpus_and_bad_k(self, retriever) -> None:  # noqa: ANN001
        [ranking] = retriever.retrieve(QUERIES[:1], 1000)
        assert len(ranking) == 40
        with pytest.raises(ValueError, match="positive integer"):
            retriever.retrieve(QUERIES, 0)

    def test_search_takes_encoded_queries(self, retriever) -> None:  # noqa: ANN001
        vectors = retriever.encode(QUERIES)
        assert retriever.search(vectors, QUERIES, 5) == retriever.retrieve(QUERIES, 5)
        with pytest.raises(ValueError, match="shape"):
            retriever.search(vectors[:, :3], QUERIES, 5)


def test_fingerprint_tracks_model_index_and_search_settings(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    built = build(registry, tmp_path / "indexes", model=str(tiny_models.main))
    path = str(built.path)
    base = registry.build("retriever", "dense", index=path, device="cpu").fingerprint
    assert registry.build("retriever", "dense", index=path, device="cpu", batch_size=3, threads=1).fingerprint == base
    assert registry.build("retriever", "dense", index=path, device="cpu", query_prefix="q: ").fingerprint != base
    assert registry.build("retriever", "dense", index=path, device="cpu", model=str(tiny_models.main)).fingerprint == base


def test_components_build_from_settings_without_the_registry(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    from rankkit.datasets import resolve_dataset

    from rankkit_dense.builder import DenseIndexBuilder
    from rankkit_dense.retriever import DenseRetriever
    from rankkit_dense.settings import DenseBuilderSettings, DenseRetrieverSettings

    built = build(registry, tmp_path / "indexes", model=str(tiny_models.main), shard_size=7)
    direct = DenseIndexBuilder(DenseBuilderSettings(model=str(tiny_models.main), device="cpu", shard_size=7), progress=False)
    assert direct.version == built.stamp["builder_version"]
    target = tmp_path / "direct"
    target.mkdir()
    stats = direct.build(resolve_dataset("tiny", registry), target)
    assert stats["cached_shards"] == stats["shards"] == 6  # the same encoder and corpus: the registry build's embeddings
    retriever = DenseRetriever(DenseRetrieverSettings(index=str(built.path), device="cpu"))
    assert retriever.retrieve(QUERIES, 5) == registry.build("retriever", "dense", index=str(target), device="cpu").retrieve(QUERIES, 5)


def test_interrupted_encoding_resumes_from_the_last_finished_shard(
    tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    root = tmp_path / "indexes"
    calls: list[int] = []
    original = DenseEncoder.encode_documents

    def interrupted(self, texts, progress=False):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of shard 4 of 6
        return original(self, texts, progress)

    monkeypatch.setattr(DenseEncoder, "encode_documents", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(registry, root, model=str(tiny_models.main), shard_size=7)
    left = [p.name for p in root.iterdir()]
    assert read_stamp(root / "tiny-dense") is None and not left  # the core left nothing behind
    [entry] = list(embedding_cache_root().iterdir())
    assert json.loads((entry / PROGRESS).read_text())["shards_done"] == 3  # ... but the cache kept 3 shards

    calls.clear()
    resumed = build(registry, root, model=str(tiny_models.main), shard_size=7)
    assert calls == [7, 7, 5]  # shards 4, 5 and 6 only
    assert resumed.stamp["stats"]["cached_shards"] == 3 and resumed.stamp["stats"]["shards"] == 6
    assert resumed.outcome == "resumed" and resumed.summary().startswith("resumed from earlier work, finished in")

    monkeypatch.setattr(DenseEncoder, "encode_documents", original)
    monkeypatch.setenv("RANKKIT_CACHE", str(tmp_path / "fresh-cache"))
    clean = build(registry, tmp_path / "clean", model=str(tiny_models.main), shard_size=7)
    np.testing.assert_array_equal(np.load(resumed.path / EMBEDDINGS), np.load(clean.path / EMBEDDINGS))
    assert (resumed.path / DOC_IDS).read_text() == (clean.path / DOC_IDS).read_text()


def test_embedding_cache_can_be_dropped_after_the_build(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    built = build(registry, tmp_path / "indexes", model=str(tiny_models.main), cache_embeddings=False)
    assert not list(embedding_cache_root().iterdir())
    assert np.load(built.path / EMBEDDINGS).shape == (40, 16)  # the index keeps its own (hard-linked) file


def test_bad_corpus_line_stops_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, tiny_models, write_beir) -> None:  # noqa: ANN001
    mirror = tmp_path / "mirror"
    write_beir(mirror / "broken", [{"_id": "d1", "text": "ok"}, '{"_id": "d2", "text": "broken'], {"q": "x"}, {"q": "d1"})
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    with pytest.raises(DataFormatError, match=r"corpus.jsonl:2: invalid JSON"):
        ensure_index(IndexManifest("broken-dense", "broken", "dense", {"model": str(tiny_models.main)}), registry, root=tmp_path / "idx")
    assert not (tmp_path / "idx" / "broken-dense").exists()


# --- bad input: another model, another dimension, damaged files ------------------------------------


@pytest.fixture
def tiny_index(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models):  # noqa: ANN001, ANN201
    return build(registry, tmp_path / "indexes", model=str(tiny_models.main))


def test_dimension_mismatch_names_both_and_how_to_rebuild(tiny_index, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    with pytest.raises(IndexStateError) as info:
        registry.build("retriever", "dense", index=str(tiny_index.path), model=str(tiny_models.wide), device="cpu")
    message = str(info.value)
    assert "embedding dimension mismatch" in message and "32-dimensional" in message and "16-dimensional" in message
    assert "rankkit index build indexes/tiny-dense.toml --force" in message and "drop `model`" in message


def test_index_built_with_another_model_is_refused(tiny_index, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    with pytest.raises(IndexStateError, match=r"was built with another model: .*main/model.*but the retriever uses .*other/model.*rebuild"):
        registry.build("retriever", "dense", index=str(tiny_index.path), model=str(tiny_models.other), device="cpu")


def test_model_files_changed_since_the_build_are_refused(tiny_mirror: Path, tmp_path: Path, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_models.main, model)
    built = build(registry, tmp_path / "indexes", model=str(model))
    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(tiny_models.other / name, model / name)
    with pytest.raises(IndexStateError, match="the model's files changed since the index was built"):
        registry.build("retriever", "dense", index=str(built.path), device="cpu")
    rebuilt = build(registry, tmp_path / "indexes", model=str(model))  # the builder version covers the files
    assert rebuilt.stamp["key"] != built.stamp["key"]
    registry.build("retriever", "dense", index=str(rebuilt.path), device="cpu")


def test_index_recording_another_fingerprint_is_refused(tiny_index, registry: Registry, tiny_models) -> None:  # noqa: ANN001
    """An index whose recorded model fingerprint is not the core's of its model (e.g. one built under an older
    fingerprint rule) is refused; the builder's version carries the fingerprint, so the builder rebuilds it."""
    from rankkit.models import ModelRef

    meta = json.loads((tiny_index.path / META_FILE).read_text())
    assert meta["encoder"]["model_fingerprint"] == ModelRef.resolve(str(tiny_models.main)).fingerprint()
    assert tiny_index.stamp["builder_version"].endswith(f"+model-{meta['encoder']['model_fingerprint']}")
    meta["encoder"]["model_fingerprint"] = "0123456789abcdef"
    (tiny_index.path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(IndexStateError, match="files 0123456789abcdef.*the model's files changed since the index was built"):
        registry.build("retriever", "dense", index=str(tiny_index.path), device="cpu")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / FAISS_FILE).write_bytes(b"\x00garbage" * 10), "faiss.index is corrupted: FAISS cannot read it"),
        (lambda p: (p / FAISS_FILE).write_bytes((p / FAISS_FILE).read_bytes()[:100]), "faiss.index is corrupted"),
        (lambda p: (p / EMBEDDINGS).unlink(), "embeddings.npy is missing"),
        (lambda p: (p / DOC_IDS).write_text("d1\nd2"), "doc_ids.txt lists 2 ids for 40 documents"),
    ],
)
def test_damaged_index_files_are_named_with_the_fix(damage, message: str, tiny_index, registry: Registry) -> None:  # noqa: ANN001
    damage(tiny_index.path)
    with pytest.raises(IndexStateError) as info:
        registry.build("retriever", "dense", index=str(tiny_index.path), device="cpu")
    assert message in str(info.value) and "rebuild it: `rankkit index build indexes/tiny-dense.toml --force`" in str(info.value)


def test_corrupted_embeddings_are_named(tiny_index) -> None:  # noqa: ANN001
    from rankkit_dense.layout import open_embeddings, resolve_index

    location = resolve_index(tiny_index.path)
    assert open_embeddings(location).shape == (40, 16)
    (tiny_index.path / EMBEDDINGS).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexStateError, match="embeddings.npy is corrupted"):
        open_embeddings(location)
