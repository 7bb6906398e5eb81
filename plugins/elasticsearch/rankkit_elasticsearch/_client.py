"""Connections to Elasticsearch and the local description of an ES index.

An index built by :class:`~rankkit_elasticsearch.builder.EsIndexBuilder` lives
in the server; rankkit's index cache keeps a small folder that describes it::

    es-index.json         server URL, alias, concrete index, fields, vector field, encoder, counts
    rankkit-index.json    the core's build stamp (written by rankkit.indexes.ensure_index)

Retrievers accept that folder (what experiment files pass), an index name in
rankkit's index cache, or the name of any index or alias on the server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError, IndexStateError

URL_ENV = "RANKKIT_ES_URL"
DEFAULT_URL = "http://127.0.0.1:9200"
META_FILE = "es-index.json"
#: Fields of a rankkit-built index, in the order their texts join into a document's text.
TEXT_FIELDS = ("title", "text")
CONTENTS_FIELD = "contents"
ID_FIELD = "doc_id"


def es_url(url: str = "", saved: str = "") -> str:
    """The server to use: ``url``, else ``$RANKKIT_ES_URL``, else ``saved``, else ``http://127.0.0.1:9200``.

    Args:
        url: An explicit server (a component's ``url`` parameter); wins over everything.
        saved: The server an index was built on (``es-index.json``); the environment variable wins over it,
            so pointing ``RANKKIT_ES_URL`` at another server moves every index there.
    """
    return (url or os.environ.get(URL_ENV) or saved or DEFAULT_URL).rstrip("/")


def make_client(url: str = "", timeout: float = 60.0) -> Any:
    """An ``elasticsearch.Elasticsearch`` client for ``url`` (see :func:`es_url`), with the credentials of
    the environment (``$RANKKIT_ES_API_KEY``, ... : see :mod:`rankkit_elasticsearch.upstream`).

    Raises:
        ConfigError: When the client library is missing, saying how to install it, or the credentials are inconsistent.
    """
    try:
        from elasticsearch import Elasticsearch
    except ImportError as error:  # pragma: no cover
        raise ConfigError(f"the elasticsearch client is not installed ({error}); pip install 'elasticsearch>=9,<10'") from None
    from rankkit_elasticsearch.upstream import Upstream

    upstream = Upstream.from_config({}, es_url(url))
    return Elasticsearch(upstream.url, request_timeout=timeout, retry_on_timeout=True, max_retries=2, **upstream.client_kwargs())


@dataclass(frozen=True)
class EsIndex:
    """A resolved Elasticsearch index.

    Attributes:
        url: The server.
        name: The index or alias that searches go to.
        key: Identity of the indexed content (build key, or the name for a foreign index).
        meta: What the builder recorded (empty for an index rankkit did not build).
    """

    url: str
    name: str
    key: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def default_fields(self) -> tuple[str, ...]:
        """The fields BM25 searches by default: ``contents`` (title + text) when the builder made it."""
        if self.meta.get("contents", False):
            return (CONTENTS_FIELD,)
        return tuple(self.meta.get("text_fields", TEXT_FIELDS))

    @property
    def vector_field(self) -> str | None:
        """The ``dense_vector`` field, when the index has one."""
        return self.meta.get("vector_field") or None

    @property
    def has_id_field(self) -> bool:
        """Whether documents carry their id as a keyword (for trec_eval tie-breaking in ES)."""
        return bool(self.meta.get("id_field", False))


def resolve_index(index: str, url: str = "") -> EsIndex:
    """Find the ES index that ``index`` names.

    Args:
        index: A folder built by the ``elasticsearch`` builder, an index name in
            rankkit's index cache, or an index/alias on the server.
        url: Server override; by default ``$RANKKIT_ES_URL``, else the URL recorded in the folder
            (see :func:`es_url`).

    Raises:
        IndexStateError: For an unreadable folder description.
    """
    folder = Path(index).expanduser()
    if not (folder / META_FILE).is_file() and not folder.is_absolute() and len(folder.parts) == 1:
        from rankkit.indexes import index_root

        folder = index_root() / index
    if (folder / META_FILE).is_file():
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise IndexStateError(f"{folder / META_FILE}: unreadable ({error}); rebuild the index") from None
        return EsIndex(es_url(url, saved=meta.get("url", "")), meta["alias"], meta.get("key", meta["alias"]), meta)
    if "/" in index or index.startswith("."):
        raise IndexStateError(
            f"elasticsearch index {index!r}: no folder with {META_FILE} there; build it with "
            "`rankkit index build indexes/<name>.toml` or name an index on the server"
        )
    return EsIndex(es_url(url), index, index, {})


def check_exists(client: Any, index: EsIndex) -> None:
    """Fail with the fix when the index is not on the server (e.g. a fresh server, a stale cache).

    Raises:
        IndexStateError: Naming the index, the server and how to rebuild.
    """
    if not client.indices.exists(index=index.name):
        raise IndexStateError(
            f"elasticsearch index {index.name!r} does not exist on {index.url}; (re)build it with "
            "`rankkit index build --force indexes/<manifest>.toml`, or point RANKKIT_ES_URL at the server that has it"
        )
