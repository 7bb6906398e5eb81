"""The rankkit hooks of rankkit-dense (entry point ``dense`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and
imported when built; their parameters are the dataclasses of
:mod:`rankkit_dense.settings`, so registering imports neither torch,
sentence-transformers nor faiss.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_dense.settings import DenseBuilderSettings, DenseRetrieverSettings, EncoderSettings

#: What the vectors depend on besides rankkit, this plugin and the model's files (which are fingerprinted).
ENCODER_LIBRARIES = ("sentence-transformers", "transformers", "torch")
#: What an index and its search depend on: the encoder's libraries and FAISS.
LIBRARIES = (*ENCODER_LIBRARIES, "faiss-cpu|faiss-gpu")


@hookimpl
def rankkit_index_builders() -> list[ComponentSpec]:
    """The dense index builder (sentence-transformers embeddings + FAISS)."""
    return [
        ComponentSpec("index_builder", "dense", summary="Dense index: a sentence-transformers model's embeddings "
                      "(memory-mapped .npy) + FAISS flat/HNSW/IVF-PQ", target="rankkit_dense.builder:DenseIndexBuilder",
                      settings=DenseBuilderSettings, libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """Dense retrieval from a FAISS index."""
    return [
        ComponentSpec("retriever", "dense", summary="Dense retrieval: queries encoded with the index's "
                      "sentence-transformers model, searched in FAISS", target="rankkit_dense.retriever:DenseRetriever",
                      settings=DenseRetrieverSettings, libraries=LIBRARIES)
    ]


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """A bi-encoder scorer (inner product of query and document vectors)."""
    return [
        ComponentSpec("scorer", "dense", summary="Bi-encoder: inner product of sentence-transformers query and "
                      "document vectors", target="rankkit_dense.scorer:DenseScorer", settings=EncoderSettings,
                      libraries=ENCODER_LIBRARIES)
    ]
