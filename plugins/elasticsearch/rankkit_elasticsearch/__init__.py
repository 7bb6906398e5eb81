"""Elasticsearch for rankkit.

Components (registered by :mod:`rankkit_elasticsearch.plugin`):

* index builder ``elasticsearch`` (:class:`rankkit_elasticsearch.builder.EsIndexBuilder`);
* retrievers ``es-bm25``, ``es-knn`` and ``es-hybrid``
  (:mod:`rankkit_elasticsearch.bm25`, :mod:`~rankkit_elasticsearch.knn`, :mod:`~rankkit_elasticsearch.hybrid`);
* the rescoring extension: :func:`rankkit_elasticsearch.rescoring.search` (client API) and
  ``rankkit serve`` (:mod:`rankkit_elasticsearch.server`), a ``_search`` proxy with ``/rerank``.

Importing this package imports neither ``elasticsearch`` nor FastAPI and connects to nothing.
"""

__version__ = "0.1.0"
