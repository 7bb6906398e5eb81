"""Evaluate runs with ir-measures: aggregate and per-query values in one pass.

All measure values come from ir-measures (and the providers it delegates to,
such as pytrec_eval); nothing is re-implemented here. Each run is evaluated
once, per query, and the aggregates are folded from those per-query values with
each measure's own ir-measures aggregator, exactly as
``ir_measures.calc_aggregate`` does, so the two agree to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rankkit.evaluation.measures import MeasureSpec, parse_measures

if TYPE_CHECKING:  # pragma: no cover
    import ir_measures
    import pandas as pd

    from rankkit.types import Qrels, Run

PER_QUERY_COLUMNS = ("query_id", "measure", "value")


@dataclass(frozen=True, eq=False)
class EvalResult:
    """The evaluation of one run.

    Attributes:
        name: The run's name (its tag, or what the caller called it).
        aggregate: Aggregate value per measure, keyed by ``str(measure)``
            (e.g. ``"nDCG@10"``), in the order the measures were given.
        per_query: Tidy table with columns ``query_id``, ``measure``, ``value``:
            one row per judged query and measure (queries the run misses score
            the measure's default, 0, as in trec_eval and ir-measures).
    """

    name: str
    aggregate: dict[str, float]
    per_query: pd.DataFrame

    @property
    def measures(self) -> list[str]:
        """The measure names, in order."""
        return list(self.aggregate)

    def per_query_table(self) -> pd.DataFrame:
        """Per-query values as a wide table: one row per query id, one column per measure."""
        table = self.per_query.pivot(index="query_id", columns="measure", values="value")
        table.columns.name = None
        return table[[m for m in self.measures if m in table.columns]]

    def values(self, measure: str) -> pd.Series:
        """Per-query values of one measure, indexed by query id.

        Raises:
            KeyError: When the result has no such measure, naming the ones it has.
        """
        if measure not in self.aggregate:
            raise KeyError(f"{self.name!r} has no measure {measure!r}; it has {self.measures}")
        rows = self.per_query[self.per_query["measure"] == measure]
        return rows.set_index("query_id")["value"]

    def __repr__(self) -> str:
        values = ", ".join(f"{m}={v:.4f}" for m, v in self.aggregate.items())
        queries = self.per_query["query_id"].nunique()
        return f"EvalResult({self.name!r}, queries={queries}, {values})"


def run_to_ir_measures(run: Run) -> dict[str, dict[str, float]]:
    """A run as ir-measures' dict-of-dict form, ``{query_id: {doc_id: score}}``.

    This is the form every ir-measures provider used for the standard measures
    (pytrec_eval, msmarco) converts its input to; handing it over directly skips
    one conversion per provider (see ``benchmarks/bench_eval.py``).
    """
    return {r.query_id: dict(zip(r.doc_ids.tolist(), r.scores.tolist())) for r in run.values()}


def qrels_to_ir_measures(qrels: Qrels) -> dict[str, dict[str, int]]:
    """Qrels as ir-measures' dict-of-dict form, ``{query_id: {doc_id: relevance}}``."""
    return qrels.to_dict()


class Evaluator:
    """Evaluates runs against one set of qrels and measures.

    Building the evaluator converts the qrels once; :meth:`evaluate` can then
    be called for many runs (the CLI and experiment runner do so).

    Args:
        qrels: The relevance judgments.
        measures: A measure specification (see :func:`parse_measures`).

    Raises:
        ConfigError: On a bad measure specification.
    """

    def __init__(self, qrels: Qrels, measures: MeasureSpec) -> None:
        import ir_measures

        self.measures: list[ir_measures.Measure] = parse_measures(measures)
        self._evaluator = ir_measures.evaluator(self.measures, qrels_to_ir_measures(qrels))

    def evaluate(self, run: Run, name: str | None = None) -> EvalResult:
        """Evaluate one run.

        Args:
            run: The run.
            name: The result's name; defaults to ``run.name``.

        Returns:
            Aggregate and per-query values.
        """
        return self._evaluate_ir_measures(run_to_ir_measures(run), name or run.name)

    def _evaluate_ir_measures(self, run: Any, name: str) -> EvalResult:
        import pandas as pd

        aggregators = {m: m.aggregator() for m in self.measures}
        order = {m: i for i, m in enumerate(self.measures)}
        qids: list[str] = []
        rank: list[int] = []
        values: list[float] = []
        for metric in self._evaluator.iter_calc(run):
            aggregators[metric.measure].add(metric.value)
            qids.append(metric.query_id)
            rank.append(order[metric.measure])
            values.append(float(metric.value))
        names = [str(m) for m in self.measures]
        frame = pd.DataFrame({"query_id": qids, "measure": [names[i] for i in rank], "value": values})
        frame["_order"] = rank
        frame = frame.sort_values(["_order", "query_id"], kind="stable").drop(columns="_order")
        frame = frame.reset_index(drop=True)
        aggregate = {str(m): float(agg.result()) for m, agg in aggregators.items()}
        return EvalResult(name, aggregate, frame)


def evaluate(run: Run, qrels: Qrels, measures: MeasureSpec, name: str | None = None) -> EvalResult:
    """Evaluate a run with ir-measures.

    Args:
        run: The run.
        qrels: The relevance judgments.
        measures: ``"nDCG@10 RR@10 R@100 AP"``, a list of such strings, or
            ir-measures ``Measure`` objects.
        name: The result's name; defaults to ``run.name``.

    Returns:
        An :class:`EvalResult` whose aggregates equal
        ``ir_measures.calc_aggregate(measures, qrels, run)``.

    Raises:
        ConfigError: On a bad measure specification.
    """
    return Evaluator(qrels, measures).evaluate(run, name)


def evaluate_many(
    runs: Mapping[str, Run] | Iterable[Run], qrels: Qrels, measures: MeasureSpec
) -> dict[str, EvalResult]:
    """Evaluate several runs against the same qrels, converting the qrels once.

    Args:
        runs: Runs by name, or runs (named by ``run.name``).
        qrels: The relevance judgments.
        measures: A measure specification (see :func:`evaluate`).

    Returns:
        Results by name, in the order given.
    """
    evaluator = Evaluator(qrels, measures)
    pairs = runs.items() if isinstance(runs, Mapping) else ((r.name, r) for r in runs)
    return {name: evaluator.evaluate(run, name) for name, run in pairs}
