"""Fixtures for rankkit-dense: tiny random models with locally trained tokenizers, a tiny BEIR
mirror, and the SciFact dense indexes built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rankkit.indexes import INDEX_DIR_ENV, BuiltIndex, IndexManifest, ensure_index
from rankkit.registry import Registry
from rankkit.testing import write_beir

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "indexes"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never depend on the hub in tests
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

WORDS = (
    "lucene search library java pyserini anserini python users pasta water salt minutes bm25 ranks "
    "documents term frequency length vitamin bone density neural rankers candidate retrieval dense vectors "
    "faiss index graph cluster quantizer embedding model query passage claim evidence protein cell cancer"
).split()


def tiny_documents(n: int, seed: int = 0) -> list[dict]:
    """``n`` BEIR records of random words (deterministic)."""
    import random

    rng = random.Random(seed)
    return [
        {"_id": f"d{i:03d}", "title": " ".join(rng.sample(WORDS, 2)) if i % 3 else "",
         "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 40)))}
        for i in range(n)
    ]


def make_tiny_model(folder: Path, hidden: int = 16, seed: int = 0, normalize: bool = False) -> Path:
    """A random one-layer BERT with a WordPiece tokenizer trained here, saved as a sentence-transformers model."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator([" ".join(WORDS)] * 3, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=fast.vocab_size, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128)
    hf = folder / "hf"
    BertModel(config).save_pretrained(hf)
    fast.save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=64)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), "mean")]
    if normalize:
        modules.append(Normalize())
    out = folder / "model"
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return out


@dataclass(frozen=True)
class TinyModels:
    """Tiny sentence-transformers models: ``main`` (dim 16), ``other`` (dim 16, other weights), ``wide`` (dim 32)."""

    main: Path
    other: Path
    wide: Path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Three tiny models, made once per session (a few seconds)."""
    root = tmp_path_factory.mktemp("tiny-models")
    return TinyModels(
        make_tiny_model(root / "main", 16, seed=0),
        make_tiny_model(root / "other", 16, seed=1),
        make_tiny_model(root / "wide", 32, seed=2),
    )


@pytest.fixture
def registry() -> Registry:
    """A registry loaded the normal way: every installed entry point, as for a third party."""
    return Registry.load()


@pytest.fixture
def tiny_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mirror with a 40-document BEIR dataset named ``tiny``."""
    mirror = tmp_path / "mirror"
    queries = {"q1": "vitamin bone density", "q2": "faiss index graph", "q3": "pasta water salt"}
    write_beir(mirror / "tiny", tiny_documents(40), queries, {"q1": "d001", "q2": "d002", "q3": "d003"})
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    return mirror


@dataclass(frozen=True)
class ScifactDense:
    """The SciFact dense indexes of indexes/, built once per session, and the caches they were built with."""

    flat: BuiltIndex
    hnsw: BuiltIndex
    index_root: Path
    cache: Path


@pytest.fixture(scope="session")
def scifact_dense(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScifactDense]:
    """indexes/scifact-dense.toml and scifact-dense-hnsw.toml, sharing one encoding of the corpus."""
    root = tmp_path_factory.mktemp("indexes")
    # RANKKIT_DENSE_TEST_CACHE: a rankkit cache to reuse across sessions (its embeddings skip the encoding).
    warm = os.environ.get("RANKKIT_DENSE_TEST_CACHE")
    cache = Path(warm) if warm else tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RANKKIT_DATA", str(data_root))
        patch.setenv(INDEX_DIR_ENV, str(root))
        patch.setenv("RANKKIT_CACHE", str(cache))
        registry = Registry.load()
        flat = ensure_index(IndexManifest.load(MANIFESTS / "scifact-dense.toml"), registry)
        hnsw = ensure_index(IndexManifest.load(MANIFESTS / "scifact-dense-hnsw.toml"), registry)
        yield ScifactDense(flat, hnsw, root, cache)
