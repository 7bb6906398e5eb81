"""The ``es-hybrid`` retriever: BM25 and kNN combined, in ES (``sum``) or by rank fusion (``rrf``).

``sum`` sends one search with a ``query`` and a ``knn`` section; ES adds the
boosted scores (the native hybrid of the default distribution, no licence
needed). ``rrf`` runs both retrievers and fuses their rankings with rankkit's
:func:`~rankkit.fusion.reciprocal_rank_fusion` (ES's own ``rrf`` retriever
needs a full distribution and a licence that allows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rankkit.components import fingerprint
from rankkit.fusion import reciprocal_rank_fusion
from rankkit.pipeline import Composable
from rankkit.types import Query, Ranking

from rankkit_elasticsearch._search import to_ranking
from rankkit_elasticsearch.bm25 import EsBm25Retriever
from rankkit_elasticsearch.knn import EsKnnRetriever
from rankkit_elasticsearch.settings import EsBm25Settings, EsHybridSettings, EsKnnSettings


class EsHybridRetriever(Composable):
    """BM25 + kNN.

    Args:
        settings: The index (built folder, cached index name, or an index/alias on the server), the server
            override, the BM25 fields (see :class:`~rankkit_elasticsearch.bm25.EsBm25Retriever`), the encoder spec
            (empty: the builder's), the fusion (``sum``: ES adds ``bm25_weight`` x BM25 and ``knn_weight`` x kNN
            scores; ``rrf``: ``rrf_k`` and depth come from ``rrf``'s defaults)
            (:class:`~rankkit_elasticsearch.settings.EsHybridSettings`).
    """

    def __init__(self, settings: EsHybridSettings) -> None:
        index, url, fusion = settings.index, settings.url, settings.fusion
        self.bm25 = EsBm25Retriever(EsBm25Settings(index=index, url=url, fields=settings.fields))
        self.knn = EsKnnRetriever(EsKnnSettings(index=index, url=url, encoder=settings.encoder))
        self.fusion, self.weights = fusion, (float(settings.bm25_weight), float(settings.knn_weight))
        self.fingerprint = fingerprint("retriever", "es-hybrid", {
            "bm25": self.bm25.fingerprint, "knn": self.knn.fingerprint, "fusion": fusion, "weights": list(self.weights)})

    def search_body(self, query: Query, k: int) -> dict[str, Any]:
        """The single ``_search`` body of ``sum`` fusion."""
        return self._sum_body(query, self.knn.encode([query.text])[0], k)

    def _sum_body(self, query: Query, vector: Any, k: int) -> dict[str, Any]:
        match = {"bool": {"should": [self.bm25.query(query.text)], "boost": self.weights[0]}}
        return self.bm25._finish({"query": match, "knn": {**self.knn.knn(vector, k), "boost": self.weights[1]}}, k)

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """Top ``k`` per query."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"EsHybridRetriever: k must be a positive integer, got {k!r}")
        queries = list(queries)
        if not queries:
            return []
        if self.fusion == "rrf":
            depth = max(k, 100)
            lexical, dense = self.bm25.retrieve(queries, depth), self.knn.retrieve(queries, depth)
            return [reciprocal_rank_fusion([a, b]).top(k) for a, b in zip(lexical, dense)]
        vectors = self.knn.encode([q.text for q in queries])
        bodies = [self._sum_body(query, vector, k) for query, vector in zip(queries, vectors)]
        return [to_ranking(q.query_id, r) for q, r in zip(queries, self.bm25.msearch(bodies))]

    def close(self) -> None:
        """Close both clients."""
        self.bm25.close()
        self.knn.close()
