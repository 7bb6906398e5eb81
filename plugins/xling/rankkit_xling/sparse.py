"""Composable sparse fine-tuning (Ansell et al., 2022), the sparse counterpart of adapters.

Lottery-ticket sparse fine-tuning (LT-SFT) in two phases:

1. fine-tune every parameter (``θ0 → θ1``);
2. keep the ``k`` entries that changed most (``|θ1 − θ0|``) as a mask, reset the
   model to ``θ0``, and fine-tune again with gradients outside the mask zeroed.

The sparse fine-tuning (SFT) is ``φ = θ2 − θ0`` on the mask. Embedding matrices
are frozen in both phases and never part of an SFT (:func:`is_embedding`): they
are most of a multilingual model's parameters (96M of multilingual-e5-small's
118M), and updating them with Adam dominated each step; the LoRA adapters do
not touch them either, so both methods adapt the same transformer weights. SFTs compose by
addition: ``θ = θ0 + φ_language + φ_ranking``. They are stored sparsely: per
tensor, the flat indices (int64) and values (float32) in a safetensors file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SPARSE_FILE = "sft.safetensors"


#: Name fragments of embedding parameters (BERT/XLM-R ``embeddings.``, Llama/Qwen ``embed_tokens``, GPT-2 ``wte``/``wpe``).
EMBEDDING_MARKERS = ("embeddings.", "embed_tokens.", ".wte.", ".wpe.", "shared.")


def is_embedding(name: str) -> bool:
    """Whether a parameter belongs to an embedding table (frozen during sparse fine-tuning)."""
    return any(marker in name for marker in EMBEDDING_MARKERS)


def freeze_embeddings(model: Any) -> int:
    """Stop the embedding tables from learning; returns how many parameters were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if is_embedding(name) and param.requires_grad:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def snapshot(model: Any, include: Callable[[str], bool]) -> dict[str, Any]:
    """Copies of the parameters named by ``include`` (``θ0``)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if include(n)}


def top_k_mask(model: Any, before: dict[str, Any], k: int) -> dict[str, Any]:
    """Boolean masks of the ``k`` entries (over all tensors in ``before``) that changed most since ``before``."""
    import torch

    params = dict(model.named_parameters())
    changes = torch.cat([(params[n].detach() - b).abs().flatten() for n, b in before.items()])
    k = max(1, min(k, changes.numel()))
    threshold = torch.topk(changes, k, sorted=False).values.min()
    masks, taken = {}, 0
    for name, base in before.items():
        mask = (params[name].detach() - base).abs() >= threshold
        masks[name] = mask
        taken += int(mask.sum())
    return masks


def reset(model: Any, before: dict[str, Any]) -> None:
    """Put the parameters in ``before`` back to their saved values."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in before.items():
            params[name].copy_(value)


@contextmanager
def masked_gradients(model: Any, masks: dict[str, Any]) -> Iterator[None]:
    """Only masked entries learn: gradients elsewhere are zeroed; other parameters are frozen."""
    handles, frozen = [], []
    for name, param in model.named_parameters():
        if name in masks:
            param.requires_grad_(True)
            handles.append(param.register_hook(lambda grad, m=masks[name]: grad * m))
        elif param.requires_grad:
            param.requires_grad_(False)
            frozen.append(param)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for param in frozen:
            param.requires_grad_(True)


def lottery_ticket(model: Any, body: set[str], k: int, fit: Callable[[str], Any],
                   always: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int, Any, Any]:
    """Both LT-SFT phases: ``fit("full")``, keep the top-``k`` changes of ``body`` as masks, reset, ``fit("sparse")``.

    Args:
        model: The model, trained in place.
        body: Names of the parameters the SFT may change.
        k: Entries to keep (0: 1% of ``body``).
        fit: Runs one training phase, given ``"full"`` or ``"sparse"``.
        always: Masks of parameters that learn in full in both phases and are not part of the SFT (a new head).

    Returns:
        ``θ0`` of ``body``, the masks, ``k``, and each phase's result.
    """
    before = snapshot(model, body.__contains__)
    k = k or max(1, sum(v.numel() for v in before.values()) // 100)
    first = fit("full")
    masks = top_k_mask(model, before, k)
    reset(model, before)
    with masked_gradients(model, masks | always):
        second = fit("sparse")
    return before, masks, k, first, second


def sparse_difference(model: Any, before: dict[str, Any], masks: dict[str, Any]) -> dict[str, tuple[Any, Any, list[int]]]:
    """``φ = θ − θ0`` on the mask: ``{name: (flat indices, values, shape)}``."""
    params = dict(model.named_parameters())
    out = {}
    for name, mask in masks.items():
        indices = mask.flatten().nonzero().flatten()
        if indices.numel():
            delta = (params[name].detach() - before[name]).flatten()[indices]
            out[name] = (indices.cpu(), delta.float().cpu(), list(mask.shape))
    return out


def save_sparse(folder: Path, diff: dict[str, tuple[Any, Any, list[int]]], meta: dict[str, Any]) -> int:
    """Write the SFT to ``folder/sft.safetensors``; returns the number of stored entries."""
    from safetensors.torch import save_file

    tensors, shapes = {}, {}
    for name, (indices, values, shape) in diff.items():
        tensors[f"{name}::indices"] = indices.contiguous()
        tensors[f"{name}::values"] = values.contiguous()
        shapes[name] = shape
    save_file(tensors, str(folder / SPARSE_FILE), metadata={"shapes": json.dumps(shapes), **{k: json.dumps(v) for k, v in meta.items()}})
    return sum(int(i.numel()) for i, _, _ in diff.values())


def load_sparse(folder: Path) -> dict[str, tuple[Any, Any, list[int]]]:
    """Read an SFT written by :func:`save_sparse`."""
    from safetensors import safe_open

    out: dict[str, Any] = {}
    with safe_open(str(folder / SPARSE_FILE), framework="pt") as handle:
        shapes = json.loads(handle.metadata()["shapes"])
        for name, shape in shapes.items():
            out[name] = (handle.get_tensor(f"{name}::indices"), handle.get_tensor(f"{name}::values"), shape)
    return out


def apply_sparse(model: Any, diff: dict[str, tuple[Any, Any, list[int]]], scale: float = 1.0, where: str = "sft") -> int:
    """Add ``scale · φ`` into the model's weights; returns the entries changed.

    Raises:
        ValueError: When the SFT names a parameter the model lacks or has another shape
            (it was made for another architecture).
    """
    import torch

    params = dict(model.named_parameters())
    changed = 0
    with torch.no_grad():
        for name, (indices, values, shape) in diff.items():
            target = params.get(name)
            if target is None or list(target.shape) != list(shape):
                got = None if target is None else list(target.shape)
                raise ValueError(f"{where}: parameter {name} of shape {shape} is {got} in this model "
                                 "(the sparse fine-tuning was made for another architecture)")
            flat = target.view(-1)
            flat.index_add_(0, indices.to(flat.device), (values * scale).to(flat.dtype).to(flat.device))
            changed += int(indices.numel())
    return changed
