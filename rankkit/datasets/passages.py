"""Passage-level data from a sentence-level collection: ``passages:DATASET``.

Answer-sentence collections such as WikiQA judge the sentences of one page's
summary. Joining the sentences that share a title (in corpus order) gives one
passage per page; a query's passage is relevant with the best grade of its
sentences. That turns sentence selection into question-to-passage retrieval,
the task of collections such as XQuAD or Natural Questions::

    [train.ra]
    trainer = "xling-ranking"
    dataset = "passages:wikiqa/train"      # WikiQA questions -> their summary paragraph
    first_stage = { retriever = "bm25", index = "wikiqa-passages-bm25", k = 30 }

``passages:untitled:DATASET`` drops the title once it has grouped the
sentences, for targets whose paragraphs have none (SQuAD, XQuAD): a model
trained with titles learns to lean on them. Documents without a title stay
passages of their own. Only queries with a
relevant passage are kept (a WikiQA question whose page does not answer it
has none). The corpus is the same for every split of the base dataset, so one
index serves them all.
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

PREFIX, UNTITLED = "passages:", "untitled:"


class PassageDataset(Dataset):
    """The passages of ``base`` (see the module docstring).

    Args:
        name: The name it was resolved from.
        base: The sentence-level dataset.
        titles: Keep each passage's title (``False``: group by it, then drop it).
    """

    def __init__(self, name: str, base: Dataset, titles: bool = True) -> None:
        self.name, self.base, self.titles = name, base, titles

    @cached_property
    def _passages(self) -> tuple[list[Document], dict[str, str]]:
        """The passages in corpus order, and each base document's passage id."""
        groups: dict[str, list[Document]] = {}
        passage_of: dict[str, str] = {}
        for doc in self.base.iter_documents():
            key = f"title:{doc.title}" if doc.title else f"id:{doc.doc_id}"
            members = groups.setdefault(key, [])
            members.append(doc)
            passage_of[doc.doc_id] = members[0].doc_id
        passages = [Document(m[0].doc_id, " ".join(d.text.strip() for d in m), m[0].title if self.titles else "")
                    for m in groups.values()]
        return passages, passage_of

    @cached_property
    def _qrels(self) -> Qrels:
        base = self.base.qrels()
        if base is None:
            raise ConfigError(f"dataset {self.name!r}: {self.base.name!r} has no judgments; name a split "
                              f"(e.g. {PREFIX}{self.base.name}/train)")
        passage_of = self._passages[1]
        best: dict[tuple[str, str], int] = {}
        for qid, did, grade in zip(base.query_ids.tolist(), base.doc_ids.tolist(), base.relevance.tolist()):
            key = (qid, passage_of.get(did, did))
            best[key] = max(grade, best.get(key, grade))
        answered = {q for (q, _), g in best.items() if g > 0}
        kept = [(q, d, g) for (q, d), g in best.items() if q in answered]
        return Qrels(np.array([k[0] for k in kept], dtype=object), np.array([k[1] for k in kept], dtype=object),
                     np.array([k[2] for k in kept], dtype=np.int64))

    def queries(self) -> list[Query]:
        """The base queries that have a relevant passage, in file order."""
        judged = self._qrels.query_id_set()
        return [q for q in self.base.queries() if q.query_id in judged]

    def qrels(self) -> Qrels:
        """Each kept query's passages, graded with the best grade of their sentences."""
        return self._qrels

    def iter_documents(self) -> Iterator[Document]:
        """The passages, in the order of their first sentence."""
        yield from self._passages[0]

    def corpus_checksum(self) -> str:
        """The base corpus's checksum, marked as grouped."""
        return hashlib.sha256(f"passages-v1|{self.titles}|{self.base.corpus_checksum()}".encode()).hexdigest()

    def checksum(self) -> str:
        """The base dataset's checksum, marked as grouped."""
        return hashlib.sha256(f"passages-v1|{self.titles}|{self.base.checksum()}".encode()).hexdigest()


class PassageProvider(DerivedDatasetProvider):
    """Resolves ``passages:DATASET`` names."""

    def parse(self, name: str) -> tuple[bool, str] | None:
        """``(keep titles, base name)`` for a ``passages:`` name, ``None`` for another name.

        Raises:
            ConfigError: For ``passages:`` with no dataset after it.
        """
        if not name.startswith(PREFIX):
            return None
        base = name[len(PREFIX):]
        titles = not base.startswith(UNTITLED)
        base = base if titles else base[len(UNTITLED):]
        if not base:
            raise ConfigError(f"dataset {name!r}: write passages:[untitled:]DATASET, e.g. passages:wikiqa/train")
        return titles, base

    def derive(self, name: str, options: bool, base: Dataset) -> Dataset:
        """The passages of ``base`` (with titles when ``options``)."""
        return PassageDataset(name, base, titles=options)
