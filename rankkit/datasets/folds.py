"""One fold of a collection, split by document group: ``fold:K/N:DATASET``.

Cross-fitting trains an unsupervised component (a language adapter, a domain
adaptation step) on one part of a collection and evaluates it on the other, so
it is never evaluated on text it was trained on. Documents are split into ``N``
folds by a fixed hash of their *group*: the id up to its last ``-`` (XQuAD's
``ARTICLE-PARAGRAPH`` ids keep an article's paragraphs together; WikiQA's
``PAGE-SENTENCE`` a page's sentences), or the whole id when it has no ``-``.
``fold:0/2:xquad/de`` is the German paragraphs of about half the articles,
``fold:1/2:xquad/de`` the others::

    [train.la-de-0]
    trainer = "xling-language"
    dataset = "fold:0/2:xquad/de"

A fold's queries are those whose relevant documents all lie in it, with their
judgments. The split depends on the ids alone, so parallel collections (the
same ids in every language) split the same way in every language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property

import numpy as np

from rankkit.datasets.base import Dataset
from rankkit.datasets.derived import DerivedDatasetProvider
from rankkit.errors import ConfigError
from rankkit.types import Document, Qrels, Query

PREFIX = "fold:"


def document_group(doc_id: str) -> str:
    """The group of a document id: the id up to its last ``-`` (the whole id without one)."""
    head, dash, _ = doc_id.rpartition("-")
    return head if dash and head else doc_id


def fold_of(doc_id: str, folds: int) -> int:
    """The fold (``0 .. folds-1``) of a document id, by a fixed hash of its group."""
    return int.from_bytes(hashlib.sha256(document_group(doc_id).encode()).digest()[:8], "big") % folds


class FoldDataset(Dataset):
    """Fold ``index`` of ``folds`` of ``base`` (see the module docstring).

    Args:
        name: The name it was resolved from.
        base: The collection.
        index: Which fold (0-based).
        folds: How many folds.
    """

    def __init__(self, name: str, base: Dataset, index: int, folds: int) -> None:
        self.name, self.base, self.index, self.folds = name, base, index, folds

    def _inside(self, doc_id: str) -> bool:
        return fold_of(doc_id, self.folds) == self.index

    def iter_documents(self) -> Iterator[Document]:
        """The documents of this fold, in corpus order."""
        return (doc for doc in self.base.iter_documents() if self._inside(doc.doc_id))

    @cached_property
    def _qrels(self) -> Qrels | None:
        base = self.base.qrels()
        if base is None:
            return None
        outside = {q for q, d, g in zip(base.query_ids.tolist(), base.doc_ids.tolist(), base.relevance.tolist())
                   if g > 0 and not self._inside(d)}
        keep = np.array([q not in outside and self._inside(d) for q, d in zip(base.query_ids, base.doc_ids)], dtype=bool)
        return Qrels(base.query_ids[keep], base.doc_ids[keep], base.relevance[keep])

    def queries(self) -> list[Query]:
        """The queries whose relevant documents all lie in this fold (all queries when there are no judgments)."""
        if self._qrels is None:
            return self.base.queries()
        judged = self._qrels.query_id_set()
        return [q for q in self.base.queries() if q.query_id in judged]

    def qrels(self) -> Qrels | None:
        """The kept queries' judgments of documents in this fold."""
        return self._qrels

    def corpus_checksum(self) -> str:
        """The base corpus's checksum with the fold."""
        return hashlib.sha256(f"fold-v1|{self.index}/{self.folds}|{self.base.corpus_checksum()}".encode()).hexdigest()

    def checksum(self) -> str:
        """The base dataset's checksum with the fold."""
        return hashlib.sha256(f"fold-v1|{self.index}/{self.folds}|{self.base.checksum()}".encode()).hexdigest()


class FoldProvider(DerivedDatasetProvider):
    """Resolves ``fold:K/N:DATASET`` names."""

    def parse(self, name: str) -> tuple[tuple[int, int], str] | None:
        """``((K, N), base name)`` of a ``fold:`` name, ``None`` for another name.

        Raises:
            ConfigError: For a malformed ``fold:`` name, saying how to write it.
        """
        if not name.startswith(PREFIX):
            return None
        spec, _, base = name[len(PREFIX):].partition(":")
        index, slash, folds = spec.partition("/")
        if not (slash and index.isdigit() and folds.isdigit() and base) or not 0 <= int(index) < int(folds):
            raise ConfigError(f"dataset {name!r}: write fold:K/N:DATASET with 0 <= K < N, e.g. fold:0/2:xquad/de")
        return (int(index), int(folds)), base

    def derive(self, name: str, options: tuple[int, int], base: Dataset) -> Dataset:
        """Fold ``K`` of ``N`` of ``base``."""
        return FoldDataset(name, base, *options)
