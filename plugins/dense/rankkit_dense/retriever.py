"""The ``dense`` retriever: queries encoded in batches, searched in a FAISS index, returned as Rankings.

The query encoder is the one the index was built with (model, max_length,
query prefix and normalisation are read from the index) unless overridden; a
model other than the index's is refused before any search, because vectors of
two models are not comparable.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.errors import IndexStateError
from rankkit.pipeline import Composable
from rankkit.types import Query, Ranking

from rankkit_dense.encoder import DenseEncoder
from rankkit_dense.faiss_index import faiss_threads, search_params
from rankkit_dense.layout import DenseIndexLocation, load_doc_ids, read_faiss, resolve_index
from rankkit_dense.settings import DenseRetrieverSettings, EncoderSettings


class DenseRetriever(Composable):
    """Dense retrieval from an index built by the ``dense`` index builder.

    Args:
        settings: The index (a built folder, or an index name in rankkit's index cache), query encoding and
            search settings: see :class:`~rankkit_dense.settings.DenseRetrieverSettings`.
    """

    def __init__(self, settings: DenseRetrieverSettings) -> None:
        self.settings = settings
        self.location: DenseIndexLocation = resolve_index(settings.index)
        built = self.location.encoder
        self.encoder = DenseEncoder(
            EncoderSettings(
                model=self.settings.model or built["model"],
                device=self.settings.device,
                batch_size=self.settings.batch_size,
                max_length=int(built["max_length"]),
                query_prefix=built["query_prefix"] if self.settings.query_prefix is None else self.settings.query_prefix,
                normalize=bool(built["normalize"]),
            )
        )
        check_model(self.encoder, self.location)
        self.index: Any = read_faiss(self.location)
        self.doc_ids: np.ndarray = load_doc_ids(self.location)
        search = {"ef_search": self.settings.ef_search, "nprobe": self.settings.nprobe}
        self.fingerprint = fingerprint("retriever", "dense", {
            "index": self.location.key or self.location.meta.get("corpus_checksum"),
            "model": self.encoder.model_fingerprint,
            "query_prefix": self.encoder.settings.query_prefix,
            "faiss": self.location.faiss_params,
            **{k: v for k, v in search.items() if v},
        })
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DenseRetriever({str(self.location.root)!r}, {self.location.faiss_params.get('type')}, model={self.encoder.settings.model!r})"

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """The top ``k`` documents for each query, in query order (queries encoded in batches).

        Raises:
            ValueError: For ``k < 1``.
        """
        _check_k(k)
        queries = list(queries)
        if not queries:
            return []
        return self.search(self.encode(queries), queries, k)

    def encode(self, queries: Sequence[Query]) -> np.ndarray:
        """Query vectors (float32, one row per query) as :meth:`retrieve` encodes them."""
        return self.encoder.encode_queries([q.text for q in queries])

    def search(self, vectors: np.ndarray, queries: Sequence[Query], k: int) -> list[Ranking]:
        """Rankings for already encoded queries: one FAISS search for the whole batch.

        Args:
            vectors: float32 ``(len(queries), dim)``.
            queries: The queries the rows belong to (for their ids).
            k: Documents per query.
        """
        _check_k(k)
        if len(queries) == 0:
            return []
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(queries), self.index.d):
            raise ValueError(f"dense retriever: expected query vectors of shape {(len(queries), self.index.d)}, got {vectors.shape}")
        k = min(k, self.index.ntotal)
        params = search_params(self.index, k, self.settings.ef_search, self.settings.nprobe)
        with faiss_threads(self.settings.threads):
            scores, rows = self.index.search(vectors, k, params=params)
        if rows.size and rows.min() >= 0:  # every row full: the batch's rankings from FAISS's arrays at once
            return Ranking.batch([q.query_id for q in queries], self.doc_ids[rows], scores)
        return [_ranking(q.query_id, self.doc_ids, r, s) for q, r, s in zip(queries, rows, scores)]

    def close(self) -> None:
        """Release the FAISS index and the model (the retriever cannot be used afterwards)."""
        self.index = None
        self.encoder = None  # type: ignore[assignment]


def check_model(encoder: DenseEncoder, location: DenseIndexLocation) -> None:
    """Refuse a query encoder whose model is not the one the index was built with.

    Models are compared by their fingerprints (:meth:`rankkit.models.ModelRef.fingerprint`, which the index
    records), not by name: the same files under another path pass, new weights under the same name do not.

    Raises:
        IndexStateError: Saying whether the dimension or the model differs, and how to rebuild.
    """
    built = location.encoder
    if encoder.model_fingerprint == built["model_fingerprint"]:
        return
    rebuild = (
        f"set model = {encoder.settings.model!r} in the index manifest and rebuild "
        f"(`rankkit index build indexes/{location.root.name}.toml --force`), or drop `model` from the retriever to "
        "use the index's model"
    )
    dim = encoder.dimension
    if dim != location.dim:
        raise IndexStateError(
            f"dense index {location.root}: embedding dimension mismatch: model {encoder.settings.model!r} makes "
            f"{dim}-dimensional vectors, the index holds {location.dim}-dimensional ones (built with model "
            f"{built['model']!r}); {rebuild}"
        )
    same_name = encoder.settings.model == built["model"]
    raise IndexStateError(
        f"dense index {location.root} was built with another model: {built['model']!r} (files {built['model_fingerprint']}), "
        f"but the retriever uses {encoder.settings.model!r} (files {encoder.model_fingerprint})"
        + ("; the model's files changed since the index was built (or it was built by a rankkit that "
           "fingerprinted models by an older rule)" if same_name else "")
        + f"; {rebuild}"
    )


def _ranking(query_id: str, doc_ids: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> Ranking:
    found = rows >= 0
    if not found.all():
        rows, scores = rows[found], scores[found]
    return Ranking(query_id, doc_ids[rows], scores)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"dense retriever: k must be a positive integer, got {k!r}")

