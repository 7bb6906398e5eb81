"""Model folders: resolving names, hashing content, and checking heads and tokenizers before use."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from rankkit.errors import RankkitError
from rankkit.files import content_digest
from rankkit.models import pick_device, resolve_model_name

logger = logging.getLogger(__name__)

#: Weight-name prefixes of a sequence-classification head (BERT-like, DeBERTa/ModernBERT, RoBERTa/ELECTRA).
_HEAD_PREFIXES = ("classifier.", "score.", "classification_head.", "cls.seq_relationship")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class ModelError(RankkitError):
    """A model folder that cannot serve as a cross-encoder (no head, mismatched tokenizer...)."""


def resolve_model(name: str) -> str:
    """A local folder for folders, ``package:PKG/folder`` and ``rankkit:NAME`` models; hub ids pass through.

    Raises:
        ConfigError: For a package that is not installed, or an unknown plugin model.
    """
    return resolve_model_name(name)


def is_local(model: str) -> bool:
    """Whether ``model`` (as resolved) is a folder on disk."""
    return Path(model).is_dir()


def content_hash(model: str) -> str:
    """A hash of a model folder's files (weights, config, tokenizer), or of the name for a hub id."""
    path = Path(model)
    if not path.is_dir():
        return hashlib.sha256(f"hub:{model}".encode()).hexdigest()[:16]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.suffix != ".png")
    return content_digest(path, files)


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


def check_scoring_model(model: str) -> None:
    """Refuse a local folder whose weights have no classification head (it would score with random weights).

    Raises:
        ModelError: Naming the folder and the fix.
    """
    folder = Path(model)
    if not folder.is_dir():
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
