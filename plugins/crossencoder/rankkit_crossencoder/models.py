"""Cross-encoder checks of a model before use: a classification head, a tokenizer that fits, the activation.

Resolving model names, fingerprints and the device are the core's
(:class:`rankkit.models.ModelRef`, :func:`rankkit.models.resolve_device`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rankkit.errors import RankkitError
from rankkit.models import ModelRef

logger = logging.getLogger(__name__)

#: Weight-name prefixes of a sequence-classification head (BERT-like, DeBERTa/ModernBERT, RoBERTa/ELECTRA).
_HEAD_PREFIXES = ("classifier.", "score.", "classification_head.", "cls.seq_relationship")


class ModelError(RankkitError):
    """A model folder that cannot serve as a cross-encoder (no head, mismatched tokenizer...)."""


def weight_names(folder: Path) -> list[str] | None:
    """Parameter names in a folder's weights (``None`` when there is no readable weights file)."""
    safetensors = folder / "model.safetensors"
    if safetensors.is_file():
        from safetensors import safe_open

        with safe_open(str(safetensors), framework="pt") as handle:
            return list(handle.keys())
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return list(json.loads(index.read_text())["weight_map"])
    return None


def has_classification_head(folder: Path) -> bool | None:
    """Whether the weights hold a sequence-classification head (``None``: cannot tell)."""
    names = weight_names(folder)
    if names is None:
        return None
    return any(n.split(".", 1)[-1].startswith(_HEAD_PREFIXES) or n.startswith(_HEAD_PREFIXES) for n in names)


def check_scoring_model(model: ModelRef) -> None:
    """Refuse a local model whose weights have no classification head (it would score with random weights).

    Hub ids are not checked (their files may not be downloaded yet).

    Raises:
        ModelError: Naming the folder and the fix.
    """
    folder = model.path
    if folder is None:
        return
    if has_classification_head(folder) is False:
        raise ModelError(
            f"model folder {folder} has no classification head (its weights hold no classifier.*/score.* "
            "parameters), so a cross-encoder would score with randomly initialised weights. Use a trained "
            "cross-encoder (e.g. one made by `rankkit train` with trainer 'cross-encoder'), or train this "
            "backbone first by giving it as the trainer's base_model."
        )


def check_tokenizer(model: Any, where: str) -> None:
    """Refuse a tokenizer that produces ids beyond the model's embedding table.

    Raises:
        ModelError: Naming the sizes and the fix.
    """
    config = getattr(model, "config", None)
    vocab = getattr(config, "vocab_size", None)
    tokenizer = getattr(model, "tokenizer", None)
    if vocab is None or tokenizer is None:
        return
    size = len(tokenizer)
    if size > vocab:
        raise ModelError(
            f"{where}: the tokenizer has {size} tokens but the model's embeddings have {vocab}; the tokenizer "
            "does not belong to this model (ids beyond the table would crash or be wrong). Save the model with "
            "the tokenizer it was trained with, or resize the embeddings before training."
        )


def activation_module(activation: str) -> Any:
    """The torch module for a scorer's ``activation`` parameter (``None``: the model's own default)."""
    import torch

    if activation == "none":
        return torch.nn.Identity()
    if activation == "sigmoid":
        return torch.nn.Sigmoid()
    return None
