"""One table of every comparison recorded by ``make bench`` (``$RANKKIT_BENCH_RECORD``, JSON lines).

Usage::

    .venv/bin/python -m benchmarks.summary /tmp/rankkit-bench.jsonl
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from benchmarks.harness import Timing, verdict


def load(path: Path) -> list[Timing]:
    """The recorded comparisons, in order."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Timing(r["name"], r["rankkit_s"], r["raw_s"], r["repeats"], r["target"], tuple(r["rankkit_range"]),
                   tuple(r["raw_range"]), r["checked"], r.get("agreement", "equal")) for r in rows]


def table(timings: list[Timing]) -> str:
    """A Markdown table: stage, rankkit and raw medians (min-max), ratio, target, verdict, outputs checked."""
    lines = ["| stage | rankkit s | raw s | ratio | target | verdict | outputs |", "|---|---|---|---|---|---|---|"]
    for t in timings:
        target = "-" if t.target is None else f"<= {t.target:.3g}"
        lines.append(
            f"| {t.name} | {t.rankkit_s:.3f} ({t.rankkit_range[0]:.3f}-{t.rankkit_range[1]:.3f}) "
            f"| {t.raw_s:.3f} ({t.raw_range[0]:.3f}-{t.raw_range[1]:.3f}) | {t.ratio:.3f} | {target} | {verdict(t)} "
            f"| {t.agreement if t.checked else 'not compared'} |")
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if path is None or not path.is_file():
        sys.exit("usage: python -m benchmarks.summary RECORD.jsonl (written by benchmarks run with $RANKKIT_BENCH_RECORD)")
    print(f"rankkit benchmarks, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} CPUs, Python {platform.python_version()}\n")
    print(table(load(path)))


if __name__ == "__main__":
    main()
