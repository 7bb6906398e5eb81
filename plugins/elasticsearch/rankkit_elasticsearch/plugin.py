"""The rankkit hooks of rankkit-elasticsearch (entry point ``elasticsearch`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and
imported when built; their parameters are the dataclasses of
:mod:`rankkit_elasticsearch.settings`, so registering imports neither the ES
client nor FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_elasticsearch.settings import EsBm25Settings, EsBuilderSettings, EsHybridSettings, EsKnnSettings

if TYPE_CHECKING:  # pragma: no cover
    import click

#: What the components' results depend on besides rankkit and this plugin: the Elasticsearch client, which
#: sends the requests (the server's version is not known when a component is built).
LIBRARIES = ("elasticsearch",)


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The Elasticsearch index builder."""
    return [
        ComponentSpec("index_builder", "elasticsearch", summary="a dataset into an Elasticsearch index (bulk, retries, "
                      "alias swap; optional dense_vector)", target="rankkit_elasticsearch.builder:EsIndexBuilder",
                      settings=EsBuilderSettings, libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """BM25, kNN and hybrid retrieval from Elasticsearch."""
    return [
        ComponentSpec("retriever", "es-bm25", summary="BM25 match/multi_match in Elasticsearch",
                      target="rankkit_elasticsearch.bm25:EsBm25Retriever", settings=EsBm25Settings, libraries=LIBRARIES),
        ComponentSpec("retriever", "es-knn", summary="approximate kNN over an Elasticsearch dense_vector field",
                      target="rankkit_elasticsearch.knn:EsKnnRetriever", settings=EsKnnSettings, libraries=LIBRARIES),
        ComponentSpec("retriever", "es-hybrid", summary="BM25 + kNN in Elasticsearch (score sum) or by RRF",
                      target="rankkit_elasticsearch.hybrid:EsHybridRetriever", settings=EsHybridSettings,
                      libraries=LIBRARIES),
    ]


@hookimpl
def rankkit_cli(cli: click.Group) -> None:
    """``rankkit serve``: the rescoring proxy and /rerank service."""
    from rankkit_elasticsearch.cli import serve_command

    cli.add_command(serve_command)
