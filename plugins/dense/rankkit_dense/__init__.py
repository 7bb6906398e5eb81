"""Dense retrieval for rankkit: sentence-transformers embeddings and FAISS indexes.

Components (registered by :mod:`rankkit_dense.plugin`):

* index builder ``dense`` (:class:`rankkit_dense.builder.DenseIndexBuilder`):
  a corpus encoded shard by shard (resumable) into a memory-mappable float32
  array, plus a FAISS ``flat``, ``hnsw`` or ``ivf-pq`` index;
* retriever ``dense`` (:class:`rankkit_dense.retriever.DenseRetriever`);
* scorer ``dense`` (:class:`rankkit_dense.scorer.DenseScorer`), a bi-encoder.

Their parameters are declared once, as the settings dataclasses of
:mod:`rankkit_dense.settings`, and each component is built from one settings
object. The encoder they share, :class:`rankkit_dense.encoder.DenseEncoder`, is
usable on its own. Importing this package imports neither torch,
sentence-transformers nor faiss.
"""

__version__ = "0.1.0"
