"""Language adapters: a LoRA adapter or a sparse fine-tuning learnt from monolingual text.

Encoders learn with masked-LM, decoders with causal-LM, through transformers'
``Trainer`` and ``DataCollatorForLanguageModeling``. Only monolingual text goes
in: one plain-text file (one passage per line) or a dataset's corpus. The
adapter is saved with its language code and backbone fingerprints
(:mod:`rankkit_xling.library`), so a library finds it by language and refuses
it on another backbone.

An encoder checkpoint without a masked-LM head (a sentence encoder such as
multilingual-e5) gets a fresh head from the seed; the head's transform is
trained alongside the adapter and then discarded, as MAD-X discards the MLM
head: only the adapter is kept.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.errors import ConfigError
from rankkit.models import resolve_device
from rankkit.trec import open_text
from rankkit_crossencoder.curves import save_curves
from rankkit_xling.backbone import Backbone, resolve_backbone
from rankkit_xling.compose import lora_config
from rankkit_xling.library import AdapterInfo, write_adapter_info
from rankkit_xling.settings import LanguageSettings
from rankkit_xling.sparse import freeze_embeddings, is_embedding, lottery_ticket, save_sparse, sparse_difference

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)
WHERE = LanguageSettings.component


def monolingual_texts(settings: LanguageSettings, dataset: Dataset | None) -> tuple[list[str], list[str] | None]:
    """The training text: the lines of ``text_file``, else the dataset's documents (title and text).

    Returns:
        The texts, and the ids of the documents they come from (``None`` for a text file).

    Raises:
        ConfigError: When there is no text at all.
    """
    ids: list[str] | None = None
    if settings.text_file:
        with open_text(Path(settings.text_file)) as handle:
            texts = [line.strip() for line in handle if line.strip()]
        where = settings.text_file
    elif dataset is not None:
        documents = [d for d in dataset.iter_documents() if d.full_text.strip()]
        texts, ids = [d.full_text for d in documents], [d.doc_id for d in documents]
        where = f"dataset {dataset.name!r}"
    else:
        raise ConfigError("trainer 'xling-language': give text_file or a dataset whose corpus is the language's text")
    if settings.max_texts:
        texts, ids = texts[: settings.max_texts], None if ids is None else ids[: settings.max_texts]
    if not texts:
        raise ConfigError(f"trainer 'xling-language': {where} holds no text")
    return texts, ids


class LanguageAdapterTrainer:
    """Trains a language adapter (LoRA or SFT) from monolingual text.

    Args:
        settings: The parameters.

    Raises:
        ConfigError: For a ``text_file`` that does not exist.
    """

    def __init__(self, settings: LanguageSettings) -> None:
        if settings.text_file and not Path(settings.text_file).is_file():
            raise ConfigError(f"{WHERE}: text_file {settings.text_file} does not exist")
        self.settings = settings

    def train(self, dataset: Dataset | None, output: Path, candidates: Run | None = None) -> dict[str, Any]:
        """Learn the adapter from the text and save it into ``output`` (candidates are not used)."""
        s = self.settings
        started = time.time()
        backbone = resolve_backbone(s.backbone)
        texts, seen = monolingual_texts(s, dataset)
        model, tokenizer, new_head = self._model(backbone)
        data, collator = self._data(texts, tokenizer, backbone)
        scratch = Path(tempfile.mkdtemp(prefix="rankkit-xling-la-"))
        try:
            if s.method == "lora":
                peft = self._lora(model, backbone, new_head)
                history = self._fit(peft, data, collator, scratch)
                peft.save_pretrained(str(output))
                for extra in ("README.md",):
                    (output / extra).unlink(missing_ok=True)
                stored = sum(p.numel() for n, p in peft.named_parameters() if "lora_" in n)
            else:
                history, stored = self._sft(model, data, collator, scratch, output, backbone)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        write_adapter_info(output, AdapterInfo(output, "language", s.method, s.lang, backbone.name,
                                               backbone.fingerprint, backbone.tokenizer_fingerprint), seen=seen)
        save_curves(output, history, [])
        losses = [h["loss"] for h in history if "loss" in h]
        return {"texts": len(texts), "objective": backbone.language_modelling, "method": s.method,
                "steps": s.steps, "stored_parameters": int(stored), "new_lm_head": new_head,
                "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
                "seconds": round(time.time() - started, 2), "settings": asdict(s)}

    def _model(self, backbone: Backbone) -> tuple[Any, Any, bool]:
        from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, set_seed

        set_seed(self.settings.seed)
        local = Path(backbone.path).is_dir()
        cls = AutoModelForMaskedLM if backbone.kind == "encoder" else AutoModelForCausalLM
        model, info = cls.from_pretrained(backbone.path, local_files_only=local, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(backbone.path, local_files_only=local)
        if backbone.kind == "decoder" and tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if backbone.kind == "encoder" and tokenizer.mask_token is None:
            raise ConfigError(f"xling-language: the tokenizer of {backbone.name!r} has no mask token; masked-LM needs one")
        new_head = any(k.startswith(("lm_head.", "cls.")) and "decoder" not in k for k in info.get("missing_keys", []))
        return model.to(resolve_device(self.settings.device, where=WHERE)), tokenizer, new_head

    def _data(self, texts: list[str], tokenizer: Any, backbone: Backbone) -> tuple[Any, Any]:
        from datasets import Dataset as HFDataset
        from transformers import DataCollatorForLanguageModeling

        encoded = tokenizer(texts, truncation=True, max_length=self.settings.max_length)
        data = HFDataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=backbone.kind == "encoder",
                                                   mlm_probability=self.settings.mlm_probability, seed=self.settings.seed)
        return data, collator

    def _lora(self, model: Any, backbone: Backbone, new_head: bool) -> Any:
        from peft import get_peft_model

        s = self.settings
        peft = get_peft_model(model, lora_config(backbone.kind, s.lora_r, s.lora_alpha, s.lora_dropout))
        if new_head:  # a fresh MLM transform must learn too, or the adapter learns to serve a random head
            for name, param in peft.named_parameters():
                if (".lm_head." in name or ".cls." in name) and "decoder" not in name and "embeddings" not in name:
                    param.requires_grad_(True)
        return peft

    def _sft(self, model: Any, data: Any, collator: Any, scratch: Path, output: Path, backbone: Backbone) -> tuple[list, int]:
        s = self.settings
        prefix = getattr(model, "base_model_prefix", "")
        freeze_embeddings(model)
        body = {n for n, p in model.named_parameters()
                if (n.startswith(f"{prefix}.") or not prefix) and p.requires_grad}  # not the LM head
        before, masks, k, first, second = lottery_ticket(
            model, body, s.sft_k, lambda phase: self._fit(model, data, collator, scratch / phase,
                                                          weight_decay=0.0 if phase == "sparse" else 0.01),
            _head_masks(model, body))
        stored = save_sparse(output, sparse_difference(model, before, masks),
                             {"backbone": backbone.name, "k": k, "kind": "language"})
        return first + [{**h, "phase": "sparse"} for h in second], stored

    def _fit(self, model: Any, data: Any, collator: Any, scratch: Path, weight_decay: float = 0.01) -> list[dict]:
        from transformers import Trainer, TrainingArguments

        s = self.settings
        device = resolve_device(s.device, where=WHERE)
        args = TrainingArguments(
            output_dir=str(scratch), max_steps=s.steps, per_device_train_batch_size=s.batch_size,
            learning_rate=s.learning_rate, warmup_steps=0.1, weight_decay=weight_decay, seed=s.seed, data_seed=s.seed,
            logging_steps=s.logging_steps, logging_first_step=True, save_strategy="no", report_to="none",
            disable_tqdm=True, use_cpu=device == "cpu", dataloader_num_workers=0, remove_unused_columns=False,
        )
        trainer = Trainer(model=masked_positions_only(model) if getattr(collator, "mlm", False) else model, args=args,
                          train_dataset=data, data_collator=collator)
        logger.info("xling-language %s (%s, %s): %d steps on %d texts", s.lang, s.method,
                    "masked-LM" if getattr(collator, "mlm", False) else "causal-LM", s.steps, len(data))
        trainer.train()
        return list(trainer.state.log_history)


def _head_masks(model: Any, body: set[str]) -> dict[str, Any]:
    """All-ones masks for the LM head's own weights: they learn in both phases and are discarded."""
    import torch

    return {n: torch.ones_like(p, dtype=torch.bool) for n, p in model.named_parameters()
            if n not in body and not is_embedding(n)}


def masked_positions_only(model: Any) -> Any:
    """A module computing the masked-LM loss from the masked positions only.

    transformers' masked-LM heads project every position onto the vocabulary;
    with a 250k-token vocabulary (XLM-R, multilingual-e5) that projection is
    most of a training step, and 85% of it is thrown away. This wrapper runs
    the encoder, picks the masked positions, and applies the model's own head
    to them: the same loss, a fraction of the work. Models whose head it does
    not recognise are returned unchanged.
    """
    import torch

    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    if encoder is None or head is None:
        return model

    class MaskedPositions(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any = None, labels: Any = None, **_: Any) -> dict[str, Any]:
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            picked = labels != -100
            logits = head(hidden[picked])
            return {"loss": torch.nn.functional.cross_entropy(logits.float(), labels[picked])}

    return MaskedPositions()
