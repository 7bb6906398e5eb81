"""Bridge to ``ir_datasets`` for users with internet.

The bridge is real code: it loads any ``ir_datasets`` id. Offline, the first
access that needs a download fails with a :class:`DatasetNotFoundError` that
says what was tried, instead of hanging or leaking a network traceback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from rankkit.datasets.base import Dataset
from rankkit.errors import DatasetNotFoundError
from rankkit.types import Document, Qrels, Query

T = TypeVar("T")


class IrDatasetsDataset(Dataset):
    """A dataset served by ``ir_datasets``.

    Args:
        name: The ``ir_datasets`` id.
        handle: The object ``ir_datasets.load`` returned.
        mirror_hint: Where the offline mirror was looked up, for error messages.
    """

    def __init__(self, name: str, handle: Any, mirror_hint: str) -> None:
        self.name = name
        self._handle = handle
        self._hint = mirror_hint

    def _fetch(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - any download/parse failure gets one clear message
            raise DatasetNotFoundError(
                f"dataset {self.name!r} is not in {self._hint}, and ir_datasets could not download its {what} "
                f"({type(error).__name__}: {error}). Put a BEIR-layout copy in the mirror, or run where "
                "ir_datasets can reach the internet once to fill its cache."
            ) from error

    def queries(self) -> list[Query]:
        """Queries, using the ``text`` (or ``title``) field."""
        if not self._handle.has_queries():
            return []

        def load() -> list[Query]:
            out = []
            for q in self._handle.queries_iter():
                text = getattr(q, "text", None) or getattr(q, "title", None) or q.default_text()
                out.append(Query(str(q.query_id), str(text)))
            return out

        return self._fetch("queries", load)

    def iter_documents(self) -> Iterator[Document]:
        """Stream documents (``title`` and ``text`` when the dataset has them)."""
        iterator = self._fetch("documents", lambda: iter(self._handle.docs_iter()))
        while True:
            doc = self._fetch("documents", lambda: next(iterator, None))
            if doc is None:
                return
            text = getattr(doc, "text", None) or doc.default_text()
            yield Document(str(doc.doc_id), str(text), str(getattr(doc, "title", "") or ""))

    @cached_property
    def _qrels(self) -> Qrels | None:
        if not self._handle.has_qrels():
            return None
        rows = self._fetch("qrels", lambda: [(q.query_id, q.doc_id, q.relevance) for q in self._handle.qrels_iter()])
        q, d, r = (zip(*rows) if rows else ((), (), ()))
        return Qrels(np.array(q, dtype=object), np.array(d, dtype=object), np.array(r, dtype=np.int64))

    def qrels(self) -> Qrels | None:
        """Judgments, when the dataset has them."""
        return self._qrels

    def corpus_checksum(self) -> str:
        """Hash of the dataset id and its documents' metadata (ir_datasets pins content by id)."""
        return hashlib.sha256(f"ir_datasets:{self.name}:docs".encode()).hexdigest()

    def checksum(self) -> str:
        """Hash of the dataset id (ir_datasets pins content by id and verifies downloads)."""
        return hashlib.sha256(f"ir_datasets:{self.name}".encode()).hexdigest()


def load_ir_dataset(name: str, mirror_hint: str) -> IrDatasetsDataset | None:
    """Load ``name`` through ``ir_datasets``.

    Returns:
        The dataset, or ``None`` when ``ir_datasets`` does not know the id.

    Raises:
        DatasetNotFoundError: When ``ir_datasets`` is not installed.
    """
    try:
        import ir_datasets
    except ImportError:
        raise DatasetNotFoundError(
            f"dataset {name!r} is not in {mirror_hint}, and ir_datasets is not installed "
            "(pip install 'rankkit[datasets]')"
        ) from None
    try:
        handle = ir_datasets.load(name)
    except KeyError:
        return None
    return IrDatasetsDataset(name, handle, mirror_hint)
