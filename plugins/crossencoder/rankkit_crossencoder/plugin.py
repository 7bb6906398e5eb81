"""The rankkit hooks of rankkit-crossencoder (entry point ``crossencoder`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and
imported when built; their parameters are the dataclasses of
:mod:`rankkit_crossencoder.settings`, so registering imports neither torch nor
sentence-transformers.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_crossencoder.settings import CrossEncoderScorerSettings, CrossEncoderTrainSettings

#: What a cross-encoder's scores depend on besides rankkit and this plugin.
LIBRARIES = ("sentence-transformers", "transformers", "torch")
#: What a trained cross-encoder depends on: the same, and accelerate, under transformers' Trainer.
TRAINING_LIBRARIES = (*LIBRARIES, "accelerate")


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The cross-encoder scorer (a reranker through the core's scorer adapter)."""
    return [
        ComponentSpec("scorer", "cross-encoder", summary="sentence-transformers CrossEncoder: a model folder, "
                      "package:PKG/folder, or a hub id", target="rankkit_crossencoder.scorer:CrossEncoderScorer",
                      settings=CrossEncoderScorerSettings, libraries=LIBRARIES, needs_registry=True)
    ]


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The cross-encoder trainer (sentence-transformers CrossEncoderTrainer)."""
    return [
        ComponentSpec("trainer", "cross-encoder", summary="fine-tune a cross-encoder on training qrels, negatives mined "
                      "from the first stage", target="rankkit_crossencoder.trainer:CrossEncoderModelTrainer",
                      settings=CrossEncoderTrainSettings, libraries=TRAINING_LIBRARIES)
    ]


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """Label-free training data: ``pseudo:METHOD[:N]:CORPUS`` (Inverse Cloze Task, title as query)."""
    return [
        ComponentSpec("dataset_provider", "pseudo-queries", summary="pseudo:ict+title[:N]:CORPUS: pseudo-queries from "
                      "a corpus alone, for label-free reranker training",
                      target="rankkit_crossencoder.pseudo:PseudoQueryProvider", needs_registry=True),
    ]
