"""The dataset interface every provider returns."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rankkit.types import Document, Qrels, Query

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.docstore import CorpusDocStore


class Dataset(abc.ABC):
    """A test collection: corpus, queries, relevance judgments and optional runs.

    Attributes:
        name: The name it was resolved from (``beir-scifact/test``).
    """

    name: str

    @abc.abstractmethod
    def queries(self) -> list[Query]:
        """The queries of this split, in file order."""

    @abc.abstractmethod
    def iter_documents(self) -> Iterator[Document]:
        """Stream the corpus; never loads it whole."""

    @abc.abstractmethod
    def qrels(self) -> Qrels | None:
        """The relevance judgments of this split, or ``None`` when there are none."""

    def run_files(self) -> dict[str, Path]:
        """Precomputed first-stage runs shipped with the dataset, by name."""
        return {}

    @abc.abstractmethod
    def corpus_checksum(self) -> str:
        """A stable hash of the corpus content; index manifests record it."""

    @abc.abstractmethod
    def checksum(self) -> str:
        """A stable hash of corpus, queries and judgments; run manifests record it."""

    def doc_store(self) -> CorpusDocStore:
        """A doc store over this dataset's corpus (loaded on first access)."""
        from rankkit.docstore import CorpusDocStore

        return CorpusDocStore(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
