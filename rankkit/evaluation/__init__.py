"""Evaluation: ir-measures wrapper, per-query tables, significance tests, reports and plots.

Importing this package is cheap: ir-measures, scipy, statsmodels, pandas and
matplotlib are imported inside the functions that need them.

Typical use::

    from rankkit.evaluation import evaluate, compare, write_report

    results = {name: evaluate(run, qrels, "nDCG@10 RR@10 R@100 AP") for name, run in runs.items()}
    comparison = compare(results, baseline="bm25", test="paired-t", correction="holm")
    write_report(Path("report"), results, comparison, title="scifact")
"""

from __future__ import annotations

from rankkit.evaluation.console import render_console
from rankkit.evaluation.evaluate import EvalResult, Evaluator, evaluate, evaluate_many
from rankkit.evaluation.measures import parse_measures
from rankkit.evaluation.report import write_report
from rankkit.evaluation.significance import Comparison, compare

__all__ = [
    "Comparison",
    "EvalResult",
    "Evaluator",
    "compare",
    "evaluate",
    "evaluate_many",
    "parse_measures",
    "render_console",
    "write_report",
]
