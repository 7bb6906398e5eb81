"""The ``es-bm25`` retriever: BM25 ``match`` / ``multi_match`` in Elasticsearch."""

from __future__ import annotations

from typing import Any

from rankkit.components import fingerprint
from rankkit.types import Query

from rankkit_elasticsearch._search import EsRetrieverBase, parse_fields
from rankkit_elasticsearch.settings import EsBm25Settings


class EsBm25Retriever(EsRetrieverBase):
    """BM25 over chosen text fields (the index's similarity sets ``k1`` and ``b``).

    Args:
        settings: The index (built folder, cached index name, or an index/alias on the server), the server
            override, the fields with optional boosts (``"title^2 text"``; empty: ``contents`` of a rankkit-built
            index), the ``multi_match`` type for several fields and the operator
            (:class:`~rankkit_elasticsearch.settings.EsBm25Settings`).
    """

    def __init__(self, settings: EsBm25Settings) -> None:
        super().__init__(settings.index, settings.url)
        match_type, operator = settings.match_type, settings.operator
        self.fields = parse_fields(settings.fields, self.index.default_fields)
        self.match_type, self.operator = match_type, operator
        self.fingerprint = fingerprint("retriever", "es-bm25", {
            "index": self.index.key, "fields": self.fields, "type": match_type, "operator": operator})

    def query(self, text: str) -> dict[str, Any]:
        """The ES query for ``text``: ``match`` for one field, ``multi_match`` for several."""
        if len(self.fields) == 1 and "^" not in self.fields[0]:
            return {"match": {self.fields[0]: {"query": text, "operator": self.operator}}}
        return {"multi_match": {"query": text, "fields": self.fields, "type": self.match_type, "operator": self.operator}}

    def search_body(self, query: Query, k: int) -> dict[str, Any]:
        """A ``_search`` body for ``query``'s top ``k``."""
        return self._finish({"query": self.query(query.text)}, k)

    def __repr__(self) -> str:
        return f"EsBm25Retriever({self.index.name!r}, fields={self.fields})"
