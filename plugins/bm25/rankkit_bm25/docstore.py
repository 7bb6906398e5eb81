"""A doc store over a Lucene index's stored raw text.

The ``bm25`` builder stores each document's JsonCollection record as ``raw``
(``{"id", "contents"}``, plus ``"title"`` for a separate-fields index). The
store returns the text rerankers should see: ``contents`` (title and text
joined, as :attr:`rankkit.types.Document.full_text` does), or title and text
joined for a separate-fields index. Raw BEIR records (``_id``, ``title``,
``text``), as Anserini's ``BeirFlatCollection`` stores them, work too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankkit.errors import IndexStateError, MissingDocumentError

from rankkit_bm25 import _jvm
from rankkit_bm25.layout import resolve_index


class LuceneDocStore:
    """Document texts by id from a bm25 index.

    Args:
        index: The index folder (anything :func:`~rankkit_bm25.layout.resolve_index` accepts).
    """

    def __init__(self, index: str | Path) -> None:
        self.location = resolve_index(index)
        self.label = f"the bm25 index {self.location.root}"
        self._searcher: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LuceneDocStore({str(self.location.root)!r})"

    def _open(self) -> Any:
        with self._lock:
            if self._searcher is None:
                self._searcher = _jvm.simple_searcher(self.location.lucene)
        return self._searcher

    def get(self, doc_id: str) -> str:
        """The text of one document."""
        return self.get_many([doc_id])[0]

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        """Texts of ``doc_ids``, in order.

        Raises:
            MissingDocumentError: Naming the first id the index does not hold.
            IndexStateError: When the index stores neither raw text nor contents.
        """
        searcher = self._searcher or self._open()
        texts = []
        for doc_id in doc_ids:
            document = searcher.doc(str(doc_id))
            if document is None:
                raise MissingDocumentError(str(doc_id), self.label)
            texts.append(self._text(str(doc_id), document))
        return texts

    def _text(self, doc_id: str, document: Any) -> str:
        raw = document.get("raw")
        if raw is None:
            contents = document.get("contents")
            if contents is None:
                raise IndexStateError(
                    f"{self.label} stores neither raw text nor contents (document {doc_id!r}); "
                    "rebuild it with the 'bm25' builder, which stores raw text"
                )
            return str(contents)
        return text_of_raw(str(raw))

    def close(self) -> None:
        """Release the index."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None


def text_of_raw(raw: str) -> str:
    """The document text in a stored raw record (JsonCollection or BEIR JSON; other raw text as is)."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if not isinstance(record, dict):
        return raw
    if "contents" in record:
        title, body = record.get("title") or "", str(record["contents"])
    else:
        title, body = record.get("title") or "", str(record.get("text", ""))
    return f"{title} {body}" if title else body
