"""The rankkit hooks of rankkit-bm25 (entry point ``bm25`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and
imported when built; their parameters are the dataclasses of
:mod:`rankkit_bm25.settings`, so registering imports neither pyserini nor jnius
and starts no JVM.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_bm25.settings import Bm25BuilderSettings, Bm25Settings, Bm25Weights

#: What BM25's results depend on besides rankkit and this plugin: Pyserini, which ships Anserini and Lucene.
LIBRARIES = ("pyserini",)


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The Lucene index builder for BM25."""
    return [
        ComponentSpec("index_builder", "bm25", summary="Lucene index via Pyserini/Anserini (positions, docvectors, raw "
                      "text), like Pyserini's BEIR flat indexes", target="rankkit_bm25.builder:Bm25IndexBuilder",
                      settings=Bm25BuilderSettings, libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """BM25 (and BM25+RM3) retrieval from a Lucene index."""
    return [
        ComponentSpec("retriever", "bm25", summary="BM25 (optionally +RM3) over a Lucene index, via Pyserini/Anserini "
                      "batch search", target="rankkit_bm25.retriever:Bm25Retriever", settings=Bm25Settings,
                      libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """BM25 scores for given candidates (answer-sentence lists, curated runs)."""
    return [
        ComponentSpec("reranker", "bm25", summary="BM25 score of each candidate from a Lucene index's statistics "
                      "(Anserini's computeQueryDocumentScore), re-sorted: a lexical first-stage score for candidate "
                      "lists that come without one", target="rankkit_bm25.rescorer:Bm25Rescorer",
                      settings=Bm25Weights, libraries=LIBRARIES)
    ]
