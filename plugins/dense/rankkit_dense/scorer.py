"""The ``dense`` scorer: a bi-encoder that scores (query, document) pairs by the inner product of their vectors.

It reranks any first stage with a dense model and no index (``bm25 % 100 >> dense``
through the core's scorer adapter), with the same encoder settings as the
index builder, so its scores equal the dense retriever's for the same model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rankkit.components import fingerprint

from rankkit_dense.encoder import DenseEncoder
from rankkit_dense.settings import EncoderSettings


class DenseScorer:
    """Scores documents against a query with a sentence-transformers bi-encoder.

    Args:
        settings: The encoder's settings (model, device, batching, prefixes, normalisation): the scorer's
            parameters, :class:`~rankkit_dense.settings.EncoderSettings`; the defaults when unset.
    """

    def __init__(self, settings: EncoderSettings | None = None) -> None:
        self.encoder = DenseEncoder(settings or EncoderSettings())
        self.fingerprint = fingerprint("scorer", "dense", {"encoder": self.encoder.fingerprint})

    def __repr__(self) -> str:
        return f"DenseScorer({self.encoder!r})"

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """Inner product of the query's vector with each document's (float32, one per document)."""
        if len(documents) == 0:
            return np.empty(0, dtype=np.float32)
        [query_vector] = self.encoder.encode_queries([query])
        return self.encoder.encode_documents(list(documents)) @ query_vector
