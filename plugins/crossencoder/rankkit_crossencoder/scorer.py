"""The cross-encoder scorer: sentence-transformers' ``CrossEncoder`` behind rankkit's Scorer protocol."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.models import ModelRef, resolve_device, torch_dtype
from rankkit_crossencoder.models import activation_module, check_scoring_model, check_tokenizer
from rankkit_crossencoder.settings import CrossEncoderScorerSettings

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.registry import Registry

logger = logging.getLogger(__name__)
#: What the trainer writes next to the model (settings, statistics, tuned interpolation).
INFO_FILE = "rankkit-crossencoder.json"


class CrossEncoderScorer:
    """Scores (query, document) pairs with a cross-encoder.

    The model loads on the first call to :meth:`score`, so a run whose scores
    all come from the score cache never loads it. The fingerprint covers the
    model's content (weights, config, tokenizer), ``max_length`` and the
    activation, so retraining a model into the same folder never reads stale
    cached scores; a ``dtype`` other than float32 too; with ``backend = "onnx"`` also the export settings, the
    quantisation and its calibration data, and the versions of onnx and onnxruntime (the default backend's
    fingerprint, at float32, is the one it always had).

    With ``backend = "onnx"``, the first uncached score exports the model to ONNX (and quantises it) once into
    the artifact store (:mod:`rankkit_crossencoder.onnx`); later scorers of the same model reuse the graph.

    Raises:
        ConfigError: For a model name the core cannot resolve, or a calibration dataset no provider knows.
        ModelError: For a local model without a classification head.

    Args:
        settings: The model (a local folder, ``package:PKG/folder``, ``rankkit:NAME`` or a Hugging Face hub id,
            :class:`rankkit.models.ModelRef`), batch size, truncation, device, activation and backend
            (:class:`~rankkit_crossencoder.settings.CrossEncoderScorerSettings`).
        registry: Where the calibration dataset is resolved (default: the active registry).
    """

    def __init__(self, settings: CrossEncoderScorerSettings, registry: Registry | None = None) -> None:
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
        if settings.backend == "onnx":
            check_onnx_installed()
        self.calibration = calibration_dataset(settings, registry)
        #: The calibration data's content hash (read once: the fingerprint and the int8 graph's key use it).
        self.calibration_checksum = self.calibration.checksum() if self.calibration is not None else ""
        self._model: Any = None
        self.fingerprint = fingerprint(
            "scorer", "cross-encoder",
            {"content": self.ref.fingerprint(), "max_length": self.max_length, "activation": self.activation,
             **self._backend_key()},
        )

    def _backend_key(self) -> dict[str, Any]:
        """What the onnx backend or a reduced ``dtype`` adds to the fingerprint (nothing for torch at float32)."""
        if self.settings.backend == "torch":
            return {} if self.settings.dtype == "float32" else {"dtype": self.settings.dtype}
        from rankkit.versions import library_versions
        from rankkit_crossencoder.calibration import SEED
        from rankkit_crossencoder.onnx import EXPORT, INT8

        backend: dict[str, Any] = {"name": "onnx", "export": EXPORT, "quantize": self.settings.quantize,
                                   "versions": library_versions(("onnx", "onnxruntime"))}
        if self.settings.quantize == "static-int8":
            backend |= {"int8": INT8, "calibration": self.settings.calibration,
                        "calibration_checksum": self.calibration_checksum,
                        "calibration_pairs": self.settings.calibration_pairs, "seed": SEED}
        return {"backend": backend}

    @property
    def model(self) -> Any:
        """The loaded ``CrossEncoder`` (loaded on first access)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        if self.settings.backend == "onnx":
            return self._load_onnx()
        device = resolve_device(self.device, where="cross-encoder")
        dtype = self.settings.dtype
        kwargs = {} if dtype == "float32" else {"dtype": torch_dtype(dtype, device, "cross-encoder")}
        model = self._cross_encoder(device, self.max_length, **kwargs)
        check_tokenizer(model, f"cross-encoder {self.model_name!r}")
        logger.info("cross-encoder %s loaded on %s in %s (max_length %s)", self.model_name, device, dtype,
                    model.max_seq_length)
        return model

    def _cross_encoder(self, device: str, max_length: int, **model_kwargs: Any) -> Any:
        """The sentence-transformers ``CrossEncoder`` of the model on ``device`` (``max_length`` 0: its own;
        ``model_kwargs`` go to the Hugging Face model's ``from_pretrained``)."""
        from sentence_transformers.cross_encoder import CrossEncoder

        kwargs: dict[str, Any] = {"device": device}
        if model_kwargs:
            kwargs["model_kwargs"] = model_kwargs
        if max_length:
            kwargs["max_length"] = max_length
        if os.environ.get("HF_HUB_OFFLINE") == "1" or Path(self.path).is_dir():
            kwargs["local_files_only"] = True
        model = CrossEncoder(self.path, **kwargs)
        model.eval()
        return model

    def _load_onnx(self) -> Any:
        """The exported (and, with ``quantize``, quantised) graph in an onnxruntime session, built once."""
        from rankkit_crossencoder.onnx import EXPORT, Calibration, exported, quantized
        from rankkit_crossencoder.ort_model import OnnxCrossEncoder

        artifact = exported(self.ref, lambda: self._cross_encoder("cpu", 0, attn_implementation=EXPORT["attention"]))
        if self.calibration is not None:
            artifact = quantized(artifact, Calibration(self.calibration, self.calibration_checksum,
                                                       self.settings.calibration_pairs, self.max_length))
        model = OnnxCrossEncoder(artifact.path, self.max_length, self.settings.ort_threads)
        logger.info("cross-encoder %s: ONNX graph %s (%s) in onnxruntime, %d threads (max_length %s)",
                    self.model_name, artifact.path, "built" if artifact.built else "reused",
                    model.session.get_session_options().intra_op_num_threads, model.max_seq_length)
        model.artifact = artifact
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
        backend = "" if self.settings.backend == "torch" else f", backend={self.settings.backend!r}"
        if self.settings.dtype != "float32":
            backend += f", dtype={self.settings.dtype!r}"
        if self.settings.quantize != "none":
            backend += f", quantize={self.settings.quantize!r}"
        return (f"CrossEncoderScorer({self.model_name!r}, max_length={self.max_length}, "
                f"activation={self.activation!r}{backend})")


