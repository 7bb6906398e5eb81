"""The ``bm25`` reranker: BM25 scores for a given candidate list, from a Lucene index's statistics.

Answer-sentence collections (WikiQA) and curated candidate runs come with their
own candidates; what is missing is a lexical score for each. This reranker asks
Anserini for the BM25 score of every (query, candidate) pair, with the index's
document frequencies and lengths, the same similarity and the same analyzer as
the ``bm25`` retriever, so a candidate's score equals the score the retriever
would give it (for a ``title+text`` index). It is the first-stage score that
curriculum heuristics and score interpolation need when the candidates do not
come from a BM25 search.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.errors import ConfigError, MissingDocumentError
from rankkit.pipeline import Composable
from rankkit.types import SCORE_DTYPE, Query, Ranking

from rankkit_bm25 import _jvm
from rankkit_bm25.layout import IndexLocation, resolve_index
from rankkit_bm25.settings import Bm25Weights


class Bm25Rescorer(Composable):
    """Rescores each ranking's documents with BM25 and re-sorts them.

    Only the ``contents`` field is scored (Anserini's
    ``computeQueryDocumentScore``), which is the whole document in a
    ``title+text`` index.

    Args:
        settings: The index (a built bm25 index folder, a bare Lucene index, or a name in rankkit's index cache)
            and BM25's k1 and b (:class:`~rankkit_bm25.settings.Bm25Weights`).
    """

    def __init__(self, settings: Bm25Weights) -> None:
        self.location: IndexLocation = resolve_index(settings.index)
        self.k1, self.b = float(settings.k1), float(settings.b)
        analyzer = {k: self.location.meta.get(k) for k in ("stemmer", "stopwords")}
        self.fingerprint = fingerprint(
            "reranker", "bm25", {"k1": self.k1, "b": self.b, **analyzer, "index": self.location.key}
        )
        self._java: tuple[Any, Any, Any, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Bm25Rescorer({str(self.location.root)!r}, k1={self.k1}, b={self.b})"

    def _open(self) -> tuple[Any, Any, Any, Any]:
        with self._lock:
            if self._java is None:
                utils = _jvm.autoclass("io.anserini.index.IndexReaderUtils")
                reader = utils.getReader(str(self.location.lucene))
                similarity = _jvm.autoclass("org.apache.lucene.search.similarities.BM25Similarity")(self.k1, self.b)
                meta = self.location.meta
                analyzer = _jvm.lucene_analyzer(str(meta.get("stemmer", "porter")), bool(meta.get("stopwords", True)))
                self._java = (utils, reader, similarity, analyzer)
        return self._java

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """Each ranking's documents with their BM25 scores, best first.

        Raises:
            MissingDocumentError: For a document the index does not hold (its id and the index).
        """
        if not rankings:
            return []
        utils, reader, similarity, analyzer = self._open()
        out = []
        for query, ranking in zip(queries, rankings):
            scores = np.empty(len(ranking), dtype=SCORE_DTYPE)
            for i, doc_id in enumerate(ranking.doc_ids.tolist()):
                if utils.convertDocidToLuceneDocid(reader, doc_id) < 0:
                    raise MissingDocumentError(doc_id, f"the bm25 index {self.location.root} (query {ranking.query_id!r})")
                scores[i] = utils.computeQueryDocumentScoreWithSimilarityAndAnalyzer(
                    reader, doc_id, query.text, similarity, analyzer
                )
            out.append(Ranking(ranking.query_id, ranking.doc_ids, scores, ranking.texts))
        return out

    def close(self) -> None:
        """Release the Lucene reader (reopened on the next call)."""
        with self._lock:
            if self._java is not None:
                self._java[1].close()
                self._java = None
