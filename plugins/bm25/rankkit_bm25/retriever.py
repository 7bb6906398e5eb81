"""The ``bm25`` retriever: BM25 (optionally with RM3) over a Lucene index, through Anserini.

Queries go to Anserini's multi-threaded ``batch_search``, the call behind
Pyserini's ``LuceneSearcher.batch_search``, with the same similarity, RM3 and
analyzer settings, so rankings equal Pyserini's. Hits come back as
:class:`~rankkit.types.Ranking` objects (numpy doc ids and float32 scores); no
Java object leaves this module.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit.pipeline import Composable
from rankkit.types import SCORE_DTYPE, Query, Ranking

from rankkit_bm25 import _jvm
from rankkit_bm25.docstore import LuceneDocStore
from rankkit_bm25.layout import IndexLocation, resolve_index
from rankkit_bm25.settings import Bm25Settings

log = logging.getLogger(__name__)

_FIELD_SPEC = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(?:[=:^]\s*([0-9]*\.?[0-9]+))?\s*$")


class Bm25Retriever(Composable):
    """BM25 retrieval from an index built by the ``bm25`` index builder (or any Anserini Lucene index).

    Args:
        settings: The index (a built folder, a bare Lucene index folder, or a name in rankkit's index cache),
            BM25's k1 and b, RM3, threads, and the fields to search with weights (``"contents=1.0 title=1.0"``;
            empty searches ``contents`` for a title+text index, ``contents`` and ``title`` for a separate-fields
            index). See :class:`~rankkit_bm25.settings.Bm25Settings`.
    """

    def __init__(self, settings: Bm25Settings) -> None:
        index, fb_terms, fb_docs, threads = settings.index, settings.fb_terms, settings.fb_docs, settings.threads
        k1, b, rm3, original_query_weight = settings.k1, settings.b, settings.rm3, settings.original_query_weight
        self.location: IndexLocation = resolve_index(index)
        self.k1, self.b, self.rm3 = float(k1), float(b), bool(rm3)
        self.fb_terms, self.fb_docs, self.original_query_weight = fb_terms, fb_docs, float(original_query_weight)
        self.threads = threads
        self.query_fields = parse_fields(settings.fields, self.location)
        settings: dict[str, Any] = {"k1": self.k1, "b": self.b, "rm3": self.rm3, "fields": self.query_fields}
        if self.rm3:
            settings.update(fb_terms=fb_terms, fb_docs=fb_docs, original_query_weight=self.original_query_weight)
        analyzer = {k: self.location.meta.get(k) for k in ("stemmer", "stopwords")}
        self.fingerprint = fingerprint("retriever", "bm25", {**settings, **analyzer, "index": self.location.key})
        self._searcher: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        rm3 = f", rm3({self.fb_terms},{self.fb_docs},{self.original_query_weight})" if self.rm3 else ""
        return f"Bm25Retriever({str(self.location.root)!r}, k1={self.k1}, b={self.b}{rm3})"

    @property
    def searcher(self) -> Any:
        """Anserini's ``SimpleSearcher``, configured; opened (and the JVM started) on first use."""
        if self._searcher is None:
            with self._lock:
                if self._searcher is None:
                    self._searcher = self._open()
        return self._searcher

    def _open(self) -> Any:
        searcher = _jvm.simple_searcher(self.location.lucene)
        meta = self.location.meta
        if (meta.get("stemmer"), meta.get("stopwords")) != ("porter", True):
            searcher.set_analyzer(_jvm.lucene_analyzer(str(meta.get("stemmer")), bool(meta.get("stopwords"))))
        searcher.set_bm25(self.k1, self.b)
        if self.rm3:
            if not searcher.reader.getTermVectors(0):
                raise ConfigError(
                    f"bm25 retriever: rm3 needs document vectors, and {self.location.lucene} has none; "
                    "rebuild the index with the 'bm25' builder (it stores them)"
                )
            searcher.set_rm3(None, self.fb_terms, self.fb_docs, self.original_query_weight, False, True)
        return searcher

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """The top ``k`` documents for each query, in query order.

        Raises:
            ValueError: For ``k < 1``.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"bm25 retriever: k must be a positive integer, got {k!r}")
        queries = list(queries)
        if not queries:
            return []
        searcher = self.searcher
        texts = _jvm.java_string_list([q.text for q in queries])
        # Positional keys: duplicate query ids in one batch must not collapse in Anserini's result map.
        keys = [str(i) for i in range(len(queries))]
        jkeys = _jvm.java_string_list(keys)
        if self.query_fields is None:
            results = searcher.batch_search(texts, jkeys, k, self.threads)
        else:
            weights = _jvm.java_float_map(self.query_fields)
            results = searcher.batch_search_fields(texts, jkeys, k, self.threads, weights)
        return [_to_ranking(q.query_id, results.get(key)) for q, key in zip(queries, keys)]

    def doc_store(self) -> LuceneDocStore:
        """A doc store over this index's stored raw text."""
        return LuceneDocStore(self.location.root)

    def close(self) -> None:
        """Release the Lucene index (the retriever reopens it on the next call)."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None


def _to_ranking(query_id: str, hits: Any) -> Ranking:
    if not hits:
        return Ranking.empty(query_id)
    pairs = [(hit.docid, hit.score) for hit in hits]
    doc_ids, scores = zip(*pairs)
    return Ranking(query_id, np.array(doc_ids, dtype=str), np.array(scores, dtype=SCORE_DTYPE))


def parse_fields(spec: str, location: IndexLocation) -> dict[str, float] | None:
    """Query fields and weights from ``"contents=1.0 title=0.5"`` (also ``,``-separated, ``name`` alone = 1.0).

    Returns:
        ``None`` to search ``contents`` alone (Anserini's default query), else the weights.

    Raises:
        ConfigError: For a malformed spec or a field the index does not have.
    """
    available = location.searchable_fields
    if not spec.strip():
        return None if available == ("contents",) else {name: 1.0 for name in available}
    weights: dict[str, float] = {}
    for part in filter(None, re.split(r"[,\s]+(?=[A-Za-z_])", spec.strip())):
        match = _FIELD_SPEC.match(part)
        if not match:
            raise ConfigError(f"bm25 retriever: cannot parse field {part!r} in fields={spec!r}; write e.g. 'contents=1.0 title=0.5'")
        name, weight = match.group(1), float(match.group(2) or 1.0)
        if name not in available:
            raise ConfigError(
                f"bm25 retriever: the index {location.root} has no field {name!r}; its fields: {', '.join(available)}"
            )
        weights[name] = weight
    return None if weights == {"contents": 1.0} else weights
