"""Request targets as Elasticsearch reads them: the raw path, split and decoded per segment, and what it does.

The proxy never decodes a path and re-encodes it: ``%23``, ``%3F`` and ``%2F``
would turn into a fragment, a query string and a separator, and ``DELETE
/victim%23old`` would delete ``victim``. Elasticsearch splits the *raw* path on
``/`` and then decodes each segment, so ``/logs%2F..%2Fvictim`` names one
(invalid) index. :func:`parse_target` does the same to decide what a request
is, and the proxy forwards the raw bytes it received, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from rankkit_elasticsearch.errors import RescoreError

Kind = Literal["search", "read", "write"]

# RFC 3986 path characters (pchar and "/") with well-formed percent escapes; the same for a query string plus "?".
_PATH = re.compile(rb"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_QUERY = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
#: Requests that change nothing, by method and whole path shape: ``{i}`` is an index expression (not
#: starting with ``_``, except ``_all``), ``{id}`` any one segment. Anything else is a write.
_READ_SHAPES = {
    "POST": {
        ("_search",), ("_msearch",), ("_count",), ("_mget",), ("_field_caps",), ("_mtermvectors",), ("_query",),
        ("_search", "template"), ("_msearch", "template"), ("_render", "template"), ("_render", "template", "{id}"),
        ("_validate", "query"), ("_search", "scroll"),
        ("{i}", "_search"), ("{i}", "_msearch"), ("{i}", "_count"), ("{i}", "_mget"), ("{i}", "_field_caps"),
        ("{i}", "_mtermvectors"), ("{i}", "_pit"), ("{i}", "_terms_enum"), ("{i}", "_knn_search"), ("{i}", "_termvectors"),
        ("{i}", "_search", "template"), ("{i}", "_msearch", "template"), ("{i}", "_validate", "query"),
        ("{i}", "_explain", "{id}"), ("{i}", "_termvectors", "{id}"),
    },
    # releasing a point in time or a scroll context changes no data
    "DELETE": {("_pit",), ("_search", "scroll"), ("_search", "scroll", "{id}")},
}
_MAX_PATH = 4096


@dataclass(frozen=True)
class Target:
    """A request target.

    Attributes:
        raw_path: The path bytes exactly as received (forwarded as they are).
        raw_query: The query string bytes exactly as received (without ``?``).
        segments: The path split on ``/`` (raw), each segment then percent-decoded, as Elasticsearch does.
    """

    raw_path: bytes
    raw_query: bytes
    segments: tuple[str, ...]

    @property
    def upstream(self) -> str:
        """Path and query to send upstream: the received bytes (all ASCII, checked)."""
        query = b"?" + self.raw_query if self.raw_query else b""
        return (self.raw_path + query).decode("ascii")

    @property
    def search_index(self) -> str | None:
        """For ``/{index}/_search``: the index expression (decoded); ``""`` for ``/_search``; else ``None``."""
        if self.segments == ("_search",):
            return ""
        if _shape(self.segments, ("{i}", "_search")):
            return self.segments[0]
        return None

    def kind(self, method: str) -> Kind:
        """``search`` (may carry rankkit rescorers), ``read`` (changes nothing) or ``write``."""
        if self.search_index is not None and method in ("GET", "POST"):
            return "search"
        if method in ("GET", "HEAD"):
            return "read"
        if any(_shape(self.segments, shape) for shape in _READ_SHAPES.get(method, ())):
            return "read"
        return "write"

    def printable(self, limit: int = 200) -> str:
        """The raw path for a log line or a message (ASCII, bounded)."""
        return printable_path(self.raw_path, limit)


def printable_path(raw: bytes, limit: int = 200) -> str:
    """Raw path bytes as one safe line: non-ASCII bytes escaped, at most ``limit`` characters (then ``...``)."""
    text = raw.decode("ascii", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + "..."


def _shape(segments: tuple[str, ...], shape: tuple[str, ...]) -> bool:
    """Whether ``segments`` has exactly the form ``shape`` (see ``_READ_SHAPES``)."""
    if len(segments) != len(shape):
        return False
    for segment, part in zip(segments, shape):
        if part == "{i}":
            if not segment or (segment.startswith("_") and segment != "_all"):
                return False
        elif part != "{id}" and segment != part:
            return False
    return True


def parse_target(raw_path: bytes, raw_query: bytes) -> Target:
    """Check and split a request target.

    Raises:
        RescoreError: (400) for bytes outside RFC 3986, a malformed percent escape, a ``.`` or ``..``
            segment (raw or encoded), or a path longer than 4096 bytes: refused, never guessed at.
    """
    if len(raw_path) > _MAX_PATH or not _PATH.fullmatch(raw_path):
        raise RescoreError("the request path must be an RFC 3986 path (ASCII, well-formed percent escapes) of at most "
                           f"{_MAX_PATH} bytes; rankkit serve forwards paths exactly as received and refuses others",
                           es_type="rankkit_bad_path_exception")
    if not _QUERY.fullmatch(raw_query):
        raise RescoreError("the query string must be RFC 3986 (ASCII, well-formed percent escapes)",
                           es_type="rankkit_bad_path_exception")
    parts = raw_path.decode("ascii").split("/")[1:]
    if "" in parts[:-1]:
        raise RescoreError("the request path has an empty segment ('//'); rankkit serve refuses it rather than guess",
                           es_type="rankkit_bad_path_exception")
    try:
        segments = tuple(unquote(p, errors="strict") if "%" in p else p for p in parts if p)
    except UnicodeDecodeError:
        raise RescoreError("a percent-encoded path segment is not UTF-8", es_type="rankkit_bad_path_exception") from None
    if any(s in (".", "..") for s in segments):
        raise RescoreError("the request path has a '.' or '..' segment; rankkit serve refuses it rather than resolve it",
                           es_type="rankkit_bad_path_exception")
    return Target(raw_path, raw_query, segments)
