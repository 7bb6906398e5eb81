"""A tiny side-by-side benchmark harness: rankkit against the raw library, in one process.

Usage::

    from benchmarks.harness import compare, summary

    compare("evaluate, from files", lambda: rk(), lambda: raw(), repeats=3)
    print(summary())          # one line per comparison made so far

Each function is called ``repeats`` times (at least 5 for a claim), alternating
rankkit and raw so that drift (thermal, page cache) hits both alike; the
**median** wall time of each is reported, with the min and max beside it, and
the ratio of the medians rankkit / raw. A ratio <= 1.05 is the target. With
``same``, the first outputs of both sides are compared before anything is
timed, and a difference fails the benchmark: a faster side that returns
something else proves nothing.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TARGET_RATIO = 1.05
#: Fewer runs than this per side give a printed timing, not a verdict.
MIN_REPEATS = 5


@dataclass(frozen=True)
class Timing:
    """The outcome of one side-by-side comparison.

    Attributes:
        name: What was compared.
        rankkit_s: Median wall time of the rankkit function, in seconds.
        raw_s: Median wall time of the raw-library function, in seconds.
        repeats: How many times each ran.
        target: The ratio to meet, or ``None`` for a reference comparison
            that is printed but not judged.
        rankkit_range: (min, max) wall time of the rankkit function.
        raw_range: (min, max) wall time of the raw function.
        checked: Whether both sides' outputs were compared (and found to agree) before timing.
        agreement: What the comparison established: ``equal`` outputs, or for a lossy lever the criterion it met
            (e.g. nDCG@10 within 0.005 of the raw side's).
    """

    name: str
    rankkit_s: float
    raw_s: float
    repeats: int
    target: float | None = TARGET_RATIO
    rankkit_range: tuple[float, float] = (0.0, 0.0)
    raw_range: tuple[float, float] = (0.0, 0.0)
    checked: bool = False
    agreement: str = "equal"

    @property
    def ratio(self) -> float:
        """rankkit time divided by raw time (below 1: rankkit is faster)."""
        return self.rankkit_s / self.raw_s if self.raw_s > 0 else float("inf")

    def line(self) -> str:
        """A one-line summary, e.g. ``evaluate: rankkit 1.20s  raw 1.25s  ratio 0.96 (ok)``."""
        said = verdict(self)
        said = {"reference": "reference, no target", "not judged": f"not judged: fewer than {MIN_REPEATS} runs",
                "met": "ok"}.get(said) or f"SLOWER than target {self.target:.3g}"
        checked = f"outputs {self.agreement}" if self.checked else "outputs not compared"
        return (
            f"{self.name}: rankkit {self.rankkit_s:.3f}s [{self.rankkit_range[0]:.3f}-{self.rankkit_range[1]:.3f}]  "
            f"raw {self.raw_s:.3f}s [{self.raw_range[0]:.3f}-{self.raw_range[1]:.3f}]  ratio {self.ratio:.3f} "
            f"({said}; median of {self.repeats} alternating runs; {checked})"
        )


_TIMINGS: list[Timing] = []


def _time_once(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def compare(
    name: str,
    rankkit_fn: Callable[[], Any],
    raw_fn: Callable[[], Any],
    repeats: int = MIN_REPEATS,
    quiet: bool = False,
    target: float | None = TARGET_RATIO,
    same: Callable[[Any, Any], bool] | None = None,
    agreement: str | None = None,
) -> Timing:
    """Time ``rankkit_fn`` against ``raw_fn`` and print the median times, their ranges and the ratio.

    Args:
        name: What is being compared (printed).
        rankkit_fn: The rankkit side; called with no arguments.
        raw_fn: The raw-library side; called with no arguments.
        repeats: Runs of each side, alternating; the median wall time counts (fewer than
            :data:`MIN_REPEATS`: printed, not judged).
        quiet: Do not print (the timing is still recorded for :func:`summary`).
        target: The ratio to meet (default 1.05); ``None`` marks a reference
            comparison that is reported without a verdict.
        same: ``same(rankkit_output, raw_output)``, checked once before timing.
        agreement: For a lossy lever whose outputs cannot be equal: the criterion a check made before this call
            found met (printed and recorded in place of "equal"; give ``same`` or this, not both).

    Returns:
        The :class:`Timing`, also recorded for :func:`summary`.

    Raises:
        AssertionError: When ``same`` finds the two sides' outputs different.
    """
    if same is not None and not same(rankkit_fn(), raw_fn()):
        raise AssertionError(f"{name}: rankkit and the raw library returned different outputs; nothing was timed")
    rk_times, raw_times = [], []
    for i in range(repeats):
        # Alternate which side goes first, so neither always runs on a warmer cache.
        order = ((rk_times, rankkit_fn), (raw_times, raw_fn))
        for times, fn in order if i % 2 == 0 else order[::-1]:
            times.append(_time_once(fn))
    timing = Timing(name, statistics.median(rk_times), statistics.median(raw_times), repeats, target,
                    (min(rk_times), max(rk_times)), (min(raw_times), max(raw_times)),
                    same is not None or agreement is not None, agreement or "equal")
    _TIMINGS.append(timing)
    record(timing)
    if not quiet:
        print(timing.line(), flush=True)
    return timing


#: When set, every comparison is also appended to this JSON-lines file (``make bench`` collects one table).
RECORD_ENV = "RANKKIT_BENCH_RECORD"


def record(timing: Timing) -> None:
    """Append ``timing`` to the file named by ``$RANKKIT_BENCH_RECORD`` (nothing when unset)."""
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    row = {"name": timing.name, "rankkit_s": timing.rankkit_s, "raw_s": timing.raw_s, "ratio": timing.ratio,
           "target": timing.target, "repeats": timing.repeats, "checked": timing.checked, "agreement": timing.agreement,
           "rankkit_range": list(timing.rankkit_range), "raw_range": list(timing.raw_range)}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def verdict(timing: Timing) -> str:
    """``met``, ``NOT met``, ``not judged`` (fewer than :data:`MIN_REPEATS` runs) or ``reference``."""
    if timing.target is None:
        return "reference"
    if timing.repeats < MIN_REPEATS:
        return "not judged"
    return "met" if timing.ratio <= timing.target else "NOT met"


def summary(timings: list[Timing] | None = None) -> str:
    """One line per comparison (all recorded so far, by default), for a final printout."""
    timings = _TIMINGS if timings is None else timings
    return "\n".join(t.line() for t in timings)


def one_line(timings: list[Timing] | None = None) -> str:
    """All comparisons condensed into a single line: ``name=ratio; name=ratio``."""
    timings = _TIMINGS if timings is None else timings
    return "; ".join(f"{t.name}: {t.ratio:.3f}" for t in timings)
