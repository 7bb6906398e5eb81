"""A multilingual collection from parallel ones: ``mixed:L1+L2+...:COLLECTION/QLANG``.

Parallel collections (XQuAD: the same paragraphs and ids in every language)
give a *multilingual* retrieval setting (Litschko et al., 2022): one corpus whose
documents are in different languages. Each document group (an XQuAD article,
see :func:`rankkit.datasets.folds.document_group`) appears in exactly one of
the listed languages, chosen by a fixed hash of the group, and its documents
are renamed ``LANG:ID``. Queries come from ``COLLECTION/QLANG``, whose
judgments are rewritten to the renamed ids::

    dataset = "mixed:de+es+ru+zh:xquad/en"     # English questions over paragraphs in four languages

Scorers that take document ids can read a document's language from its
``LANG:`` prefix (the xling scorer's ``doc_lang = "id"``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property

from rankkit.datasets.base import Dataset
from rankkit.datasets.derived import DerivedDatasetProvider
from rankkit.datasets.folds import document_group
from rankkit.errors import ConfigError
from rankkit.types import Document, Qrels, Query

PREFIX = "mixed:"


def language_of(doc_id: str, languages: tuple[str, ...]) -> str:
    """The language a document group appears in: a fixed hash of the group picks one of ``languages``."""
    digest = hashlib.sha256(f"mixed|{document_group(doc_id)}".encode()).digest()
    return languages[int.from_bytes(digest[:8], "big") % len(languages)]


def split_language(doc_id: str) -> tuple[str, str]:
    """``(language, original id)`` of a ``LANG:ID`` document id (``("", doc_id)`` without a prefix)."""
    lang, colon, rest = doc_id.partition(":")
    return (lang, rest) if colon and rest else ("", doc_id)


class MixedDataset(Dataset):
    """The multilingual collection (see the module docstring).

    Args:
        name: The name it was resolved from.
        queries: The query-side collection (its queries and judgments are used).
        corpora: The parallel collection in each language, by language code.
    """

    def __init__(self, name: str, queries: Dataset, corpora: dict[str, Dataset]) -> None:
        self.name, self.base, self.corpora = name, queries, corpora
        self.languages = tuple(corpora)

    def iter_documents(self) -> Iterator[Document]:
        """Each group's documents in its chosen language, renamed ``LANG:ID``; groups in the first corpus's order."""
        texts = {lang: {d.doc_id: d for d in corpus.iter_documents()} for lang, corpus in self.corpora.items()}
        for doc_id in texts[self.languages[0]]:
            lang = language_of(doc_id, self.languages)
            doc = texts[lang].get(doc_id)
            if doc is None:
                raise ConfigError(f"dataset {self.name!r}: document {doc_id!r} is missing from "
                                  f"{self.corpora[lang].name!r}; the collections are not parallel")
            yield Document(f"{lang}:{doc_id}", doc.text, doc.title)

    @cached_property
    def _qrels(self) -> Qrels | None:
        base = self.base.qrels()
        if base is None:
            return None
        renamed = [f"{language_of(d, self.languages)}:{d}" for d in base.doc_ids.tolist()]
        return Qrels(base.query_ids, renamed, base.relevance)

    def queries(self) -> list[Query]:
        """The query-side collection's queries."""
        return self.base.queries()

    def qrels(self) -> Qrels | None:
        """The query-side judgments, with document ids renamed to ``LANG:ID``."""
        return self._qrels

    def corpus_checksum(self) -> str:
        """The corpora's checksums with the languages."""
        parts = "|".join(f"{lang}={c.corpus_checksum()}" for lang, c in self.corpora.items())
        return hashlib.sha256(f"mixed-v1|{parts}".encode()).hexdigest()

    def checksum(self) -> str:
        """The corpus checksum with the query side's."""
        return hashlib.sha256(f"mixed-v1|{self.corpus_checksum()}|{self.base.checksum()}".encode()).hexdigest()


class MixedProvider(DerivedDatasetProvider):
    """Resolves ``mixed:L1+L2+...:COLLECTION/QLANG`` names."""

    def parse(self, name: str) -> tuple[tuple[str, ...], str] | None:
        """``(languages, query collection)`` of a ``mixed:`` name, ``None`` for another name.

        Raises:
            ConfigError: For a malformed ``mixed:`` name, saying how to write it.
        """
        if not name.startswith(PREFIX):
            return None
        spec, _, base = name[len(PREFIX):].partition(":")
        languages = tuple(spec.split("+"))
        if not base or "/" not in base or not all(languages) or len(set(languages)) != len(languages):
            raise ConfigError(f"dataset {name!r}: write mixed:L1+L2+...:COLLECTION/QLANG with distinct languages, "
                              "e.g. mixed:de+es+ru+zh:xquad/en")
        return languages, base

    def derive(self, name: str, options: tuple[str, ...], base: Dataset) -> Dataset:
        """The mixed collection: ``base``'s queries over the sibling collections ``COLLECTION/L``."""
        from rankkit.datasets import resolve_dataset

        parent = name[len(PREFIX):].partition(":")[2].rsplit("/", 1)[0]
        corpora = {lang: resolve_dataset(f"{parent}/{lang}", self.registry) for lang in options}  # type: ignore[arg-type]
        return MixedDataset(name, base, corpora)
