"""What the ES retrievers share: the client, batched ``_msearch`` and hits to rankings."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankkit.errors import IndexStateError
from rankkit.pipeline import Composable
from rankkit.types import SCORE_DTYPE, Query, Ranking

from rankkit_elasticsearch._client import ID_FIELD, EsIndex, check_exists, make_client, resolve_index


class EsRetrieverBase(Composable):
    """Base of the ES retrievers: builds one search body per query and sends them in one ``_msearch``.

    Subclasses implement :meth:`search_body`. When the index carries ``doc_id``
    (rankkit-built), hits are sorted by score and then doc id descending, which
    is trec_eval's order, so ties are cut at ``k`` the same way every time.

    Args:
        index: Built folder, cached index name, or an index/alias on the server.
        url: Server override.
        timeout: Seconds per request.
    """

    def __init__(self, index: str, url: str = "", timeout: float = 60.0) -> None:
        self.index: EsIndex = resolve_index(index, url)
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The ``Elasticsearch`` client, created (and the index checked) on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    client = make_client(self.index.url, self.timeout)
                    check_exists(client, self.index)
                    self._client = client
        return self._client

    def search_body(self, query: Query, k: int) -> dict[str, Any]:
        """The ``_search`` body for one query (``size`` = ``k``)."""
        raise NotImplementedError

    def _finish(self, body: dict[str, Any], k: int) -> dict[str, Any]:
        body = {**body, "size": k, "_source": False}
        if self.index.has_id_field:
            body["sort"] = [{"_score": "desc"}, {ID_FIELD: "desc"}]
            body["track_scores"] = True
        return body

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """The top ``k`` hits for each query, in query order.

        Raises:
            ValueError: For ``k < 1``.
            IndexStateError: When the server answers a search with an error.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be a positive integer, got {k!r}")
        queries = list(queries)
        if not queries:
            return []
        return [to_ranking(q.query_id, r) for q, r in zip(queries, self.msearch([self.search_body(q, k) for q in queries]))]

    def msearch(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Responses of ``bodies`` against this index (one ``_msearch`` request)."""
        searches: list[dict[str, Any]] = []
        for body in bodies:
            searches.extend(({"index": self.index.name}, body))
        responses = self.client.msearch(searches=searches)["responses"]
        for response in responses:
            if "error" in response:
                raise IndexStateError(f"elasticsearch search on {self.index.name!r} failed: {response['error']}")
        return list(responses)

    def close(self) -> None:
        """Close the client (a new one opens on the next call)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def to_ranking(query_id: str, response: dict[str, Any]) -> Ranking:
    """A ranking from a ``_search`` response (doc ids are ``_id``; scores float32 as ES computes them)."""
    hits = response["hits"]["hits"]
    if not hits:
        return Ranking.empty(query_id)
    return Ranking(query_id, np.array([h["_id"] for h in hits], dtype=str), np.array([h["_score"] for h in hits], dtype=SCORE_DTYPE))


def parse_fields(spec: str, default: Sequence[str]) -> list[str]:
    """ES field list from ``"title^2 text"`` / ``"title^2,text"`` (``default`` when empty)."""
    parts = [p for p in spec.replace(",", " ").split() if p]
    return parts or list(default)
