"""The self-contained HTML evaluation report: tables, significance marks and embedded plots."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rankkit.evaluation.plots import delta_plot_png, png_data_uri, query_deltas

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.evaluation.evaluate import EvalResult
    from rankkit.evaluation.significance import Comparison

#: Marks a value that differs significantly from the baseline after correction.
SIG_MARK = "†"

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; padding: 0 1.5rem; color: #212121; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #e0e0e0; padding-bottom: .3rem; }
h3 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid #e6e6e6; text-align: right;
         font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f5f5f5; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
tr.baseline td { background: #fafafa; font-style: italic; }
td.best { font-weight: 700; }
.delta { font-size: .78rem; margin-left: .35rem; }
.up { color: #2e7d32; } .down { color: #c62828; } .same { color: #757575; }
.sig { color: #1565c0; font-weight: 700; margin-left: .1rem; }
.legend, .meta { color: #555; font-size: .85rem; }
.description { font-size: 1rem; margin: .4rem 0 .8rem; white-space: pre-line; }
table.pipelines td { text-align: left; white-space: normal; vertical-align: top; }
table.pipelines ol { margin: 0; padding-left: 1.2rem; } table.pipelines code { font-size: .82rem; }
.meta td, .meta th { text-align: left; border: none; padding: .1rem .8rem .1rem 0; background: none;
                      white-space: normal; overflow-wrap: anywhere; vertical-align: top; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: .8rem; }
.plots figure { margin: 0; border: 1px solid #eee; border-radius: 4px; padding: .3rem; }
.plots img { width: 100%; height: auto; display: block; }
.plots figcaption { font-size: .8rem; color: #555; text-align: center; }
details.trace { margin: .4rem 0; } details.trace summary { cursor: pointer; }
.call { margin: .3rem 0 .6rem 1rem; font-size: .85rem; }
.call .chosen { font-weight: 700; background: #e3f2fd; padding: 0 .2rem; }
.call .reasoning { white-space: pre-wrap; color: #333; margin: .2rem 0; }
"""
#: Example traces per system in the report, and the characters of reasoning shown per call.
TRACES_SHOWN, REASONING_CHARS = 3, 800


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def _fmt_p(value: float) -> str:
    if value != value:
        return "–"
    return "&lt; 0.0001" if value < 1e-4 else f"{value:.4f}"


def _delta_span(delta: float) -> str:
    cls = "up" if delta > 0 else "down" if delta < 0 else "same"
    return f'<span class="delta {cls}">{delta:+.4f}</span>'


def _esc(text: object) -> str:
    return html.escape(str(text))


def results_table(results: Mapping[str, EvalResult], comparison: Comparison | None) -> str:
    """The aggregate table: systems × measures, best bold, deltas and significance marks."""
    measures = next(iter(results.values())).measures if results else []
    best = {m: max((r.aggregate.get(m, float("-inf")) for r in results.values()), default=0.0) for m in measures}
    head = "".join(f"<th>{_esc(m)}</th>" for m in measures)
    rows = []
    for name, result in results.items():
        is_base = comparison is not None and name == comparison.baseline
        label = _esc(name) + (" (baseline)" if is_base else "")
        cells = []
        for m in measures:
            value = result.aggregate.get(m, float("nan"))
            extra = ""
            row = comparison.row(name, m) if comparison is not None else None
            if row is not None:
                mark = f'<span class="sig" title="significant">{SIG_MARK}</span>' if row["significant"] else ""
                extra = mark + _delta_span(float(value - comparison_base(results, comparison, m)))
            cls = ' class="best"' if value == best[m] and len(results) > 1 else ""
            cells.append(f"<td{cls}>{_fmt(value)}{extra}</td>")
        rows.append(f'<tr{" class=baseline" if is_base else ""}><td>{label}</td>{"".join(cells)}</tr>')
    return f"<table><thead><tr><th>system</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def comparison_base(results: Mapping[str, EvalResult], comparison: Comparison, measure: str) -> float:
    """The baseline's aggregate value of a measure."""
    return results[comparison.baseline].aggregate.get(measure, float("nan"))


