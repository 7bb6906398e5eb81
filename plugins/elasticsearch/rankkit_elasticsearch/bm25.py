"""The ``es-bm25`` retriever: BM25 ``match`` / ``multi_match`` in Elasticsearch."""

from __future__ import annotations

from typing import Any

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit.types import Query

from rankkit_elasticsearch._search import EsRetrieverBase, parse_fields

MATCH_TYPES = ("best_fields", "most_fields", "cross_fields")


class EsBm25Retriever(EsRetrieverBase):
    """BM25 over chosen text fields (the index's similarity sets ``k1`` and ``b``).

    Args:
        index: Built folder, cached index name, or an index/alias on the server.
        url: Server override.
        fields: Fields with optional boosts (``"title^2 text"``); empty: ``contents`` of a rankkit-built index.
        match_type: ``multi_match`` type for several fields.
        operator: ``or`` or ``and``.
    """

    def __init__(self, index: str, url: str = "", fields: str = "", match_type: str = "best_fields", operator: str = "or") -> None:
        super().__init__(index, url)
        if match_type not in MATCH_TYPES or operator not in ("or", "and"):
            raise ConfigError(f"es-bm25: match_type must be one of {MATCH_TYPES} and operator 'or'/'and'")
        self.fields = parse_fields(fields, self.index.default_fields)
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
