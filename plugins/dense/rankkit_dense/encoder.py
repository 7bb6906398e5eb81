"""The dense encoder: a sentence-transformers model turning queries and documents into vectors.

One :class:`DenseEncoder` serves the index builder (documents), the retriever
(queries) and the bi-encoder scorer (both), and other plugins may use it too
(e.g. to fill dense_vector fields). Texts go to ``SentenceTransformer.encode``
unchanged, in the caller's batches, so embeddings equal what that call gives on
the same texts; rankkit adds only the settings of
:class:`~rankkit_dense.settings.EncoderSettings` (importable from here too).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.models import ModelRef, resolve_device

from rankkit_dense.models import load_sentence_transformer, resolve_model
from rankkit_dense.settings import WHERE, EncoderSettings

#: The encoder settings that decide the vectors besides the model's files (not the device or the batch size).
_VECTOR_SETTINGS = tuple(f.name for f in fields(EncoderSettings) if f.name not in ("model", "device", "batch_size"))

#: ``prompts`` keys of a sentence-transformers model config used when no prefix is set.
_PROMPT_KEYS = {"query": "query", "document": "document"}


class DenseEncoder:
    """Encodes queries and documents with a sentence-transformers model, loaded on first use.

    Args:
        settings: Model, device, batching, truncation, prefixes and normalisation (an
            :class:`~rankkit_dense.settings.EncoderSettings`, or settings that extend it, as the index builder's).

    Attributes:
        model_ref: The resolved model (the core's :class:`~rankkit.models.ModelRef`).

    Raises:
        ConfigError: As :func:`rankkit_dense.models.resolve_model`, for a model that cannot be resolved.
    """

    def __init__(self, settings: EncoderSettings | None = None) -> None:
        self.settings = settings or EncoderSettings()
        self.model_ref: ModelRef = resolve_model(self.settings.model)
        self._model: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        s = self.settings
        return f"DenseEncoder({s.model!r}, device={s.device!r}, batch_size={s.batch_size}, max_length={s.max_length})"

    @property
    def model_fingerprint(self) -> str:
        """Hash of the model's files: the core's rule, :meth:`rankkit.models.ModelRef.fingerprint`."""
        if self._fingerprint is None:
            self._fingerprint = self.model_ref.fingerprint()
        return self._fingerprint

    @property
    def fingerprint(self) -> str:
        """Hash of everything that decides the vectors: model files and settings (not device or batch size)."""
        settings = {name: getattr(self.settings, name) for name in _VECTOR_SETTINGS}
        return fingerprint("encoder", "dense", {"model": self.model_fingerprint, **settings})

    @property
    def model(self) -> Any:
        """The ``SentenceTransformer``, loaded on the resolved device on first access."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    model = load_sentence_transformer(self.model_ref, resolve_device(self.settings.device, where=WHERE))
                    if self.settings.max_length:
                        model.max_seq_length = self.settings.max_length
                    self._model = model
                    if self._fingerprint is None and self.model_ref.hub:
                        self._fingerprint = self.model_ref.fingerprint()  # now covers the downloaded files
        return self._model

    @property
    def device(self) -> str:
        """The device the model runs on (loads it)."""
        return str(self.model.device)

    @property
    def dimension(self) -> int:
        """The embedding dimension (loads the model)."""
        model = self.model
        dim = model.get_embedding_dimension()
        return int(dim) if dim else int(self._encode(["dimension probe"], None, False).shape[1])

    @property
    def max_length(self) -> int:
        """The token limit in force (loads the model)."""
        return int(self.model.max_seq_length)

    def prefix(self, kind: str) -> str:
        """The prefix in force for ``"query"`` or ``"document"`` texts (the model's prompt when none is set)."""
        explicit = self.settings.query_prefix if kind == "query" else self.settings.doc_prefix
        if explicit:
            return explicit
        prompts = getattr(self.model, "prompts", None) or {}
        return str(prompts.get(_PROMPT_KEYS[kind], ""))

    def encode_queries(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Query vectors, float32, one row per text."""
        return self._encode(texts, self.prefix("query"), progress)

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Document vectors, float32, one row per text."""
        return self._encode(texts, self.prefix("document"), progress)

    def _encode(self, texts: Sequence[str], prefix: str | None, progress: bool) -> np.ndarray:
        model = self.model
        texts = list(texts)
        if not texts:
            dim = model.get_embedding_dimension() or 0
            return np.empty((0, int(dim)), dtype=np.float32)
        vectors = model.encode(
            texts,
            prompt=prefix or None,
            batch_size=self.settings.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=self.settings.normalize,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """What an index records about its encoder (loads the model)."""
        return {
            "model": self.settings.model,
            "model_fingerprint": self.model_fingerprint,
            "dim": self.dimension,
            "max_length": self.max_length,
            "query_prefix": self.prefix("query"),
            "doc_prefix": self.prefix("document"),
            "normalize": self.settings.normalize,
        }
