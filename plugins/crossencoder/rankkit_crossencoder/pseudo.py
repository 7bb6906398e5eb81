"""Label-free training data from a corpus alone: pseudo-queries whose source document is their one positive.

``pseudo:METHOD[:N]:CORPUS`` names a training dataset built from the corpus of
``CORPUS`` (any dataset name rankkit resolves, e.g. ``beir-scifact``), so a
``[train.NAME]`` section adapts a reranker to a collection without judgments::

    [train.ce-free]
    trainer = "cross-encoder"
    dataset = "pseudo:title+ict:3000:beir-scifact"
    first_stage = { retriever = "bm25", index = "scifact-bm25", k = 100 }

Methods (Chang et al., ICLR 2020), combined with ``+``:

* ``ict``, the Inverse Cloze Task: a sentence of a document is the query; the
  document *without that sentence* is its positive. A text without sentence
  punctuation (e.g. lower-cased abstracts) gives a span of about a fifth of its
  words (4 to 12) instead.
* ``title``, body-first selection: a document's title is the query; the document
  *without its title* (also where the text repeats it at its start) is its positive.

Each chosen document yields one pseudo-query (a seeded sample of ``N``, default
2,000); where both methods apply, one is picked at random. The dataset's corpus
is the original one with each source document's query part removed, so the
model cannot learn to match the query by copying; negatives come from the
section's first stage as for any training dataset. Test queries and qrels are
never read: only the corpus.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from functools import cached_property

import numpy as np

from rankkit.datasets.base import Dataset
from rankkit.datasets.derived import DerivedDatasetProvider
from rankkit.errors import ConfigError
from rankkit.types import Document, Qrels, Query

PREFIX = "pseudo:"
METHODS = ("ict", "title")
DEFAULT_COUNT = 2000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
#: A query needs this many words, and the context left after removing it this many.
MIN_QUERY_WORDS, MIN_CONTEXT_WORDS = 4, 12
#: Without sentence punctuation, ICT takes a span of this share of the words (within the query bounds).
SPAN_SHARE, MAX_SPAN_WORDS = 0.2, 12


def parse_name(name: str) -> tuple[tuple[str, ...], int, str] | None:
    """``(methods, count, corpus)`` of a ``pseudo:`` name, or ``None`` for another name.

    Raises:
        ConfigError: For a ``pseudo:`` name that is malformed, naming the fix.
    """
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split(":")
    usage = f"dataset {name!r}: write pseudo:METHOD[:N]:CORPUS, METHOD one of {'+'.join(METHODS)} joined by '+'"
    if len(parts) == 2:
        methods, count, corpus = parts[0], str(DEFAULT_COUNT), parts[1]
    elif len(parts) == 3:
        methods, count, corpus = parts
    else:
        raise ConfigError(usage)
    chosen = tuple(methods.split("+"))
    if not chosen or any(m not in METHODS for m in chosen) or not count.isdigit() or int(count) < 1 or not corpus:
        raise ConfigError(usage)
    return chosen, int(count), corpus


class PseudoQueryDataset(Dataset):
    """Pseudo-queries over ``base``'s corpus (see the module docstring).

    Args:
        name: The name it was resolved from.
        base: The dataset whose corpus is used (its queries and qrels are never read).
        methods: ``ict`` and/or ``title``.
        count: How many pseudo-queries (at most one per document).
        seed: Seeds the choice of documents, methods and sentences.
    """

    def __init__(self, name: str, base: Dataset, methods: tuple[str, ...], count: int, seed: int = 0) -> None:
        self.name, self.base, self.methods, self.count, self.seed = name, base, methods, count, seed

    @cached_property
    def _made(self) -> tuple[list[Query], dict[str, Document], Qrels]:
        rng = np.random.default_rng(self.seed)
        documents = list(self.base.iter_documents())
        order = rng.permutation(len(documents))
        queries: list[Query] = []
        changed: dict[str, Document] = {}
        for index in order:
            if len(queries) >= self.count:
                break
            doc = documents[index]
            made = self._pseudo(doc, rng)
            if made is None:
                continue
            text, remaining = made
            queries.append(Query(f"pseudo-{len(queries)}", text))
            changed[doc.doc_id] = remaining
        if not queries:
            raise ConfigError(f"dataset {self.name!r}: no document of {self.base.name!r} yields a pseudo-query "
                              f"({'+'.join(self.methods)}: titles, or sentences of {MIN_QUERY_WORDS}+ words in "
                              f"documents of {MIN_CONTEXT_WORDS}+ words)")
        qrels = Qrels(np.array([q.query_id for q in queries], dtype=object), np.array(list(changed), dtype=object),
                      np.ones(len(queries), dtype=np.int64))
        return queries, changed, qrels

    def _pseudo(self, doc: Document, rng: np.random.Generator) -> tuple[str, Document] | None:
        """One (query, document without the query part) for ``doc``, or ``None`` when no method applies."""
        options: list[Callable[[], tuple[str, Document] | None]] = []
        body = doc.text[len(doc.title):].lstrip(" .") if doc.title and doc.text.startswith(doc.title) else doc.text
        if "title" in self.methods and len(doc.title.split()) >= MIN_QUERY_WORDS and len(body.split()) >= MIN_CONTEXT_WORDS:
            options.append(lambda: (doc.title, Document(doc.doc_id, body, "")))
        if "ict" in self.methods:
            options.append(lambda: _cloze(doc, body, rng))
        if not options:
            return None
        return options[int(rng.integers(len(options)))]()

    def queries(self) -> list[Query]:
        """The pseudo-queries."""
        return list(self._made[0])

    def qrels(self) -> Qrels:
        """Each pseudo-query's source document, relevant (grade 1)."""
        return self._made[2]

    def iter_documents(self) -> Iterator[Document]:
        """The base corpus, each source document without its query part."""
        changed = self._made[1]
        for doc in self.base.iter_documents():
            yield changed.get(doc.doc_id, doc)

    def corpus_checksum(self) -> str:
        """Hash of the base corpus and how it was changed."""
        return hashlib.sha256(f"{self.base.corpus_checksum()}|{'+'.join(self.methods)}|{self.count}|{self.seed}".encode()).hexdigest()

    def checksum(self) -> str:
        """Identity of the data: the base corpus and the generation settings (the code's version is in the key)."""
        return hashlib.sha256(f"pseudo-v1|{self.corpus_checksum()}".encode()).hexdigest()


