"""Exported cross-encoders in the artifact store: an fp32 ONNX graph, and its static int8 quantisation.

Each is a folder under ``$RANKKIT_CACHE/onnx`` built once through :func:`rankkit.store.ensure` (atomic, locked,
rebuilt with the reason logged when its key changes) and keyed by the source model's content fingerprint
(:meth:`rankkit.models.ModelRef.fingerprint`), the export settings (:data:`EXPORT`, :data:`INT8`, the
calibration data) and the versions of the libraries that write or run the graph (:data:`LIBRARIES`).

* :func:`exported`: ``torch.onnx.export`` of the ``CrossEncoder``'s Hugging Face sequence-classification model
  (the weights ``CrossEncoder.predict`` runs), dynamic batch and sequence axes, inputs as the tokenizer makes
  them, output ``logits``; the tokenizer is saved beside it. The build checks that onnxruntime reproduces the
  torch logits on pairs of other shapes than the traced ones before the folder counts as built.
* :func:`quantized`: ``onnxruntime.quantization.quantize_static`` (QDQ) of the preprocessed fp32 graph,
  activation ranges calibrated on pairs of a dataset (:mod:`rankkit_crossencoder.calibration`).
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.config import cache_dir
from rankkit.store import Artifact, ensure
from rankkit.versions import library_versions
from rankkit_crossencoder.calibration import SEED, calibration_pairs, data_reader
from rankkit_crossencoder.models import ModelError, check_tokenizer
from rankkit_crossencoder.ort_model import GRAPH_FILE, META_FILE, TOKENIZER_DIR, OnnxCrossEncoder

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.models import ModelRef

logger = logging.getLogger(__name__)

#: How the graph is written (part of its key): the TorchScript exporter needs no onnxscript; eager attention
#: (the same computation as the scorer's SDPA, written out) gives onnxruntime a smaller graph to optimise.
EXPORT = {"opset": 17, "exporter": "torchscript", "attention": "eager", "axes": "dynamic batch and sequence"}
#: How the int8 graph is made (part of its key): the MatMuls (nearly all of the compute; the rest stays fp32) but
#: the feed-forward down-projections (see :func:`_kept_fp32`), uint8 activations with int8 weights (the pairs
#: onnxruntime's CPU kernels fuse into QLinearMatMul; with int8 activations most MatMuls stayed fp32 after
#: dequantisation), per-channel weight scales, MinMax activation ranges.
INT8 = {"format": "QDQ", "activations": "QUInt8", "weights": "QInt8", "per_channel": True, "method": "MinMax",
        "ops": ["MatMul"], "preprocess": True, "fp32": "down-projections"}
#: Distributions whose versions can change the graph or what it computes.
LIBRARIES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "rankkit-crossencoder")
#: Inputs a graph may take, in this order (those the tokenizer makes).
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Largest |onnxruntime - torch| logit difference an export may show on its check pairs.
TOLERANCE = 1e-4
_CHECK_PAIRS = [("a query", "a passage"), ("another question about something", "a longer passage " * 12),
                ("q", "x")]


@dataclass(frozen=True)
class Calibration:
    """The data a static int8 graph is calibrated on.

    Attributes:
        dataset: Where the (query, document) pairs come from.
        checksum: Its content hash (:meth:`rankkit.datasets.base.Dataset.checksum`).
        pairs: How many pairs.
        max_length: The truncation the pairs are tokenized with (the scorer's).
        seed: The sample's seed.
    """

    dataset: Dataset
    checksum: str
    pairs: int
    max_length: int
    seed: int = SEED

    def parts(self) -> dict[str, Any]:
        """What the quantised graph's key records of the calibration data (the dataset's content included)."""
        return {"dataset": self.dataset.name, "checksum": self.checksum, "pairs": self.pairs,
                "max_length": self.max_length, "seed": self.seed}


def exported(ref: ModelRef, load: Callable[[], Any]) -> Artifact:
    """The fp32 graph of the cross-encoder ``ref``, exported on first use.

    Args:
        ref: The source model.
        load: Loads it as a ``CrossEncoder`` on the CPU (its own max length), when an export is needed.

    Raises:
        ModelError: For a model the export does not support, or whose graph does not reproduce it.
    """
    source = ref.fingerprint()
    parts = {"source": source, "export": EXPORT, "versions": library_versions(LIBRARIES)}
    target = cache_dir() / "onnx" / f"{source}-fp32"
    return ensure(target, META_FILE, "onnx", parts, lambda staging: _export(ref.name, load(), staging),
                  what=f"onnx export of {ref.name}")


def quantized(fp32: Artifact, calibration: Calibration) -> Artifact:
    """The static int8 graph of the exported ``fp32`` graph, calibrated on ``calibration``, made on first use."""
    parts = {"fp32": fp32.stamp["key"], "int8": INT8, "calibration": calibration.parts(),
             "versions": library_versions(LIBRARIES)}
    variant = fingerprint("onnx", "int8", {"int8": INT8, "calibration": parts["calibration"]})[:8]
    target = fp32.path.with_name(f"{fp32.path.name.removesuffix('-fp32')}-int8-{variant}")
    return ensure(target, META_FILE, "onnx", parts, lambda staging: _quantize(fp32.path, calibration, staging),
                  what=f"static-int8 quantisation of {fp32.path.name}")


def check_exportable(model: Any, name: str) -> None:
    """Refuse a ``CrossEncoder`` that is not one text tokenizer and one single-logit classification model.

    Raises:
        ModelError: Naming what the export does not support and the fix (``backend = "torch"``).
    """
    modules = list(model)
    first = modules[0] if modules else None
    task = getattr(first, "transformer_task", None)
    config = getattr(first, "modality_config", {})
    why = None
    if len(modules) != 1 or task != "sequence-classification":
        why = (f"its modules are {[type(m).__name__ for m in modules]} (task {task!r}), not one "
               "sequence-classification Transformer")
    elif set(config) != {"text"} or getattr(first, "tokenizer", None) is not first.processor:
        why = (f"it takes {sorted(map(str, config))} through a {type(first.processor).__name__}, not text through "
               "a tokenizer")
    elif model.num_labels != 1:
        why = f"it has {model.num_labels} labels, not one relevance logit"
    if why:
        raise ModelError(f"cross-encoder {name!r}: backend = \"onnx\" cannot export this model: {why}. "
                         "Use backend = \"torch\".")


def _export(name: str, model: Any, staging: Path) -> dict[str, Any]:
    """Export ``model`` (a ``CrossEncoder`` on the CPU) into ``staging``; the stamp's content."""
    import torch
    from sentence_transformers.util import fullname

    check_exportable(model, name)
    check_tokenizer(model, f"cross-encoder {name!r}")
    network = model[0].model.eval()
    tokenizer = model.tokenizer
    example = tokenizer([list(p) for p in _CHECK_PAIRS[:2]], padding=True, truncation="longest_first",
                        return_tensors="pt")
    extra = sorted(set(example) - set(INPUTS))
    if extra:
        raise ModelError(f"cross-encoder {name!r}: backend = \"onnx\" cannot export this model: its tokenizer also "
                         f"makes {extra}. Use backend = \"torch\".")
    inputs = [n for n in INPUTS if n in example]

    class Logits(torch.nn.Module):
        """The model's logits from positional inputs (what the tracer records)."""

        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.network(**dict(zip(inputs, tensors))).logits

    axes = {n: {0: "batch", 1: "sequence"} for n in inputs} | {"logits": {0: "batch"}}
    graph = staging / GRAPH_FILE
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)   # the TorchScript exporter's notice
            warnings.simplefilter("ignore", torch.jit.TracerWarning)   # shape branches: checked just below
            warnings.filterwarnings("ignore", "Exporting aten::index", UserWarning)   # the same
            torch.onnx.export(Logits().eval(), tuple(example[n] for n in inputs), str(graph), dynamo=False,
                              input_names=inputs, output_names=["logits"], dynamic_axes=axes,
                              opset_version=EXPORT["opset"], do_constant_folding=True)
    except Exception as error:  # noqa: BLE001 - any exporter failure means the same to the user
        raise ModelError(f"cross-encoder {name!r}: backend = \"onnx\" could not export this model "
                         f"({type(error).__name__}: {error}). Use backend = \"torch\".") from error
    tokenizer.save_pretrained(str(staging / TOKENIZER_DIR))
    meta = {"inputs": inputs, "max_seq_length": int(model.max_seq_length),
            "activation": fullname(model.activation_fn), "source": name}
    (staging / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    difference = _check(network, OnnxCrossEncoder(staging, threads=1), name)
    logger.info("exported %s to ONNX (opset %s); largest |logit difference| on the check pairs %.2e",
                name, EXPORT["opset"], difference)
    return {**meta, "check_max_abs_diff": difference}


def _check(network: Any, graph: OnnxCrossEncoder, name: str) -> float:
    """The largest |onnxruntime - torch| logit difference on :data:`_CHECK_PAIRS` (other shapes than traced).

    Raises:
        ModelError: When it exceeds :data:`TOLERANCE`.
    """
    import torch

    features = graph.tokenize(_CHECK_PAIRS)
    with torch.inference_mode():
        expected = network(**{k: torch.from_numpy(v) for k, v in features.items()}).logits.float().numpy()
    got = graph.session.run(["logits"], features)[0]
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= TOLERANCE:
        raise ModelError(f"cross-encoder {name!r}: the ONNX graph does not reproduce the model (largest logit "
                         f"difference {difference:.3g} > {TOLERANCE}). Use backend = \"torch\".")
    return difference


def _quantize(fp32: Path, calibration: Calibration, staging: Path) -> dict[str, Any]:
    """Quantise the graph in ``fp32`` into ``staging`` (static int8, :data:`INT8`); the stamp's content."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = OnnxCrossEncoder(fp32, calibration.max_length, threads=0)
    pairs = calibration_pairs(calibration.dataset, calibration.pairs, calibration.seed)
    prepared = staging / "preprocessed.onnx"
    quant_pre_process(str(fp32 / GRAPH_FILE), str(prepared), auto_merge=True)
    quantize_static(str(prepared), str(staging / GRAPH_FILE), data_reader(pairs, source.tokenize),
                    quant_format=QuantFormat.QDQ, per_channel=INT8["per_channel"],
                    activation_type=getattr(QuantType, INT8["activations"]),
                    weight_type=getattr(QuantType, INT8["weights"]), op_types_to_quantize=INT8["ops"],
                    calibrate_method=getattr(CalibrationMethod, INT8["method"]),
                    nodes_to_exclude=_kept_fp32(prepared, INT8["fp32"]))
    prepared.unlink()
    shutil.copytree(fp32 / TOKENIZER_DIR, staging / TOKENIZER_DIR)
    meta = {**json.loads((fp32 / META_FILE).read_text(encoding="utf-8")), "calibration_pairs_used": len(pairs)}
    meta = {k: v for k, v in meta.items() if k not in ("key", "parts", "check_max_abs_diff")}
    (staging / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    quantised = OnnxCrossEncoder(staging, calibration.max_length, threads=0)
    held = pairs[: min(len(pairs), 64)]
    difference = float(np.max(np.abs(quantised.logits(held) - source.logits(held))))
    logger.info("quantised %s to static int8 on %d pairs of %s; largest |logit difference| from fp32 on 64 of "
                "them %.3g",
                fp32.name, len(pairs), calibration.dataset.name, difference)
    return {**meta, "calibration_max_abs_diff": difference}


def _kept_fp32(graph: Path, rule: str) -> list[str]:
    """The MatMuls of ``graph`` left in fp32 by ``rule``.

    ``down-projections``: those whose constant weight maps a wider input to a narrower output (the feed-forward
    down-projections, whose inputs follow the activation function and carry outliers that a MinMax int8 range
    spreads over too few steps); ``+attention`` adds those of two activations (attention scores and context);
    ``none``: none.
    """
    import onnx

    if rule == "none":
        return []
    model = onnx.load(str(graph))
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}

    def kept(node: Any) -> bool:
        weight = shapes.get(node.input[1]) if len(node.input) == 2 else None
        if weight is None:
            return rule.endswith("+attention")
        return len(weight) == 2 and weight[0] > weight[1]

    return [n.name for n in model.graph.node if n.op_type == "MatMul" and kept(n)]
