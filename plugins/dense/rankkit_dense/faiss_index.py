"""FAISS indexes over the embeddings: exact ``flat``, graph ``hnsw`` and compressed ``ivf-pq``.

All three use inner product (``METRIC_INNER_PRODUCT``): with normalised
vectors it is cosine similarity. Vectors are added from the memory-mapped
embeddings in chunks; IVF-PQ is trained on a seeded random sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankkit.errors import ConfigError

INDEX_TYPES = ("flat", "hnsw", "ivf-pq")
#: Rows added to FAISS per call while building.
ADD_CHUNK = 65536


@dataclass(frozen=True)
class FaissSettings:
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

    index_type: str = "flat"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 0
    pq_m: int = 0
    pq_nbits: int = 8
    nprobe: int = 16
    train_size: int = 100_000
    seed: int = 1234
    threads: int = 0

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"dense index builder: index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")
        positive = {"hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                    "pq_nbits": self.pq_nbits, "nprobe": self.nprobe, "train_size": self.train_size}
        bad = [f"{k} must be at least 1, got {v}" for k, v in positive.items() if v < 1]
        bad += [f"{k} must be >= 0, got {v}" for k, v in (("nlist", self.nlist), ("pq_m", self.pq_m), ("threads", self.threads)) if v < 0]
        if self.pq_nbits > 16:
            bad.append(f"pq_nbits must be at most 16, got {self.pq_nbits}")
        if bad:
            raise ConfigError("dense index builder: " + "; ".join(bad))

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


def build_faiss(embeddings: np.ndarray, settings: FaissSettings) -> tuple[Any, dict[str, Any]]:
    """Build the FAISS index over ``embeddings`` (a memory-mapped float32 array).

    Returns:
        The index and its resolved parameters (see :meth:`FaissSettings.resolved`).
    """
    import faiss

    documents, dim = embeddings.shape
    params = settings.resolved(documents, dim)
    with faiss_threads(settings.threads):
        if params["type"] == "flat":
            index = faiss.IndexFlatIP(dim)
        elif params["type"] == "hnsw":
            index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params["ef_construction"]
            index.hnsw.efSearch = params["ef_search"]
        else:
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFPQ(quantizer, dim, params["nlist"], params["pq_m"], params["pq_nbits"], faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = settings.seed
            index.pq.cp.seed = settings.seed
            index.nprobe = params["nprobe"]
            index.train(training_sample(embeddings, params["train_size"], settings.seed))
        for chunk in _chunks(embeddings):
            index.add(chunk)
    return index, params


def training_sample(embeddings: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` rows drawn without replacement (all rows, in order, when ``size`` covers them)."""
    documents = embeddings.shape[0]
    if size >= documents:
        return np.ascontiguousarray(embeddings, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(documents, size=size, replace=False))
    return np.ascontiguousarray(embeddings[rows], dtype=np.float32)


def search_params(index: Any, k: int, ef_search: int = 0, nprobe: int = 0) -> Any:
    """Per-call FAISS search parameters (thread-safe: the index is not modified).

    HNSW searches with ``max(ef_search, k)`` candidates, so a top-1000 search is as complete as a top-10 one.
    """
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(efSearch=max(ef_search or index.hnsw.efSearch, k))
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(nprobe=min(nprobe or index.nprobe, index.nlist))
    return None


@contextmanager
def faiss_threads(threads: int) -> Iterator[None]:
    """FAISS's OpenMP thread count set to ``threads`` inside the block (0: unchanged)."""
    if not threads:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _chunks(embeddings: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, embeddings.shape[0], ADD_CHUNK):
        yield np.ascontiguousarray(embeddings[start : start + ADD_CHUNK], dtype=np.float32)
