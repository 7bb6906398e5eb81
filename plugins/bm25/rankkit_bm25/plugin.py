"""The rankkit hooks of rankkit-bm25 (entry point ``bm25`` in the ``rankkit`` group).

Only hook implementations live here. Factories import the components when
called, so registering them imports neither pyserini nor jnius and starts no JVM.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl

_FIELDS = ("title+text", "separate")
_STEMMERS = ("porter", "krovetz", "none")


def _builder(**params: Any) -> Any:
    from rankkit_bm25.builder import Bm25IndexBuilder

    return Bm25IndexBuilder(**params)


def _retriever(**params: Any) -> Any:
    from rankkit_bm25.retriever import Bm25Retriever

    return Bm25Retriever(**params)


def _rescorer(**params: Any) -> Any:
    from rankkit_bm25.rescorer import Bm25Rescorer

    return Bm25Rescorer(**params)


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The Lucene index builder for BM25."""
    return [
        ComponentSpec(
            "index_builder",
            "bm25",
            _builder,
            "Lucene index via Pyserini/Anserini (positions, docvectors, raw text), like Pyserini's BEIR flat indexes",
            (
                Param("threads", int, 2, "indexing threads"),
                Param("fields", str, "title+text", "'title+text': one contents field (BEIR flat); "
                      "'separate': title in its own field (BEIR multifield)", _FIELDS),
                Param("stemmer", str, "porter", "stemmer of Anserini's English analyzer", _STEMMERS),
                Param("stopwords", bool, True, "remove Lucene's default English stopwords (Anserini's default)"),
                Param("optimize", bool, False, "merge the index into one segment"),
            ),
        )
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """BM25 (and BM25+RM3) retrieval from a Lucene index."""
    return [
        ComponentSpec(
            "retriever",
            "bm25",
            _retriever,
            "BM25 (optionally +RM3) over a Lucene index, via Pyserini/Anserini batch search",
            (
                Param("index", str, help="built bm25 index folder (or a name in rankkit's index cache)"),
                Param("k1", float, 0.9, "BM25 k1 (term-frequency saturation)"),
                Param("b", float, 0.4, "BM25 b (length normalisation)"),
                Param("rm3", bool, False, "expand queries with RM3 pseudo-relevance feedback"),
                Param("fb_terms", int, 10, "RM3 expansion terms"),
                Param("fb_docs", int, 10, "RM3 feedback documents"),
                Param("original_query_weight", float, 0.5, "RM3 weight of the original query"),
                Param("threads", int, 2, "search threads per batch"),
                Param("fields", str, "", "query fields with weights, e.g. 'contents=1.0 title=0.5'; "
                      "empty: the index's text fields"),
            ),
        )
    ]


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """BM25 scores for given candidates (answer-sentence lists, curated runs)."""
    return [
        ComponentSpec(
            "reranker",
            "bm25",
            _rescorer,
            "BM25 score of each candidate from a Lucene index's statistics (Anserini's computeQueryDocumentScore), "
            "re-sorted: a lexical first-stage score for candidate lists that come without one",
            (
                Param("index", str, help="built bm25 index folder over the candidates' collection (or a cached index name)"),
                Param("k1", float, 0.9, "BM25 k1 (term-frequency saturation)"),
                Param("b", float, 0.4, "BM25 b (length normalisation)"),
            ),
        )
    ]
