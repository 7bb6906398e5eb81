"""Writing evaluation reports: CSV tables, a JSON summary and a self-contained HTML page.

Every file is written atomically (:func:`rankkit.files.atomic_write`), so an
interrupted run never leaves a half-written report behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.files import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from rankkit.evaluation.evaluate import EvalResult
    from rankkit.evaluation.significance import Comparison

AGGREGATE_CSV = "aggregate.csv"
PER_QUERY_CSV = "per_query.csv"
RESULTS_JSON = "results.json"
REPORT_HTML = "report.html"


def aggregate_frame(results: Mapping[str, EvalResult]) -> pd.DataFrame:
    """Aggregates as a wide table: one row per system, one column per measure."""
    import pandas as pd

    measures = list(dict.fromkeys(m for r in results.values() for m in r.measures))
    rows = [{"system": name, **{m: r.aggregate.get(m, math.nan) for m in measures}} for name, r in results.items()]
    return pd.DataFrame(rows, columns=["system", *measures])


def per_query_frame(results: Mapping[str, EvalResult]) -> pd.DataFrame:
    """Per-query values of every system as a tidy table: ``system, query_id, measure, value``."""
    import pandas as pd

    frames = [r.per_query.assign(system=name) for name, r in results.items()]
    if not frames:
        return pd.DataFrame(columns=["system", "query_id", "measure", "value"])
    return pd.concat(frames, ignore_index=True)[["system", "query_id", "measure", "value"]]


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN/inf become ``null``, numpy scalars become Python ones."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def results_payload(
    results: Mapping[str, EvalResult],
    comparison: Comparison | None,
    title: str,
    metadata: Mapping[str, Any] | None = None,
    description: str = "",
    pipelines: Mapping[str, Mapping[str, Any]] | None = None,
    trainings: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The content of ``results.json``: title, metadata, aggregates and the comparison (and, when given, the
    experiment's description, what each pipeline is and the trainings' statistics, without their plots)."""
    payload: dict[str, Any] = {
        "title": title,
        **({"description": description} if description else {}),
        "metadata": dict(metadata or {}),
        **({"pipelines": {name: dict(p) for name, p in pipelines.items()}} if pipelines else {}),
        **({"trainings": {name: {k: v for k, v in t.items() if k != "plots"} for name, t in trainings.items()}}
           if trainings else {}),
        "measures": list(dict.fromkeys(m for r in results.values() for m in r.measures)),
        "aggregate": {name: dict(r.aggregate) for name, r in results.items()},
        "comparison": None,
    }
    if comparison is not None:
        payload["comparison"] = {
            "baseline": comparison.baseline,
            "test": comparison.test,
            "correction": comparison.correction,
            "alpha": comparison.alpha,
            "family": "all system x measure comparisons against the baseline",
            "rows": comparison.frame.to_dict("records"),
        }
    return _clean(payload)


def write_report(
    out_dir: Path,
    results: Mapping[str, EvalResult],
    comparison: Comparison | None,
    title: str,
    metadata: dict[str, Any] | None = None,
    traces: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    description: str = "",
    pipelines: Mapping[str, Mapping[str, Any]] | None = None,
    trainings: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write the evaluation report into ``out_dir``.

    Writes ``aggregate.csv`` (system × measure), ``per_query.csv`` (``system,
    query_id, measure, value``), ``results.json`` (aggregates, comparison and
    metadata) and ``report.html`` (self-contained: tables with significance
    marks, win/loss counts and per-query difference plots embedded as PNG).

    Args:
        out_dir: The report directory; created when missing.
        results: Evaluation results by system name.
        comparison: Significance tests against a baseline, or ``None`` (then
            the report has no marks and no difference plots).
        title: The report title.
        metadata: Extra facts (dataset, config hash, versions...) stored in the
            JSON and shown in the HTML; values must be JSON-serialisable.
        traces: Per system, per-query traces (a reasoning reranker's); the HTML shows a few.
        description: What the experiment is about; shown under the HTML's title and stored in the JSON.
        pipelines: By system, what it is: ``stages`` (one line per stage, with its parameters) and optionally
            ``description`` and ``dataset``; shown in the HTML and stored in the JSON.
        trainings: By training section: ``trainer``, ``dataset``, ``seconds``, ``stats`` and ``plots`` (file name to
            PNG bytes); shown in the HTML (statistics, plots embedded), the rest stored in the JSON.

    Returns:
        The path of ``report.html``.
    """
    from rankkit.evaluation.html import render_html

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / AGGREGATE_CSV) as handle:
        aggregate_frame(results).to_csv(handle, index=False)
    with atomic_write(out_dir / PER_QUERY_CSV) as handle:
        per_query_frame(results).to_csv(handle, index=False)
    with atomic_write(out_dir / RESULTS_JSON) as handle:
        json.dump(results_payload(results, comparison, title, metadata, description, pipelines, trainings), handle, indent=2,
                  default=str)
        handle.write("\n")
    page = render_html(results, comparison, title, metadata, traces, description, pipelines, trainings)
    with atomic_write(out_dir / REPORT_HTML) as handle:
        handle.write(page)
    return out_dir / REPORT_HTML

