"""Ranking adapters (and the baselines) trained like any rankkit cross-encoder.

All three trainers are the cross-encoder plugin's trainer (same samples from
qrels and a first-stage run, same losses, seeds, curves and curriculum
support through ``with_sample_weighter``), differing only in which weights
learn and what is saved:

* ``xling-ranking`` (method ``lora``): a LoRA ranking adapter plus the scoring
  head; the source-language adapter (``language_adapter``) is active and frozen.
  Without a language adapter this is the "RA only" baseline.
* ``xling-ranking`` (method ``sft``): a ranking sparse fine-tuning on top of the
  source-language SFT (two-phase LT-SFT, :mod:`rankkit_xling.sparse`).
* ``xling-full``: full fine-tuning of the backbone (zero-shot transfer baseline).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rankkit.components import SampleWeighter
from rankkit.errors import ConfigError
from rankkit_crossencoder.trainer import CrossEncoderModelTrainer
from rankkit_xling.backbone import cross_encoder_kwargs, resolve_backbone
from rankkit_xling.compose import Composer, head_name
from rankkit_xling.library import AdapterInfo, read_adapter, write_adapter_info
from rankkit_xling.settings import FullSettings, RankingSettings
from rankkit_xling.sparse import freeze_embeddings, lottery_ticket, save_sparse, sparse_difference

logger = logging.getLogger(__name__)


class RankingAdapterTrainer(CrossEncoderModelTrainer):
    """Trains a ranking adapter (LoRA or SFT) on a backbone, under a frozen source-language adapter.

    Args:
        settings: The backbone, the adapter (method, source-language adapter, size) and the cross-encoder training.
        weighter: Optional per-sample loss weights (curricula).
    """

    settings: RankingSettings

    def __init__(self, settings: RankingSettings, weighter: SampleWeighter | None = None) -> None:
        super().__init__(settings, weighter)
        self.backbone = resolve_backbone(settings.backbone)
        self.language = read_adapter(settings.language_adapter) if settings.language_adapter else None
        if self.language is not None:
            if self.language.kind != "language":
                raise ConfigError(f"{settings.component}: language_adapter {self.language.path} is a "
                                  f"{self.language.kind} adapter, not a language adapter")
            if self.language.method != settings.method:
                raise ConfigError(f"{settings.component}: method {settings.method!r} needs a {settings.method} language "
                                  f"adapter; {self.language.path} is {self.language.method}")
            self.language.check_backbone(self.backbone)
        self._composer: Composer | None = None
        self._sft: dict[str, Any] = {}

    def _base_model(self) -> str:
        return self.settings.backbone

    def _model_kwargs(self, path: str) -> dict[str, Any]:
        return cross_encoder_kwargs(self.backbone)

    def _model(self) -> Any:
        model = super()._model()  # the backbone with a fresh one-logit head, seeded
        composer = Composer(model.model)
        if self.language is not None:
            composer.add_language(self.language)
        if self.settings.method == "lora":
            a = self.settings
            composer.new_ranking(self.backbone.kind, a.lora_r, a.lora_alpha, a.lora_dropout)
            composer.activate(train_ranking=True)
        self._composer = composer
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        logger.info("xling-ranking: %s on %s%s, %d trainable parameters", self.settings.method, self.backbone.name,
                    f" under language adapter {self.language.lang}" if self.language else " (no language adapter)",
                    trainable)
        return model

    def with_checkpoints(self, folder: Path) -> RankingAdapterTrainer:
        """This trainer, unchanged: adapter and two-phase sparse trainings do not checkpoint (they restart)."""
        return self

    def _fit(self, trainer: Any, model: Any, resume: Path | None = None) -> Any:
        if self.settings.method == "lora":
            return super()._fit(trainer, model)
        hf = model.model
        head = head_name(hf)
        freeze_embeddings(hf)
        body = {n for n, p in hf.named_parameters() if not n.startswith(f"{head}.") and p.requires_grad}
        import torch

        head_masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in hf.named_parameters() if n.startswith(f"{head}.")}

        def fit(phase: str) -> Any:
            if phase == "sparse":
                # Only the masked entries (and the new head) learn, from a fresh optimiser without weight decay:
                # transformers keeps the first phase's optimiser across train() calls (it resets only the
                # scheduler), whose Adam moments and decaying param groups would keep moving unmasked weights.
                trainer.args.weight_decay = 0.0
                trainer.optimizer, trainer.lr_scheduler = None, None
            return CrossEncoderModelTrainer._fit(self, trainer, model)

        before, masks, k, _, result = lottery_ticket(hf, body, self.settings.sft_k, fit, head_masks)
        self._sft = {"hf": hf, "before": before, "masks": masks, "head": head_masks, "k": k}
        return result

    def _save(self, model: Any, output: Path) -> None:
        a = self.settings
        if a.method == "lora":
            self._composer.save_ranking(output)
        else:
            sft = self._sft
            head_before = {n: p.detach().clone().zero_() for n, p in sft["hf"].named_parameters() if n in sft["head"]}
            diff = sparse_difference(sft["hf"], sft["before"] | head_before, sft["masks"] | sft["head"])
            save_sparse(output, diff, {"backbone": self.backbone.name, "k": sft["k"], "kind": "ranking"})
        write_adapter_info(output, AdapterInfo(
            output, "ranking", a.method, self.language.lang if self.language else "", self.backbone.name,
            self.backbone.fingerprint, self.backbone.tokenizer_fingerprint,
            self.language.as_json() | {"path": str(self.language.path)} if self.language else None,
        ))


class FullFineTuneTrainer(CrossEncoderModelTrainer):
    """The full fine-tuning baseline: every backbone weight learns; zero-shot transfer at inference."""

    settings: FullSettings

    def __init__(self, settings: FullSettings, weighter: SampleWeighter | None = None) -> None:
        super().__init__(settings, weighter)
        self.backbone = resolve_backbone(settings.backbone)

    def _base_model(self) -> str:
        return self.settings.backbone

    def _model_kwargs(self, path: str) -> dict[str, Any]:
        return cross_encoder_kwargs(self.backbone)

    def _save(self, model: Any, output: Path) -> None:
        super()._save(model, output)
        write_adapter_info(output, AdapterInfo(output, "full", "full", "", self.backbone.name,
                                               self.backbone.fingerprint, self.backbone.tokenizer_fingerprint))