def wins_table(comparison: Comparison) -> str:
    """Per-query improved / degraded / unchanged counts, systems × measures."""
    frame = comparison.frame
    measures = list(dict.fromkeys(frame["measure"]))
    head = "".join(f"<th>{_esc(m)}</th>" for m in measures)
    rows = []
    for system in dict.fromkeys(frame["system"]):
        cells = []
        for m in measures:
            r = comparison.row(system, m)
            if r is None:
                cells.append("<td>–</td>")
                continue
            cells.append(
                f'<td><span class="up">▲ {r["improved"]}</span> &nbsp;<span class="down">▼ {r["degraded"]}</span>'
                f' &nbsp;<span class="same">= {r["unchanged"]}</span></td>'
            )
        rows.append(f"<tr><td>{_esc(system)}</td>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th>system</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def details_table(comparison: Comparison) -> str:
    """Every comparison with its means, delta, raw and adjusted p-values."""
    rows = []
    for r in comparison.frame.to_dict("records"):
        sig = f'<span class="sig">{SIG_MARK}</span>' if r["significant"] else ""
        rows.append(
            f"<tr><td>{_esc(r['system'])}</td><td>{_esc(r['measure'])}</td><td>{r['n_queries']}</td>"
            f"<td>{_fmt(r['mean'])}</td><td>{_fmt(r['baseline_mean'])}</td><td>{_delta_span(r['delta'])}</td>"
            f"<td>{_fmt_p(r['p_value'])}</td><td>{_fmt_p(r['p_adjusted'])}{sig}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("system", "measure", "queries", "mean", "baseline", "Δ", "p", "p (adjusted)")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def plots_section(results: Mapping[str, EvalResult], comparison: Comparison) -> str:
    """Sorted per-query delta bar charts, one per measure × system, as embedded PNGs."""
    base = results[comparison.baseline]
    parts = []
    for measure in base.measures:
        figures = []
        systems = [s for s in results if s != comparison.baseline and measure in results[s].aggregate]
        deltas_by_system = {s: query_deltas(results[s], base, measure) for s in systems}
        # One y scale per measure, so the systems' charts compare at a glance.
        limit = max((float(abs(d).max()) for d in deltas_by_system.values() if len(d)), default=0.0)
        for system, deltas in deltas_by_system.items():
            png = delta_plot_png(deltas, f"{system} − {comparison.baseline}: {measure}", limit=limit, dpi=130)
            row = comparison.row(system, measure) or {}
            p_text = _fmt_p(row.get("p_adjusted", float("nan")))
            mark = f' <span class="sig">{SIG_MARK}</span>' if row.get("significant") else ""
            caption = (
                f"▲ {row.get('improved', 0)} improved, ▼ {row.get('degraded', 0)} degraded, "
                f"= {row.get('unchanged', 0)} unchanged; p (adjusted) "
                f"{p_text if p_text.startswith('&lt;') else '= ' + p_text}{mark}"
            )
            figures.append(
                f'<figure><img class="delta-plot" alt="per-query {_esc(measure)} differences, '
                f'{_esc(system)} vs {_esc(comparison.baseline)}" src="{png_data_uri(png)}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        if figures:
            parts.append(f'<h3>{_esc(measure)}</h3><div class="plots">{"".join(figures)}</div>')
    return "".join(parts)


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def metadata_table(metadata: Mapping[str, Any]) -> str:
    """Metadata as a compact key/value table (non-string values as JSON)."""
    rows = []
    for key, value in metadata.items():
        if isinstance(value, Mapping):
            shown = "<br>".join(f"{_esc(k)}: {_esc(_plain(v))}" for k, v in value.items())
        else:
            shown = _esc(_plain(value))
        rows.append(f"<tr><th>{_esc(key)}</th><td>{shown}</td></tr>")
    return f'<table class="meta">{"".join(rows)}</table>' if rows else ""


def pipelines_table(pipelines: Mapping[str, Mapping[str, Any]]) -> str:
    """What each system is: its stages with their parameters, its description and dataset when it has them.

    Args:
        pipelines: By system name, ``stages`` (lines), and optionally ``description`` and ``dataset``.
    """
    rows = []
    for name, pipeline in pipelines.items():
        stages = "".join(f"<li><code>{_esc(s)}</code></li>" for s in pipeline.get("stages") or [])
        about = _esc(pipeline.get("description") or "")
        if pipeline.get("dataset"):
            about += ("<br>" if about else "") + f"on dataset <code>{_esc(pipeline['dataset'])}</code>"
        rows.append(f"<tr><td>{_esc(name)}</td><td><ol>{stages}</ol></td><td>{about}</td></tr>")
    head = "<tr><th>system</th><th>stages (parameters as in the experiment file)</th><th>about</th></tr>"
    return f'<table class="pipelines"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def trainings_section(trainings: Mapping[str, Mapping[str, Any]]) -> str:
    """Each trained model: trainer, dataset and time, the trainer's statistics (nested ones as JSON) and the plots
    it wrote (``plots``: file name to PNG bytes), embedded."""
    parts = []
    for name, training in trainings.items():
        seconds = training.get("seconds")
        head = (f"<h3>{_esc(name)}: {_esc(training.get('trainer') or '?')} on {_esc(training.get('dataset') or '?')}"
                f"{f' ({float(seconds):.0f} s)' if isinstance(seconds, (int, float)) else ''}</h3>")
        stats = training.get("stats") or {}
        rows = "".join(f"<tr><th>{_esc(k)}</th><td><code>{_esc(_plain(v))}</code></td></tr>"
                       for k, v in stats.items() if v is not None)
        figures = "".join(f'<figure><img alt="{_esc(file)}" src="{png_data_uri(png)}">'
                          f"<figcaption>{_esc(file)}</figcaption></figure>"
                          for file, png in (training.get("plots") or {}).items())
        parts.append(head + (f'<table class="meta">{rows}</table>' if rows else "")
                     + (f'<div class="plots">{figures}</div>' if figures else ""))
    return "".join(parts)


def traces_section(traces: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A few example traces per system: each query's calls, their candidates with the chosen one highlighted, the
    reasoning (cut), and the call's other scalar facts (label, fallback...)."""
    parts = []
    for system, queries in traces.items():
        parts.append(f"<h3>{_esc(system)}</h3>")
        for trace in list(queries)[:TRACES_SHOWN]:
            calls = trace.get("trace") or []
            summary = f"{_esc(trace.get('query_id', '?'))}: {_esc(trace.get('query', ''))} ({len(calls)} calls)"
            rendered = []
            for number, call in enumerate(calls, 1):
                chosen = call.get("chosen")
                candidates = " ".join(f'<span class="chosen">{_esc(d)}</span>' if d == chosen else _esc(d)
                                      for d in call.get("doc_ids", []))
                facts = ", ".join(f"{_esc(k)}: {_esc(_plain(v))}" for k, v in call.items()
                                  if k not in ("doc_ids", "chosen", "reasoning", "completion", "call")
                                  and isinstance(v, (str, int, float, bool)) and v is not None)
                reasoning = str(call.get("reasoning") or "")
                cut = reasoning[:REASONING_CHARS] + ("…" if len(reasoning) > REASONING_CHARS else "")
                rendered.append(f'<div class="call">call {number}: {candidates}<div class="reasoning">{_esc(cut)}</div>'
                                f'<div class="legend">{facts}</div></div>')
            parts.append(f'<details class="trace"><summary>{summary}</summary>{"".join(rendered)}</details>')
    return "\n".join(parts)


def render_html(
    results: Mapping[str, EvalResult],
    comparison: Comparison | None,
    title: str,
    metadata: Mapping[str, Any] | None = None,
    traces: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    description: str = "",
    pipelines: Mapping[str, Mapping[str, Any]] | None = None,
    trainings: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The whole report as one self-contained HTML document (no external resources).

    Args:
        results: Evaluation results by system name.
        comparison: Significance tests against a baseline, or ``None``.
        title: The page title.
        metadata: Extra key/value facts shown under the title.
        traces: Per system, per-query traces of a component that keeps them (a reasoning reranker's calls);
            the first few are shown.
        description: What the experiment is about (its file's ``description``), shown under the title.
        pipelines: What each system is (:func:`pipelines_table`), shown under the results.
        trainings: The experiment's trained models (:func:`trainings_section`), shown under the pipelines.

    Returns:
        The HTML text.
    """
    queries = {q for r in results.values() for q in r.per_query["query_id"].unique().tolist()}
    summary = f"{len(results)} system(s), {len(queries)} judged queries"
    body = [f"<h1>{_esc(title)}</h1>"]
    if description:
        body.append(f'<p class="description">{_esc(description.strip())}</p>')
    body += [f'<p class="legend">{summary}</p>', metadata_table(metadata or {})]
    body.append("<h2>Results</h2>")
    body.append(results_table(results, comparison))
    if comparison is not None and len(comparison.frame):
        body.append(
            f'<p class="legend"><span class="sig">{SIG_MARK}</span> significant difference from the baseline: '
            f"{_esc(comparison.describe())}. Small numbers are the difference from the baseline; "
            "bold marks the best value per measure.</p>"
        )
    if pipelines:
        body.append("<h2>Pipelines</h2>")
        body.append(pipelines_table(pipelines))
    if trainings:
        body.append("<h2>Training</h2>")
        body.append(trainings_section(trainings))
    if comparison is not None and len(comparison.frame):
        body.append("<h2>Per-query wins and losses against the baseline</h2>")
        body.append(wins_table(comparison))
        body.append('<p class="legend">▲ queries improved, ▼ queries degraded, = queries unchanged.</p>')
        body.append("<h2>Significance tests</h2>")
        body.append(details_table(comparison))
        body.append("<h2>Per-query differences against the baseline</h2>")
        body.append(
            '<p class="legend">Each bar is one query: system minus baseline, sorted from the largest gain '
            "to the largest loss.</p>"
        )
        body.append(plots_section(results, comparison))
    if traces:
        body.append("<h2>Example traces</h2>")
        body.append('<p class="legend">The first queries of each system that keeps traces: every call\'s candidates '
                    "(the chosen one highlighted) and the reasoning; all of them are in the run's "
                    "<code>.traces.jsonl</code>.</p>")
        body.append(traces_section(traces))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
