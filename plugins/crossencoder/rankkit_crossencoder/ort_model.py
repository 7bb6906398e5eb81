"""An exported cross-encoder run by onnxruntime, behind the part of ``CrossEncoder.predict`` the scorer uses.

The tokenizer is the one the ``CrossEncoder`` used when the graph was exported (saved beside it), called as
sentence-transformers calls it (pairs, ``padding=True``, ``truncation="longest_first"``, the same
``max_length``); the activation is applied to the logits as ``CrossEncoder.predict`` applies it (the same
torch module), so the scorer's activation code serves both backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

#: What the export writes beside the graph: the inputs, the model's own max length and its default activation.
META_FILE = "export.json"
GRAPH_FILE = "model.onnx"
TOKENIZER_DIR = "tokenizer"


def session(graph: Path, threads: int) -> Any:
    """An onnxruntime CPU session of ``graph`` with every graph optimisation and ``threads`` intra-op threads.

    Args:
        graph: The ``.onnx`` file.
        threads: Intra-op threads (0: as many as torch uses).
    """
    import onnxruntime as ort

    if threads <= 0:
        import torch

        threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


class OnnxCrossEncoder:
    """A cross-encoder graph (a folder written by :mod:`rankkit_crossencoder.onnx`) in an onnxruntime session.

    Args:
        folder: The artifact folder: the graph, the tokenizer and :data:`META_FILE`.
        max_length: Truncation length in tokens (0: the model's own, as recorded at export).
        threads: onnxruntime intra-op threads (0: as many as torch uses).
    """

    def __init__(self, folder: Path, max_length: int = 0, threads: int = 0) -> None:
        from transformers import AutoTokenizer

        self.folder = folder
        self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER_DIR))
        self.max_seq_length = max_length or self.meta["max_seq_length"]
        self.inputs: list[str] = list(self.meta["inputs"])
        self.session = session(folder / GRAPH_FILE, threads)
        #: The store's record of the folder (:class:`rankkit.store.Artifact`), when the scorer made it.
        self.artifact: Any = None

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``pairs`` (int64 arrays), tokenized as sentence-transformers does."""
        features = self.tokenizer([[q, d] for q, d in pairs], padding=True, truncation="longest_first",
                                  max_length=self.max_seq_length, return_tensors="np")
        return {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs}

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The graph's logits for ``pairs``, shape ``(len(pairs), labels)`` (float32)."""
        return self.session.run(["logits"], self.tokenize(pairs))[0]

    @cached_property
    def default_activation(self) -> Callable[[Any], Any]:
        """The activation ``CrossEncoder.predict`` applies when given none (recorded at export)."""
        from sentence_transformers.util import import_from_string

        return import_from_string(self.meta["activation"])()

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, activation_fn: Any = None,
                **_: Any) -> np.ndarray:
        """One score per pair (float32), as ``CrossEncoder.predict(pairs, batch_size, activation_fn)`` gives them.

        Pairs are scored longest first in batches of ``batch_size`` (less padding), then put back in order.
        """
        import torch

        if activation_fn is None:
            activation_fn = self.default_activation
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        order = np.argsort([-(len(q) + len(d)) for q, d in pairs], kind="stable")
        scores = np.empty(len(pairs), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(pairs), batch_size):
                chosen = order[start : start + batch_size]
                logits = torch.from_numpy(self.logits([pairs[i] for i in chosen]))
                scores[chosen] = activation_fn(logits).reshape(len(chosen)).float().numpy()
        return scores
