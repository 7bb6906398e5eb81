"""BM25 for rankkit: Lucene indexes built and searched through Pyserini/Anserini.

Components (registered by :mod:`rankkit_bm25.plugin`):

* index builder ``bm25`` (:class:`rankkit_bm25.builder.Bm25IndexBuilder`);
* retriever ``bm25`` (:class:`rankkit_bm25.retriever.Bm25Retriever`), whose
  :meth:`~rankkit_bm25.retriever.Bm25Retriever.doc_store` serves the index's raw
  text (:class:`rankkit_bm25.docstore.LuceneDocStore`).

Importing this package starts no JVM and imports neither jnius nor pyserini.
"""

__version__ = "0.1.0"

