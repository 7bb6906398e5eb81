"""The cross-encoder scorer: sentence-transformers' ``CrossEncoder`` behind rankkit's Scorer protocol."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.models import ModelRef, resolve_device
from rankkit_crossencoder.models import activation_module, check_scoring_model, check_tokenizer
from rankkit_crossencoder.settings import CrossEncoderScorerSettings

logger = logging.getLogger(__name__)
#: What the trainer writes next to the model (settings, statistics, tuned interpolation).
INFO_FILE = "rankkit-crossencoder.json"


class CrossEncoderScorer:
    """Scores (query, document) pairs with a cross-encoder.

    The model loads on the first call to :meth:`score`, so a run whose scores
    all come from the score cache never loads it. The fingerprint covers the
    model's content (weights, config, tokenizer), ``max_length`` and the
    activation, so retraining a model into the same folder never reads stale
    cached scores.

    Raises:
        ConfigError: For a model name the core cannot resolve.
        ModelError: For a local model without a classification head.

    Args:
        settings: The model (a local folder, ``package:PKG/folder``, ``rankkit:NAME`` or a Hugging Face hub id,
            :class:`rankkit.models.ModelRef`), batch size, truncation, device and activation
            (:class:`~rankkit_crossencoder.settings.CrossEncoderScorerSettings`).
    """

    def __init__(self, settings: CrossEncoderScorerSettings) -> None:
        self.settings = settings
        self.model_name = settings.model
        self.cross_query = settings.cross_query
        self.ref = ModelRef.resolve(settings.model)
        self.path = self.ref.load_name
        self.batch_size = settings.batch_size
        self.max_length = settings.max_length
        self.device = settings.device
        self.activation = settings.activation
        check_scoring_model(self.ref)
        self._model: Any = None
        self.fingerprint = fingerprint(
            "scorer", "cross-encoder",
            {"content": self.ref.fingerprint(), "max_length": self.max_length, "activation": self.activation},
        )

    @property
    def model(self) -> Any:
        """The loaded ``CrossEncoder`` (loaded on first access)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers.cross_encoder import CrossEncoder

        device = resolve_device(self.device, where="cross-encoder")
        kwargs: dict[str, Any] = {"device": device}
        if self.max_length:
            kwargs["max_length"] = self.max_length
        if os.environ.get("HF_HUB_OFFLINE") == "1" or Path(self.path).is_dir():
            kwargs["local_files_only"] = True
        model = CrossEncoder(self.path, **kwargs)
        check_tokenizer(model, f"cross-encoder {self.model_name!r}")
        model.eval()
        logger.info("cross-encoder %s loaded on %s (max_length %s)", self.model_name, device, model.max_seq_length)
        return model

    def tuned_interpolation(self) -> dict[str, Any] | None:
        """The interpolation with the first stage the trainer tuned on held-out training queries
        (:class:`rankkit.components.TunedScorer`), when the model folder records one; ``None`` otherwise.

        The weights were tuned on raw logits: with another ``activation`` they do not apply (``None``).
        """
        info = Path(self.path) / INFO_FILE
        if not info.is_file() or self.activation != "none":
            return None
        try:
            return json.loads(info.read_text(encoding="utf-8")).get("interpolation")
        except (OSError, ValueError):
            return None

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One score per document (float32), in document order."""
        if len(documents) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.predict(self.model, [(query, doc) for doc in documents])

    def predict(self, model: Any, pairs: list[tuple[str, str]]) -> np.ndarray:
        """``model``'s scores of ``pairs`` (float32) with this scorer's batch size and activation."""
        scores = model.predict(pairs, batch_size=self.batch_size, activation_fn=activation_module(self.activation),
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs))

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """Scores of several queries' documents (the pipeline hands over a batch of queries at once).

        With ``cross_query``, all pairs go through one ``predict`` call: sentence-transformers sorts them by length
        over the whole batch, so forward passes pad less and fewer of them are partly empty. Otherwise one call per
        query, as :meth:`score`.
        """
        if not self.cross_query:
            return [self.score(query, documents) for query, documents in items]
        pairs = [(query, doc) for query, documents in items for doc in documents]
        if not pairs:
            return [np.zeros(0, dtype=np.float32) for _ in items]
        scores = self.predict(self.model, pairs)
        bounds = np.cumsum([0] + [len(documents) for _, documents in items])
        return [scores[bounds[i]:bounds[i + 1]] for i in range(len(items))]

    def __repr__(self) -> str:
        return f"CrossEncoderScorer({self.model_name!r}, max_length={self.max_length}, activation={self.activation!r})"
