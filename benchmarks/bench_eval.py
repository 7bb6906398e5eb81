"""Benchmark: rankkit.evaluation.evaluate against raw ir_measures.calc_aggregate.

Two comparisons on a synthetic run (default 10,000 queries x 1,000 docs, seeded):

1. **From files** (end to end): ``evaluate(read_run(f), read_qrels(q), M)`` against
   ``ir_measures.calc_aggregate(M, read_trec_qrels(q), read_trec_run(f))``.
2. **In memory**: rankkit's ``Run``/``Qrels`` through ``evaluate`` against the
   equivalent pandas DataFrames (ir-measures' documented DataFrame input) given
   to ``calc_aggregate``. Also printed: the raw dict-of-dict input, the fastest
   form ir-measures accepts, for reference.

Run: ``python -m benchmarks.bench_eval`` (``--queries 1000 --docs 100`` for a quick run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, one_line, summary

MEASURES = "nDCG@10 RR@10 R@100 AP"


def write_synthetic(folder: Path, queries: int, docs: int, seed: int = 0) -> tuple[Path, Path]:
    """Write a synthetic TREC run and qrels; returns their paths.

    Scores are float32 values (as rankkit stores them), written in their
    shortest exact decimal form, so both readers see identical scores. Each
    query has 1-6 judged docs (graded 0-3), mostly among its retrieved docs.
    """
    rng = np.random.default_rng(seed)
    run_path, qrels_path = folder / "run.trec", folder / "qrels.txt"
    with open(run_path, "w") as run_file, open(qrels_path, "w") as qrels_file:
        for q in range(queries):
            qid = f"q{q}"
            doc_ids = rng.choice(docs * 20, size=docs, replace=False)
            scores = np.sort(rng.normal(10, 3, size=docs).astype(np.float32))[::-1]
            run_file.writelines(
                f"{qid} Q0 d{d} {r} {s!r} synth\n"
                for r, (d, s) in enumerate(zip(doc_ids.tolist(), map(float, scores)), 1)
            )
            judged = rng.integers(1, 7)
            retrieved = rng.choice(doc_ids, size=judged, replace=False)
            others = rng.integers(docs * 20, docs * 40, size=judged)
            picks = np.where(rng.random(judged) < 0.7, retrieved, others)
            for d, g in zip(dict.fromkeys(picks.tolist()), rng.integers(0, 4, size=judged).tolist()):
                qrels_file.write(f"{qid} 0 d{d} {g}\n")
    return run_path, qrels_path


def _same_aggregates(ours: dict[str, float], raw: dict) -> bool:
    """rankkit's aggregates equal ir-measures' exactly, measure by measure."""
    return ours == {str(measure): value for measure, value in raw.items()}


def main(argv: list[str] | None = None) -> int:
    """Run both comparisons and print the times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import ir_measures

    from rankkit.evaluation import evaluate, parse_measures
    from rankkit.evaluation.evaluate import qrels_to_ir_measures, run_to_ir_measures
    from rankkit.trec import read_qrels, read_run

    measures = parse_measures(MEASURES)
    with tempfile.TemporaryDirectory() as tmp:
        run_path, qrels_path = write_synthetic(Path(tmp), args.queries, args.docs)
        print(f"synthetic run: {args.queries} queries x {args.docs} docs, {MEASURES}", flush=True)

        def rk_files() -> dict[str, float]:
            return evaluate(read_run(run_path), read_qrels(qrels_path), measures).aggregate

        def raw_files() -> dict:
            return ir_measures.calc_aggregate(
                measures, ir_measures.read_trec_qrels(str(qrels_path)), ir_measures.read_trec_run(str(run_path))
            )

        compare("from files (read + evaluate)", rk_files, raw_files, args.repeats, same=_same_aggregates)

        run, qrels = read_run(run_path), read_qrels(qrels_path)
        run_df, qrels_df = run.to_ir_measures(), qrels.to_ir_measures()
        compare(
            "in memory (Run vs DataFrame)",
            lambda: evaluate(run, qrels, measures).aggregate,
            lambda: ir_measures.calc_aggregate(measures, qrels_df, run_df),
            args.repeats,
            same=_same_aggregates,
        )
        del run_df, qrels_df
        run_dict, qrels_dict = run_to_ir_measures(run), qrels_to_ir_measures(qrels)
        compare(
            "in memory (Run vs dict-of-dict, reference)",
            lambda: evaluate(run, qrels, measures).aggregate,
            lambda: ir_measures.calc_aggregate(measures, qrels_dict, run_dict),
            args.repeats,
            same=_same_aggregates,
            target=None,  # the raw side gets its input pre-converted; shows rankkit's conversion cost
        )
    print("\nsummary\n" + summary())
    print("ratios: " + one_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