def check_onnx_installed() -> None:
    """Refuse ``backend = "onnx"`` without onnx and onnxruntime (looked up, not imported).

    Raises:
        ConfigError: Naming the missing packages and the extra that installs them.
    """
    import importlib.util

    from rankkit.errors import ConfigError

    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"cross-encoder: backend = \"onnx\" needs {' and '.join(missing)}: "
                          "pip install 'rankkit-crossencoder[onnx]'")


def calibration_dataset(settings: CrossEncoderScorerSettings, registry: Registry | None) -> Dataset | None:
    """The dataset ``calibration`` names (``None`` without static-int8), resolved now: a wrong name fails
    before any work.

    Raises:
        ConfigError: Naming the parameter, for a name no dataset provider knows or without a registry.
    """
    if settings.quantize != "static-int8":
        return None
    from rankkit.datasets import resolve_dataset
    from rankkit.errors import ConfigError, DatasetNotFoundError
    from rankkit.registry import active_registry

    if registry is None:
        try:
            registry = active_registry()
        except ConfigError:
            raise ConfigError("cross-encoder: parameter 'calibration' names a dataset, resolved through the plugin "
                              "registry: build the scorer with registry.build, or pass registry=") from None
    try:
        dataset = resolve_dataset(settings.calibration, registry)
    except (DatasetNotFoundError, ConfigError) as error:
        raise ConfigError(f"cross-encoder: parameter 'calibration' = {settings.calibration!r}: {error}") from None
    if settings.calibration.rstrip("/").endswith("/test"):
        logger.warning("cross-encoder: calibrating static-int8 on %s, a test split: if these are the queries "
                       "being scored, calibrate on a training split instead", settings.calibration)
    return dataset
