"""The parameters of rankkit-bm25's components, declared once (see :mod:`rankkit.params`).

Importing this module imports neither pyserini nor jnius: the registry reads these classes when the plugin registers.
"""

from __future__ import annotations

from dataclasses import dataclass

from rankkit.params import Settings, param

from rankkit_bm25.layout import FIELD_LAYOUTS, FLAT, STEMMERS

_INDEX_HELP = ("a built index folder, a bare Lucene index folder (e.g. one Pyserini built), or an index name in "
               "rankkit's index cache; in an experiment, a manifest name")


@dataclass(frozen=True)
class Bm25BuilderSettings(Settings):
    """The Lucene index builder's parameters."""

    threads: int = param(2, help="indexing threads", minimum=1)
    fields: str = param(FLAT, help="title+text: title and text in one contents field, as Pyserini's BEIR flat indexes; "
                        "separate: title in its own title field, as the BEIR multifield indexes", choices=FIELD_LAYOUTS)
    stemmer: str = param("porter", help="stemmer of Anserini's English analyzer", choices=STEMMERS)
    stopwords: bool = param(True, help="remove Lucene's default English stopwords (Anserini's default)")
    optimize: bool = param(False, help="merge the index into one segment")


@dataclass(frozen=True)
class Bm25Weights(Settings):
    """BM25's two parameters (the retriever's and the reranker's)."""

    index: str = param(help=_INDEX_HELP)
    k1: float = param(0.9, help="BM25 k1 (term-frequency saturation)", minimum=0)
    b: float = param(0.4, help="BM25 b (length normalisation)", minimum=0, maximum=1)


@dataclass(frozen=True)
class Bm25Settings(Bm25Weights):
    """The retriever's parameters: BM25, optional RM3, threads and query fields."""

    rm3: bool = param(False, help="expand queries with RM3 pseudo-relevance feedback (needs docvectors, which "
                      "the builder stores)")
    fb_terms: int = param(10, help="RM3 expansion terms", minimum=1)
    fb_docs: int = param(10, help="RM3 feedback documents", minimum=1)
    original_query_weight: float = param(0.5, help="RM3 weight of the original query", minimum=0, maximum=1)
    threads: int = param(2, help="search threads per batch", minimum=1)
    fields: str = param("", help="query fields with weights, e.g. 'contents=1.0 title=0.5'; empty searches the "
                        "index's text fields")
