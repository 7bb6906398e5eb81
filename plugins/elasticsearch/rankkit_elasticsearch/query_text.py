"""The text of a search's full-text query: what a rankkit rescorer scores documents against when it names none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TEXT_QUERIES = ("match", "match_phrase", "multi_match", "query_string", "simple_query_string", "combined_fields")


def query_text_of(query: Any) -> str | None:
    """The text of the first full-text query in ``query`` (depth first; iterative, so any nesting is safe)."""
    stack = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for kind in _TEXT_QUERIES:
                found = _full_text(node.get(kind))
                if found:
                    return found
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None


def _full_text(inner: Any) -> str | None:
    """The query text of a ``match``-like query body (``{"query": ...}`` or ``{field: text | {"query": ...}}``)."""
    if not isinstance(inner, Mapping):
        return None
    if isinstance(inner.get("query"), str):
        return inner["query"]
    for value in inner.values():
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and isinstance(value.get("query"), str):
            return value["query"]
    return None
