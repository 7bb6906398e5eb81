"""The ``es-knn`` retriever: approximate kNN over the index's ``dense_vector`` field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit.types import Query, Ranking

from rankkit_elasticsearch._search import EsRetrieverBase, to_ranking
from rankkit_elasticsearch.encoders import Encoder, as_matrix, load_encoder
from rankkit_elasticsearch.settings import EsKnnSettings


class EsKnnRetriever(EsRetrieverBase):
    """kNN search; queries are encoded by the encoder the index was built with (or ``encoder``).

    Args:
        settings: The index (built folder, cached index name, or an index/alias on the server), the server
            override, the encoder spec (empty: the one recorded by the builder), the ``dense_vector`` field (empty:
            the builder's) and the candidates per shard (0: ``max(2 k, 100)``)
            (:class:`~rankkit_elasticsearch.settings.EsKnnSettings`).
    """

    def __init__(self, settings: EsKnnSettings) -> None:
        super().__init__(settings.index, settings.url)
        num_candidates = settings.num_candidates
        self.encoder_spec = settings.encoder or self.index.meta.get("encoder") or ""
        self.field = settings.field or self.index.vector_field or ""
        if not self.encoder_spec or not self.field:
            raise ConfigError(
                f"es-knn: index {self.index.name!r} has no vector field/encoder recorded; build it with an `encoder` "
                "or pass `encoder` and `field`"
            )
        self.num_candidates = num_candidates
        self._encoder: Encoder | None = None
        self.fingerprint = fingerprint("retriever", "es-knn", {
            "index": self.index.key, "encoder": self.encoder_spec, "field": self.field, "num_candidates": num_candidates})

    def encode(self, texts: Sequence[str]) -> Any:
        """Query vectors for ``texts``."""
        if self._encoder is None:
            self._encoder = load_encoder(self.encoder_spec)
        return as_matrix(self._encoder.encode_queries(list(texts)), len(texts), self.encoder_spec)

    def knn(self, vector: Any, k: int) -> dict[str, Any]:
        """The ``knn`` section for one query vector."""
        return {"field": self.field, "query_vector": [float(x) for x in vector], "k": k,
                "num_candidates": self.num_candidates or max(2 * k, 100)}

    def search_body(self, query: Query, k: int) -> dict[str, Any]:
        """A ``_search`` body for ``query``'s top ``k``."""
        return self._finish({"knn": self.knn(self.encode([query.text])[0], k)}, k)

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """Top ``k`` per query; queries are encoded in one batch."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"EsKnnRetriever: k must be a positive integer, got {k!r}")
        queries = list(queries)
        if not queries:
            return []
        vectors = self.encode([q.text for q in queries])
        bodies = [self._finish({"knn": self.knn(v, k)}, k) for v in vectors]
        return [to_ranking(q.query_id, r) for q, r in zip(queries, self.msearch(bodies))]

    def __repr__(self) -> str:
        return f"EsKnnRetriever({self.index.name!r}, encoder={self.encoder_spec!r})"
