"""The rankkit hooks of rankkit-elasticsearch (entry point ``elasticsearch`` in the ``rankkit`` group).

Only hook implementations live here. Factories import the components when
called, so registering them imports neither the ES client nor FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click

_INDEX = Param("index", str, help="built elasticsearch index folder, a name in rankkit's index cache, or an ES index/alias")
_URL = Param("url", str, "", "Elasticsearch URL; empty: $RANKKIT_ES_URL, else the one the index was built on")


def _builder(chunk_size: int, retries: int, backoff: float, allow_failures: bool, **params: Any) -> Any:
    from rankkit_elasticsearch.builder import BulkSettings, EsIndexBuilder

    return EsIndexBuilder(**params, bulk=BulkSettings(chunk_size, retries, backoff, allow_failures))


def _bm25(**params: Any) -> Any:
    from rankkit_elasticsearch.bm25 import EsBm25Retriever

    return EsBm25Retriever(**params)


def _knn(**params: Any) -> Any:
    from rankkit_elasticsearch.knn import EsKnnRetriever

    return EsKnnRetriever(**params)


def _hybrid(bm25_weight: float, knn_weight: float, **params: Any) -> Any:
    from rankkit_elasticsearch.hybrid import EsHybridRetriever

    return EsHybridRetriever(**params, weights=(bm25_weight, knn_weight))


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The Elasticsearch index builder."""
    return [
        ComponentSpec(
            "index_builder", "elasticsearch", _builder,
            "a dataset into an Elasticsearch index (bulk, retries, alias swap; optional dense_vector)",
            (
                Param("index", str, "", "alias searches use; empty: rankkit-<dataset>"),
                _URL,
                Param("shards", int, 1, "number_of_shards"),
                Param("replicas", int, 0, "number_of_replicas"),
                Param("k1", float, 0.9, "BM25 k1 of the index similarity"),
                Param("b", float, 0.4, "BM25 b of the index similarity"),
                Param("analyzer", str, "standard", "text analyzer ('english' etc. need a full ES distribution)"),
                Param("encoder", str, "", "fill a dense_vector field: 'hashing[:dims]' or 'package.module:factory'"),
                Param("chunk_size", int, 500, "documents per bulk request"),
                Param("retries", int, 3, "retry rounds (with exponential backoff) for failed documents"),
                Param("backoff", float, 1.0, "seconds before the first retry"),
                Param("allow_failures", bool, False, "finish despite failed documents (their ids go to the manifest)"),
            ),
        )
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """BM25, kNN and hybrid retrieval from Elasticsearch."""
    fields = Param("fields", str, "", "fields with boosts, e.g. 'title^2 text'; empty: contents (title + text)")
    encoder = Param("encoder", str, "", "query encoder; empty: the one the index was built with")
    return [
        ComponentSpec("retriever", "es-bm25", _bm25, "BM25 match/multi_match in Elasticsearch", (
            _INDEX, _URL, fields,
            Param("match_type", str, "best_fields", "multi_match type", ("best_fields", "most_fields", "cross_fields")),
            Param("operator", str, "or", "match operator", ("or", "and")),
        )),
        ComponentSpec("retriever", "es-knn", _knn, "approximate kNN over an Elasticsearch dense_vector field", (
            _INDEX, _URL, encoder,
            Param("field", str, "", "dense_vector field; empty: the builder's"),
            Param("num_candidates", int, 0, "kNN candidates per shard; 0: max(2k, 100)"),
        )),
        ComponentSpec("retriever", "es-hybrid", _hybrid, "BM25 + kNN in Elasticsearch (score sum) or by RRF", (
            _INDEX, _URL, fields, encoder,
            Param("fusion", str, "sum", "'sum' (one ES search, boosted scores added) or 'rrf'", ("sum", "rrf")),
            Param("bm25_weight", float, 1.0, "boost of the BM25 part (sum)"),
            Param("knn_weight", float, 1.0, "boost of the kNN part (sum)"),
        )),
    ]


@hookimpl
def rankkit_cli(cli: click.Group) -> None:
    """``rankkit serve``: the rescoring proxy and /rerank service."""
    from rankkit_elasticsearch.cli import serve_command

    cli.add_command(serve_command)
