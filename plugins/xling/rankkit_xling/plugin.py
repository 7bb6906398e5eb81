"""The rankkit hooks of rankkit-xling (entry point ``xling`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and
imported when built; their parameters are the dataclasses of
:mod:`rankkit_xling.settings`, so registering the plugin imports neither torch
nor PEFT.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_xling.settings import FullSettings, LanguageSettings, RankingSettings, ScorerSettings

#: What a composed model's scores depend on besides rankkit and its plugins.
LIBRARIES = ("sentence-transformers", "transformers", "torch", "peft")
#: What a trained adapter or model depends on: the same, and accelerate, under transformers' Trainer.
TRAINING_LIBRARIES = (*LIBRARIES, "accelerate")


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """Language adapters, ranking adapters and the full fine-tuning baseline."""
    return [
        ComponentSpec("trainer", "xling-language", summary="language adapter (LoRA or sparse fine-tuning) from "
                      "monolingual text: masked-LM for encoders, causal-LM for decoders",
                      target="rankkit_xling.language:LanguageAdapterTrainer", settings=LanguageSettings,
                      libraries=TRAINING_LIBRARIES),
        ComponentSpec("trainer", "xling-ranking", summary="ranking adapter (LoRA + head, or sparse fine-tuning) on "
                      "training qrels, under a frozen source-language adapter; weightable by the curriculum trainer",
                      target="rankkit_xling.ranking:RankingAdapterTrainer", settings=RankingSettings,
                      libraries=TRAINING_LIBRARIES),
        ComponentSpec("trainer", "xling-full", summary="full fine-tuning of the backbone as a cross-encoder (the "
                      "zero-shot transfer baseline)", target="rankkit_xling.ranking:FullFineTuneTrainer",
                      settings=FullSettings, libraries=TRAINING_LIBRARIES),
    ]


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The cross-lingual scorer (a reranker through the core's scorer adapter)."""
    return [
        ComponentSpec("scorer", "xling", summary="backbone + ranking adapter + language adapter(s) of the query or "
                      "document language", target="rankkit_xling.scorer:CrossLingualScorer", settings=ScorerSettings,
                      libraries=LIBRARIES),
    ]


@hookimpl
def rankkit_cli(cli: Any) -> None:
    """``rankkit xling ...``: list an adapter library, export merged weights."""
    from rankkit_xling.cli import xling

    cli.add_command(xling)