def _cloze(doc: Document, body: str, rng: np.random.Generator) -> tuple[str, Document] | None:
    """The Inverse Cloze Task on ``doc``'s ``body`` (its text without a repeated title): a random sentence (or,
    without punctuation, a random span) as the query, the title and the rest of the body as the positive."""
    sentences = [s for s in _SENTENCE.split(body) if s.strip()]
    if len(sentences) >= 2:
        i = int(rng.integers(len(sentences)))
        query, rest = sentences[i], " ".join(sentences[:i] + sentences[i + 1:])
    else:
        words = body.split()
        size = min(MAX_SPAN_WORDS, max(MIN_QUERY_WORDS, int(round(SPAN_SHARE * len(words)))))
        if len(words) < size + MIN_CONTEXT_WORDS:
            return None
        start = int(rng.integers(len(words) - size + 1))
        query, rest = " ".join(words[start : start + size]), " ".join(words[:start] + words[start + size:])
    if len(query.split()) < MIN_QUERY_WORDS or len(rest.split()) < MIN_CONTEXT_WORDS:
        return None
    return query, Document(doc.doc_id, rest, doc.title)


class PseudoQueryProvider(DerivedDatasetProvider):
    """Resolves ``pseudo:METHOD[:N]:CORPUS`` names (see :mod:`rankkit_crossencoder.pseudo`)."""

    def parse(self, name: str) -> tuple[tuple[tuple[str, ...], int], str] | None:
        """``((methods, count), corpus)`` of a ``pseudo:`` name, ``None`` for another name."""
        parsed = parse_name(name)
        return None if parsed is None else ((parsed[0], parsed[1]), parsed[2])

    def derive(self, name: str, options: tuple[tuple[str, ...], int], base: Dataset) -> Dataset:
        """The pseudo-queries over ``base``'s corpus."""
        return PseudoQueryDataset(name, base, *options)
