"""Report files, console rendering and the ``rankkit eval`` command (through click's CliRunner)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from rankkit.evaluation import compare, evaluate, render_console, write_report
from rankkit.evaluation.cli import eval_command, run_names
from rankkit.trec import write_qrels, write_run
from rankkit.types import Qrels, Ranking, Run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_data(folder: Path) -> tuple[dict[str, Path], Path]:
    """Three small run files and a qrels file; 'good' beats 'base' on most queries."""
    rng = np.random.default_rng(3)
    qids = [f"q{i}" for i in range(30)]
    rel = {q: [f"d{j}" for j in rng.choice(50, size=3, replace=False)] for q in qids}
    qrels = Qrels(
        np.array([q for q in qids for _ in rel[q]]),
        np.array([d for q in qids for d in rel[q]]),
        np.array([int(g) for q in qids for g in rng.integers(1, 3, size=3)]),
    )
    runs = {}
    for name, boost in (("base", 0.0), ("good", 2.0), ("same", 0.0)):
        rankings = []
        for q in qids:
            docs = np.array([f"d{j}" for j in range(50)])
            scores = np.random.default_rng(int(q[1:])).random(50)  # same noise for base and same
            scores = scores + boost * np.isin(docs, rel[q]) * (rng.random(50) < 0.8)
            rankings.append(Ranking(q, docs, scores))
        runs[name] = write_run(Run(rankings, name), folder / f"{name}.trec")
    return runs, write_qrels(qrels, folder / "qrels.txt")


@pytest.fixture
def data(tmp_path: Path) -> tuple[dict[str, Path], Path]:
    return make_data(tmp_path)


@pytest.fixture
def evaluated(data: tuple[dict[str, Path], Path]):
    from rankkit.trec import read_qrels, read_run

    runs, qrels_path = data
    qrels = read_qrels(qrels_path)
    results = {n: evaluate(read_run(p), qrels, "nDCG@10 AP") for n, p in runs.items()}
    return results, compare(results, "base")


def test_write_report_files(tmp_path: Path, evaluated) -> None:
    results, comparison = evaluated
    page = write_report(tmp_path / "out", results, comparison, "Toy <report>", {"dataset": "toy", "k": 10})
    out = tmp_path / "out"
    assert page == out / "report.html"
    assert sorted(p.name for p in out.iterdir()) == ["aggregate.csv", "per_query.csv", "report.html", "results.json"]
    assert (out / "aggregate.csv").read_text().splitlines()[0] == "system,nDCG@10,AP"
    assert (out / "per_query.csv").read_text().splitlines()[0] == "system,query_id,measure,value"
    assert len((out / "per_query.csv").read_text().splitlines()) == 1 + 3 * 30 * 2
    payload = json.loads((out / "results.json").read_text())
    assert payload["aggregate"]["good"] == results["good"].aggregate
    assert payload["metadata"] == {"dataset": "toy", "k": 10}
    assert payload["comparison"]["baseline"] == "base" and len(payload["comparison"]["rows"]) == 4
    assert {r["system"] for r in payload["comparison"]["rows"]} == {"good", "same"}
    assert oct(os.stat(page).st_mode & 0o077) != "0o0"  # readable by others, not mkstemp's 0600


def test_report_html_has_marks_legend_counts_and_plots(tmp_path: Path, evaluated) -> None:
    results, comparison = evaluated
    text = write_report(tmp_path, results, comparison, "Toy <report>").read_text()
    assert "Toy &lt;report&gt;" in text and "<script" not in text
    assert comparison.is_significant("good", "nDCG@10")
    assert "†" in text and "Holm-corrected over all 4 system×measure comparisons" in text
    assert "▲" in text and "▼" in text
    images = text.split('src="data:image/png;base64,')[1:]
    assert len(images) == 4  # 2 systems x 2 measures
    for image in images:
        assert base64.b64decode(image.split('"', 1)[0]).startswith(PNG_MAGIC)
    assert "http://" not in text and "https://" not in text  # self-contained


def test_report_without_comparison(tmp_path: Path, evaluated) -> None:
    results, _ = evaluated
    text = write_report(tmp_path, results, None, "plain").read_text()
    assert "data:image/png" not in text and "†" not in text
    assert json.loads((tmp_path / "results.json").read_text())["comparison"] is None


def test_render_console(evaluated) -> None:
    results, comparison = evaluated
    console = Console(record=True, width=160)
    render_console(results, comparison, console, per_query=True)
    text = console.export_text()
    assert "base (baseline)" in text and "†" in text and "Per query: good" in text and "q29" in text


# -- the CLI -------------------------------------------------------------------------------


def invoke(*args: str):
    from rankkit.plugins import PluginSettings, load_plugins
    from rankkit.registry import Registry

    registry = Registry(load_plugins(PluginSettings(autoload=False)))  # `rankkit` passes its registry as obj
    return CliRunner().invoke(eval_command, [str(a) for a in args], obj=registry, catch_exceptions=False)


def test_cli_without_a_registry_says_how_to_run_it(data) -> None:
    runs, qrels = data
    result = CliRunner().invoke(eval_command, [str(runs["base"]), "-q", str(qrels)])
    assert result.exit_code == 2 and "plugin registry" in result.output and "rankkit eval" in result.output


def test_cli_table_and_report(tmp_path: Path, data) -> None:
    runs, qrels = data
    result = invoke(*runs.values(), "--qrels", qrels, "-b", "base", "--output", tmp_path / "rep", "-m", "nDCG@10 AP")
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.output and "base (baseline)" in result.output and "†" in result.output
    assert (tmp_path / "rep" / "report.html").is_file()


def test_cli_json_and_csv(data) -> None:
    runs, qrels = data
    result = invoke(runs["base"], runs["good"], "-q", qrels, "-b", "base", "--format", "json", "--test", "wilcoxon")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert list(payload["aggregate"]) == ["base", "good"]
    assert list(payload["aggregate"]["base"]) == ["nDCG@10", "RR@10", "R@100", "AP"]
    assert payload["comparison"]["test"] == "wilcoxon"
    csv = invoke(runs["base"], runs["good"], "-q", qrels, "--format", "csv", "--per-query").output
    assert csv.splitlines()[0] == "system,query_id,measure,value"


def test_cli_dataset_qrels(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKKIT_DATA", str(data_root))
    run = data_root / "trec-dl-2019" / "runs" / "bm25.trec"
    result = invoke(run, "--qrels", "trec-dl-2019/test", "--format", "json", "-m", "nDCG@10")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["aggregate"]["bm25"]["nDCG@10"] == pytest.approx(0.5058, abs=1e-4)


def test_cli_bad_measure_is_clean_error(data) -> None:
    runs, qrels = data
    result = invoke(runs["base"], "-q", qrels, "-m", "nDCG@10 nDGC@5")
    assert result.exit_code == 1
    assert "Error: bad measure 'nDGC@5'" in result.output and "Traceback" not in result.output


def test_cli_missing_qrels_is_clean_error(tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKKIT_DATA", str(tmp_path))
    runs, _ = data
    result = invoke(runs["base"], "-q", tmp_path / "nope.qrels")
    assert result.exit_code == 1
    assert "nope.qrels" in result.output and "is not an existing file" in result.output
    assert "Traceback" not in result.output


def test_cli_unknown_baseline(data) -> None:
    runs, qrels = data
    result = invoke(runs["base"], runs["good"], "-q", qrels, "-b", "bm25")
    assert result.exit_code == 1 and "unknown baseline 'bm25'" in result.output and "'good'" in result.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q1 Q0 d1 1 0.5", "6 whitespace-separated fields"),
        ("q1 Q0 d1 one 0.5 tag", "rank (field 4) must be an integer"),
        ("q1 Q0 d1 1 high tag", "score (field 5) must be a number"),
    ],
)
def test_cli_malformed_run_line_gives_file_and_line(tmp_path: Path, data, line: str, message: str) -> None:
    _, qrels = data
    bad = tmp_path / "bad.trec"
    bad.write_text("q0 Q0 d0 1 1.0 tag\nq0 Q0 d2 2 0.9 tag\n" + line + "\n")
    result = invoke(bad, "-q", qrels)
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output and message in result.output and "Traceback" not in result.output


def test_cli_malformed_qrels_line(tmp_path: Path, data) -> None:
    runs, _ = data
    bad = tmp_path / "bad.qrels"
    bad.write_text("q1 0 d1 1\nq1 0 d2 x\n")
    result = invoke(runs["base"], "-q", bad)
    assert result.exit_code == 1 and f"{bad}:2:" in result.output


def test_cli_help() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    options = ("--qrels", "--measures", "--baseline", "--test", "--correction", "--per-query", "--output", "--format")
    assert all(option in result.output for option in options)


def test_run_names_disambiguate() -> None:
    paths = [Path("a/bm25.trec"), Path("b/bm25.trec"), Path("c/tas-b.trec.gz"), Path("a/bm25.run")]
    assert run_names(paths) == ["a/bm25", "b/bm25", "tas-b", "a/bm25#2"]


def test_report_shows_trainings_with_their_statistics_and_plots(tmp_path: Path, evaluated) -> None:
    results, _ = evaluated
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    trainings = {"grpo": {"trainer": "rank-r1-grpo", "dataset": "beir-scifact/train", "seconds": 12.4,
                          "stats": {"steps": 3, "learning": {"first": 0.2, "last": 0.5, "p": 0.01}, "none": None},
                          "plots": {"training-curves.png": png}}}
    text = write_report(tmp_path, results, None, "trained", trainings=trainings).read_text()
    section = text.split("<h2>Training</h2>", 1)[1]
    assert "grpo: rank-r1-grpo on beir-scifact/train (12 s)" in section
    assert "<th>steps</th>" in section and "&quot;last&quot;: 0.5" in section and "<th>none</th>" not in section
    image = section.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(image) == png and "training-curves.png" in section
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["trainings"]["grpo"]["stats"]["steps"] == 3 and "plots" not in payload["trainings"]["grpo"]
