"""Rich console tables of evaluation results and significance tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rankkit.evaluation.html import SIG_MARK

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from rankkit.evaluation.evaluate import EvalResult
    from rankkit.evaluation.significance import Comparison


def render_console(
    results: Mapping[str, EvalResult],
    comparison: Comparison | None,
    console: Console,
    per_query: bool = False,
) -> None:
    """Print the results (and comparison) as rich tables.

    Args:
        results: Evaluation results by system name.
        comparison: Significance tests against a baseline, or ``None``.
        console: Where to print.
        per_query: Also print one per-query table per system.
    """
    from rich.table import Table

    measures = list(dict.fromkeys(m for r in results.values() for m in r.measures))
    best = {m: max((r.aggregate.get(m, float("-inf")) for r in results.values()), default=0.0) for m in measures}
    table = Table(title="Evaluation", title_justify="left")
    table.add_column("system", style="bold")
    for m in measures:
        table.add_column(m, justify="right")
    for name, result in results.items():
        is_base = comparison is not None and name == comparison.baseline
        cells = []
        for m in measures:
            value = result.aggregate.get(m, float("nan"))
            text = f"{value:.4f}"
            if len(results) > 1 and value == best[m]:
                text = f"[bold]{text}[/bold]"
            row = comparison.row(name, m) if comparison is not None else None
            if row is not None:
                delta = float(row["delta"])
                color = "green" if delta > 0 else "red" if delta < 0 else "dim"
                mark = f"[blue]{SIG_MARK}[/blue]" if row["significant"] else " "
                text += f"{mark} [{color}]{delta:+.4f}[/{color}]"
            cells.append(text)
        table.add_row(f"{name} [dim](baseline)[/dim]" if is_base else name, *cells)
    console.print(table)
    if comparison is not None and len(comparison.frame):
        console.print(f"[blue]{SIG_MARK}[/blue] significant: {comparison.describe()}", highlight=False)
        _print_wins(comparison, console)
    if per_query:
        for name, result in results.items():
            _print_per_query(name, result, console)


def _print_wins(comparison: Comparison, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Per-query wins / losses / ties against the baseline", title_justify="left")
    table.add_column("system", style="bold")
    measures = list(dict.fromkeys(comparison.frame["measure"]))
    for m in measures:
        table.add_column(m, justify="right")
    for system in dict.fromkeys(comparison.frame["system"]):
        cells = []
        for m in measures:
            r = comparison.row(system, m)
            counts = "–" if r is None else f"[green]{r['improved']}[/green]/[red]{r['degraded']}[/red]/{r['unchanged']}"
            cells.append(counts)
        table.add_row(system, *cells)
    console.print(table)


def _print_per_query(name: str, result: EvalResult, console: Console) -> None:
    from rich.table import Table

    wide = result.per_query_table()
    table = Table(title=f"Per query: {name}", title_justify="left")
    table.add_column("query_id")
    for m in wide.columns:
        table.add_column(str(m), justify="right")
    for qid, row in wide.iterrows():
        table.add_row(str(qid), *(f"{v:.4f}" for v in row.tolist()))
    console.print(table)
