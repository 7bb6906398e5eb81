"""FAISS indexes over the embeddings: exact ``flat``, graph ``hnsw`` and compressed ``ivf-pq``.

All three use inner product (``METRIC_INNER_PRODUCT``): with normalised
vectors it is cosine similarity. Vectors are added from the memory-mapped
embeddings in chunks; IVF-PQ is trained on a seeded random sample. The
parameters are :class:`~rankkit_dense.settings.FaissSettings` (importable from
here too), which also resolves them for a corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from rankkit_dense.settings import FaissSettings

#: Rows added to FAISS per call while building.
ADD_CHUNK = 65536


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
