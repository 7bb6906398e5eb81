"""The ``rankkit eval`` command: evaluate run files, test significance, write a report."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rankkit.errors import RankkitError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.evaluation.evaluate import EvalResult
    from rankkit.evaluation.significance import Comparison
    from rankkit.types import Qrels
    from rankkit.registry import Registry

DEFAULT_MEASURES = "nDCG@10 RR@10 R@100 AP"


def run_names(paths: Sequence[Path]) -> list[str]:
    """Names for run files: their stems, disambiguated when two files share one.

    Duplicated stems are prefixed with their parent folder (``a/bm25``,
    ``b/bm25``); names still equal after that get ``#2``, ``#3``... suffixes.
    """
    stems = [p.name.removesuffix(".gz").rsplit(".", 1)[0] if "." in p.name else p.name for p in paths]
    names = [f"{p.parent.name}/{s}" if stems.count(s) > 1 and p.parent.name else s for p, s in zip(paths, stems)]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def load_qrels(spec: str, registry: Registry) -> Qrels:
    """Qrels from a file, or else from the dataset of that name.

    Args:
        spec: A qrels file, or a dataset name.
        registry: Resolves dataset names: the CLI's, so ``--disable-plugin`` and ``--strict`` apply.

    Raises:
        RankkitError: When ``spec`` is neither a readable qrels file nor a
            dataset that has qrels.
    """
    from rankkit.trec import read_qrels

    path = Path(spec)
    if path.is_file():
        return read_qrels(path)
    from rankkit.datasets import resolve_dataset
    from rankkit.errors import DatasetNotFoundError

    try:
        dataset = resolve_dataset(spec, registry)
    except DatasetNotFoundError as exc:
        raise DatasetNotFoundError(f"--qrels {spec!r} is not an existing file, and {exc}") from None
    qrels = dataset.qrels()
    if qrels is None:
        raise DatasetNotFoundError(f"dataset {spec!r} has no qrels; pass a qrels file with --qrels FILE")
    return qrels


def _emit_table(results: dict[str, EvalResult], comparison: Comparison | None, per_query: bool) -> None:
    from rich.console import Console

    from rankkit.evaluation.console import render_console

    render_console(results, comparison, Console(), per_query=per_query)


def _emit_csv(results: dict[str, EvalResult], comparison: Comparison | None, per_query: bool) -> None:
    from rankkit.evaluation.report import aggregate_frame, per_query_frame

    frame = per_query_frame(results) if per_query else aggregate_frame(results)
    if comparison is not None and not per_query:
        sig = comparison.frame.pivot(index="system", columns="measure", values="significant")
        for measure in dict.fromkeys(comparison.frame["measure"]):
            frame[f"{measure} significant"] = frame["system"].map(sig[measure]).astype("boolean")
    click.echo(frame.to_csv(index=False), nl=False)


def _emit_json(results: dict[str, EvalResult], comparison: Comparison | None, per_query: bool) -> None:
    from rankkit.evaluation.report import per_query_frame, results_payload

    payload = results_payload(results, comparison, "rankkit eval")
    payload.pop("title")
    payload.pop("metadata")
    if per_query:
        payload["per_query"] = per_query_frame(results).to_dict("records")
    click.echo(json.dumps(payload, indent=2))


EMITTERS = {"table": _emit_table, "csv": _emit_csv, "json": _emit_json}


@click.command("eval")
@click.argument(
    "runs", metavar="RUN...", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--qrels", "-q", required=True, metavar="FILE_OR_DATASET",
    help="Qrels file (TREC 'qid iter docno rel' or BEIR TSV), or a dataset name such as "
    "'trec-dl-2019/test' resolved through the offline mirror ($RANKKIT_DATA) and dataset plugins.",
)  # fmt: skip
@click.option(
    "--measures", "-m", default=DEFAULT_MEASURES, show_default=True,
    help="ir-measures measures, space or comma separated, e.g. 'nDCG@10 RR@10 AP(rel=2) P@5'.",
)  # fmt: skip
@click.option(
    "--baseline", "-b", metavar="NAME",
    help="Run to test the others against (a run name: the file stem). Without it, no significance tests.",
)  # fmt: skip
@click.option(
    "--test", "test", type=click.Choice(["paired-t", "wilcoxon"]), default="paired-t", show_default=True,
    help="Paired significance test over the queries both runs have.",
)  # fmt: skip
@click.option(
    "--correction", type=click.Choice(["holm", "bonferroni", "none"]), default="holm", show_default=True,
    help="Multiple-testing correction, over all system × measure comparisons against the baseline.",
)  # fmt: skip
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Family-wise significance level.")  # fmt: skip
@click.option(
    "--per-query", is_flag=True,
    help="Per-query values too: extra tables (table), per-query rows instead of aggregates (csv), "
    "a 'per_query' list (json).",
)  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
    help="Write a report here: aggregate.csv, per_query.csv, results.json and a self-contained report.html.",
)  # fmt: skip
@click.option(
    "--title", default="rankkit evaluation", show_default=True, help="Title of the report written by --output."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
    help="What to print on stdout: rich tables, CSV or JSON.",
)  # fmt: skip
@click.pass_context
def eval_command(
    ctx: click.Context,
    runs: tuple[Path, ...],
    qrels: str,
    measures: str,
    baseline: str | None,
    test: str,
    correction: str,
    alpha: float,
    per_query: bool,
    output: Path | None,
    title: str,
    fmt: str,
) -> None:
    """Evaluate TREC run files RUN... with ir-measures.

    Each run is named after its file stem. With --baseline, every other run is
    compared with it by a paired test per measure, corrected for multiple
    testing; † marks significant differences.

    \b
    Examples:
      rankkit eval runs/bm25.trec runs/tas-b.trec --qrels trec-dl-2019/test -b bm25
      rankkit eval run.trec -q qrels.txt -m "nDCG@10 AP(rel=2)" --format json
      rankkit eval a.trec b.trec -q qrels.txt -b a --output report/
    """
    registry = ctx.find_root().obj
    if registry is None:
        raise click.UsageError("rankkit eval resolves dataset names through the plugin registry: run it as "
                               "`rankkit eval` (or invoke it with the Registry as the click context's obj)")
    try:
        results, comparison = _evaluate(runs, qrels, measures, baseline, test, correction, alpha, registry)
        EMITTERS[fmt](results, comparison, per_query)
        if output is not None:
            metadata = {"qrels": qrels, "runs": {n: str(p) for n, p in zip(results, runs)}, "measures": measures}
            page = _write(output, results, comparison, title, metadata)
            click.echo(f"Report written to {page}", err=fmt != "table" or not sys.stdout.isatty())
    except RankkitError as exc:
        raise click.ClickException(str(exc)) from None


def _evaluate(
    runs: tuple[Path, ...], qrels: str, measures: str, baseline: str | None, test: str, correction: str, alpha: float,
    registry: Registry,
) -> tuple[dict[str, EvalResult], Comparison | None]:
    from rankkit.evaluation.evaluate import Evaluator
    from rankkit.evaluation.significance import compare
    from rankkit.trec import read_run

    names = run_names(runs)
    evaluator = Evaluator(load_qrels(qrels, registry), measures)  # parses measures before reading any run
    if baseline is not None and baseline not in names:
        from rankkit.errors import ConfigError

        raise ConfigError(f"unknown baseline {baseline!r}; choose one of the run names: {names}")
    results = {name: evaluator.evaluate(read_run(path, name), name) for name, path in zip(names, runs)}
    comparison = None
    if baseline is not None:
        comparison = compare(results, baseline, test=test, correction=correction, alpha=alpha)  # type: ignore[arg-type]
    return results, comparison


def _write(
    output: Path, results: dict[str, EvalResult], comparison: Comparison | None, title: str, metadata: dict
) -> Path:
    from rankkit.evaluation.report import write_report

    return write_report(output, results, comparison, title, metadata)
