"""One measured point past one process: a cross-encoder rescoring run split with ``rankkit run --shard I/N``.

Usage::

    .venv/bin/python -m benchmarks.bench_shard [--queries 300] [--depth 20] [--shards 2]

The experiment (written into a scratch folder): SciFact test, BM25 top ``depth``
(the ``scifact-bm25`` index) rescored by a cross-encoder (the model of
``benchmarks.bench_crossencoder.scoring_model``), ``batch_size`` 25 queries.
It is run three ways, each into a fresh output folder and with the score cache
off:

* **one process** using every core (torch's threads);
* **N shards**: N ``rankkit run --shard I/N`` processes started together, each
  with ``cores / N`` threads (as N machines sharing the output folder would run
  them), then the plain run that merges them and evaluates;
* the merge alone is timed apart, so the table shows what splitting costs.

The run files of the unsplit and the merged run must be byte-identical, else
the benchmark fails. On one machine the shards only trade threads for
processes; on N machines each shard is a machine's work, so the wall time of a
shard is the time of the whole run on N machines (plus the merge).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """\
description = "benchmark: BM25 top {depth} rescored by a cross-encoder, SciFact test ({queries} queries)"
dataset = "beir-scifact"

[settings]
queries = {queries}
batch_size = 25

[pipelines.bm25-ce]
stages = [{{ retriever = "bm25", index = "scifact-bm25", k = {depth} }},
          {{ scorer = "cross-encoder", model = "{model}", window = {depth}, max_length = 128, device = "cpu" }}]

[evaluation]
measures = ["nDCG@10"]
"""


def rankkit_run(config: Path, output: Path, threads: int, shard: str | None = None) -> subprocess.Popen:
    """Start ``rankkit run`` (no score cache, no progress) with ``threads`` torch/BLAS threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [str(Path(sys.executable).with_name("rankkit")), "run", str(config), "-o", str(output), "--no-cache",
               "--no-progress", *(["--shard", shard] if shard else [])]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> None:
    """Wait for ``process``; fail with its error output when it failed."""
    _, err = process.communicate()
    if process.returncode:
        sys.exit(f"rankkit run failed ({process.returncode}):\n{err[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()

    from benchmarks.bench_crossencoder import scoring_model
    from benchmarks.harness import Timing, record

    cores = os.cpu_count() or 1
    model = scoring_model()
    with tempfile.TemporaryDirectory(prefix="rankkit-bench-shard-") as scratch:
        root = Path(scratch)
        config = root / "shard-bench.toml"
        config.write_text(EXPERIMENT.format(depth=args.depth, queries=args.queries, model=model))
        # the index is built or checked once, outside the timings
        warm = rankkit_run(config, root / "warm", cores)
        finish(warm)

        started = time.perf_counter()
        finish(rankkit_run(config, root / "whole", cores))
        whole = time.perf_counter() - started

        started = time.perf_counter()
        shards = [rankkit_run(config, root / "split", max(1, cores // args.shards), f"{i}/{args.shards}")
                  for i in range(1, args.shards + 1)]
        for process in shards:
            finish(process)
        sharded = time.perf_counter() - started
        started = time.perf_counter()
        finish(rankkit_run(config, root / "split", cores))
        merge = time.perf_counter() - started

        one = (root / "whole" / "runs" / "bm25-ce.trec").read_bytes()
        merged = (root / "split" / "runs" / "bm25-ce.trec").read_bytes()
        if one != merged:
            sys.exit("FAIL: the merged run differs from the unsplit run")
    pairs = args.queries * args.depth
    print(f"{args.queries} queries x top {args.depth} = {pairs} pairs, {cores} cores, model {model}")
    print(f"one process, {cores} threads:          {whole:7.1f} s")
    print(f"{args.shards} shards in parallel, {max(1, cores // args.shards)} thread(s) each: {sharded:7.1f} s "
          f"(+ merge and evaluation {merge:.1f} s)")
    print(f"ratio (shards + merge) / one process: {(sharded + merge) / whole:.3f}; run files byte-identical")
    total = sharded + merge
    record(Timing(f"shard: {args.shards} processes + merge vs 1 process (CE rescoring)", total, whole, 1, None,
                  (total, total), (whole, whole), True))


if __name__ == "__main__":
    main()
