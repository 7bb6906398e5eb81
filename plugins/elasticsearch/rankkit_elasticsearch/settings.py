"""The parameters of rankkit-elasticsearch's components, declared once (see :mod:`rankkit.params`).

Importing this module imports neither the ES client nor FastAPI: the registry reads these classes when the
plugin registers. Parameters that several components share are made by one function each, so their defaults
and help are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rankkit.errors import ConfigError
from rankkit.params import Settings, param

#: multi_match types es-bm25 offers.
MATCH_TYPES = ("best_fields", "most_fields", "cross_fields")
#: How es-hybrid combines BM25 and kNN.
FUSIONS = ("sum", "rrf")
#: What an index name must not contain (ES: lower case letters, digits, '_', '-', '.').
INDEX_NAME_JUNK = re.compile(r"[^a-z0-9_.-]+")


def _url() -> Any:
    return param("", help="Elasticsearch URL; empty: $RANKKIT_ES_URL, else the one the index was built on")


def _fields() -> Any:
    return param("", help="fields with boosts, e.g. 'title^2 text'; empty: contents (title + text)")


def _encoder() -> Any:
    return param("", help="query encoder; empty: the one the index was built with")


@dataclass(frozen=True)
class EsBuilderSettings(Settings):
    """The index builder's parameters: the index, its settings and analyzer, the encoder, and how documents are
    sent (documents per bulk request, extra retry rounds after the client helper's own 429 retries, seconds
    before the first retry, doubled each round, and whether to finish when documents still fail)."""

    index: str = param("", help="alias searches use (lower case letters, digits, '_', '-', '.'); documents go to a "
                       "concrete index <alias>-<build key> behind it; empty: rankkit-<dataset>")
    url: str = _url()
    shards: int = param(1, help="number_of_shards", minimum=1)
    replicas: int = param(0, help="number_of_replicas", minimum=0)
    k1: float = param(0.9, help="BM25 k1 of the index similarity", minimum=0)
    b: float = param(0.4, help="BM25 b of the index similarity", minimum=0, maximum=1)
    analyzer: str = param("standard", help="text analyzer ('english' etc. need a full ES distribution)")
    encoder: str = param("", help="fill a dense_vector field named vector: 'hashing[:dims]' (a dependency-free "
                         "feature-hashing encoder) or 'package.module:factory' for any installed encoder offering "
                         "encode_documents(texts) and encode_queries(texts), or one encode(texts)")
    chunk_size: int = param(500, help="documents per bulk request", minimum=1)
    retries: int = param(3, help="retry rounds (with exponential backoff) for documents that still fail after the "
                         "client helper's own retries of chunks refused with 429", minimum=0)
    backoff: float = param(1.0, help="seconds before the first retry, doubled each round", minimum=0)
    allow_failures: bool = param(False, help="finish despite documents that fail after the retries (their ids go to "
                                 "the manifest's failed_ids); false: the build stops with an error that lists them")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.index and INDEX_NAME_JUNK.sub("", self.index.lower()) != self.index:
            raise ConfigError(f"elasticsearch builder: index {self.index!r} must be lower case letters, digits, "
                              "'_', '-' or '.'")


@dataclass(frozen=True)
class EsIndexSettings(Settings):
    """What every ES retriever searches: the index and the server."""

    index: str = param(help="built elasticsearch index folder, a name in rankkit's index cache, or an ES index/alias; "
                       "in an experiment, a manifest name")
    url: str = _url()


@dataclass(frozen=True)
class EsBm25Settings(EsIndexSettings):
    """es-bm25's parameters (the index's similarity sets k1 and b)."""

    fields: str = _fields()
    match_type: str = param("best_fields", help="multi_match type", choices=MATCH_TYPES)
    operator: str = param("or", help="match operator", choices=("or", "and"))


@dataclass(frozen=True)
class EsKnnSettings(EsIndexSettings):
    """es-knn's parameters."""

    encoder: str = _encoder()
    field: str = param("", help="dense_vector field; empty: the builder's")
    num_candidates: int = param(0, help="kNN candidates per shard; 0: max(2k, 100)", minimum=0)


@dataclass(frozen=True)
class EsHybridSettings(EsIndexSettings):
    """es-hybrid's parameters."""

    fields: str = _fields()
    encoder: str = _encoder()
    fusion: str = param("sum", help="'sum' (one ES search with query and knn, boosted scores added by ES) or 'rrf' "
                        "(both searches run, fused in rankkit by reciprocal rank fusion)", choices=FUSIONS)
    bm25_weight: float = param(1.0, help="boost of the BM25 part (sum)", minimum=0)
    knn_weight: float = param(1.0, help="boost of the kNN part (sum)", minimum=0)
