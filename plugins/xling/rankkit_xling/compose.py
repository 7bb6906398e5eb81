"""Putting adapters on a model: LoRA adapters through PEFT, sparse fine-tunings by addition.

**How this relates to the paper's Stack composition.** Litschko et al. (after
MAD-X) use bottleneck adapters: in every layer the language adapter transforms
the hidden state and the ranking adapter, stacked on top, transforms the
result, ``h ← RA(LA(h))``. LoRA adapters are not modules on the hidden state
but low-rank updates of the weight matrices they target, and PEFT runs several
active LoRA adapters in parallel on the same input, adding their outputs:
``W x + s_LA·B_LA A_LA x + s_RA·B_RA A_RA x``, i.e. the effective weight is
``W + ΔW_LA + ΔW_RA``. So within one layer the composition is additive and
order-free rather than sequential. Across layers it is still deep: every later
layer sees hidden states that both adapters shaped. The ranking adapter is
trained with the source language adapter active and frozen, so it learns a
delta *relative to* ``W + ΔW_LA(en)``; swapping in ``ΔW_LA(de)`` at inference is
the LoRA analogue of swapping the bottom of the stack. Sparse fine-tunings
compose the same way (``θ0 + φ_LA + φ_RA``), which is exactly how Ansell et
al.'s composable SFTs compose, so for SFTs there is no approximation at all.

With ``language = "both"`` the query- and document-language adapters are both
active at half scale each (``½ΔW_q + ½ΔW_d``), an interpolation between them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rankkit_xling.library import AdapterInfo
from rankkit_xling.sparse import apply_sparse, load_sparse

logger = logging.getLogger(__name__)

#: LoRA targets by backbone kind: every attention projection and feed-forward matrix of every layer.
TARGETS = {
    "encoder": r".*layers?\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense"
               r"|output\.dense)$",
    "decoder": r".*layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))$",
}
#: Attribute names of sequence-classification heads (BERT/XLM-R ``classifier``, decoder LMs ``score``).
HEADS = ("classifier", "score")
RANKING = "ranking"


def head_name(model: Any) -> str:
    """The attribute holding the model's classification head.

    Raises:
        ValueError: When the model has none of :data:`HEADS`.
    """
    for name in HEADS:
        if hasattr(model, name):
            return name
    raise ValueError(f"{type(model).__name__} has no classification head ({', '.join(HEADS)})")


def lora_config(kind: str, r: int, alpha: int, dropout: float, heads: list[str] | None = None) -> Any:
    """The LoRA configuration language and ranking adapters share (same targets, so deltas line up).

    Args:
        kind: ``encoder`` or ``decoder`` (which modules are targeted).
        r: Rank.
        alpha: Scale numerator (the update is scaled by ``alpha / r``).
        dropout: LoRA dropout.
        heads: Modules trained in full and saved with the adapter (the ranking head, BERT's pooler).
    """
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=TARGETS[kind],
                      modules_to_save=heads or None)


def head_modules(model: Any) -> list[str]:
    """What a ranking adapter trains in full: the classification head, and the pooler feeding it (BERT-style)."""
    heads = [head_name(model)]
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if base is not None and getattr(base, "pooler", None) is not None:
        heads.append("pooler")
    return heads


def language_adapter_name(lang: str) -> str:
    """The PEFT adapter name of a language adapter (``lang-de``)."""
    return f"lang-{lang}"


class Composer:
    """Adapters on one sequence-classification model (``model`` is changed in place).

    Args:
        model: The transformers model inside the cross-encoder.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.peft: Any = None
        self.active: list[str] = []

    def add_language(self, info: AdapterInfo, scale: float = 1.0) -> str | None:
        """Attach a language adapter (frozen); returns its PEFT name (``None`` for an SFT, added into the weights)."""
        if info.method == "sft":
            changed = apply_sparse(self.model, load_sparse(info.path), scale, where=f"language SFT {info.path}")
            logger.info("xling: language SFT %s (%s) added: %d entries x %.2f", info.lang, info.path, changed, scale)
            return None
        name = language_adapter_name(info.lang)
        self._load(info.path, name)
        self._scale(name, scale)
        self.active.append(name)
        return name

    def add_ranking(self, info: AdapterInfo) -> None:
        """Attach a trained ranking adapter (LoRA with its head, or an SFT including the head)."""
        if info.method == "sft":  # the head is new: the SFT stores its values, so start it from zero
            import torch

            head = head_name(self.model)
            with torch.no_grad():
                for param in getattr(self.model, head).parameters():
                    param.zero_()
            apply_sparse(self.model, load_sparse(info.path), 1.0, where=f"ranking SFT {info.path}")
            return
        self._load(info.path, RANKING)
        self.active.append(RANKING)

    def new_ranking(self, kind: str, r: int, alpha: int, dropout: float) -> None:
        """Add a fresh, trainable ranking adapter (and a trainable copy of the head)."""
        from peft import get_peft_model

        config = lora_config(kind, r, alpha, dropout, head_modules(self.model))
        if self.peft is None:
            self.peft = get_peft_model(self.model, config, adapter_name=RANKING)
        else:
            self.peft.add_adapter(RANKING, config)
        self.active.append(RANKING)

    def activate(self, train_ranking: bool = False) -> None:
        """Make every attached LoRA adapter active; with ``train_ranking`` only the ranking adapter learns."""
        if self.peft is None:
            return
        self.peft.base_model.set_adapter(self.active)
        for name, param in self.peft.named_parameters():
            param.requires_grad_(train_ranking and f".{RANKING}." in name)

    def merge(self) -> None:
        """Fold every active LoRA adapter into the weights (faster inference, no composition cost)."""
        if self.peft is None:
            return
        from peft.tuners.tuners_utils import BaseTunerLayer

        for module in self.model.modules():
            if isinstance(module, BaseTunerLayer):
                module.merge(adapter_names=[a for a in self.active if a in module.lora_A])

    def save_ranking(self, folder: Path) -> None:
        """Write the ranking adapter (LoRA weights, its head, its config) into ``folder``."""
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        state = get_peft_model_state_dict(self.peft, adapter_name=RANKING)
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(folder / "adapter_model.safetensors"))
        self.peft.peft_config[RANKING].save_pretrained(str(folder))

    def _load(self, path: Path, name: str) -> None:
        from peft import PeftModel

        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.model, str(path), adapter_name=name, is_trainable=False)
        else:
            self.peft.load_adapter(str(path), adapter_name=name, is_trainable=False)

    def _scale(self, name: str, scale: float) -> None:
        if scale == 1.0:
            return
        from peft.tuners.lora import LoraLayer

        for module in self.model.modules():
            if isinstance(module, LoraLayer) and name in module.lora_A:
                module.set_scale(name, scale)
