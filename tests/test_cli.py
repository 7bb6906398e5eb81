"""The command line: help everywhere, clean errors, datasets and index listings."""

from __future__ import annotations

import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from rankkit.cli import build_cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out.extend(_commands(command, (*prefix, name)))
    return out


def test_every_command_has_help(rankkit_registry):
    group = build_cli(rankkit_registry)
    paths = _commands(group)
    assert {("plugins",), ("datasets",), ("index", "build"), ("index", "list"), ("run",), ("eval",)} <= set(paths)
    for path in paths:
        result = CliRunner().invoke(group, [*path, "--help"], obj=rankkit_registry)
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output and len(result.output.splitlines()) > 3


def test_bad_experiment_is_a_clean_error(tmp_path, rankkit_registry):
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "cranfield"\n[pipelines.x]\nstages = [{ retriever = "nope" }]\n')
    result = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--no-progress"], obj=rankkit_registry)
    assert result.exit_code == 1
    assert "unknown retriever 'nope'; available retrievers:" in result.output
    assert "Traceback" not in result.output


def test_datasets_lists_the_mirror(rankkit_registry, data_root):
    result = CliRunner().invoke(build_cli(rankkit_registry), ["datasets"], obj=rankkit_registry)
    assert result.exit_code == 0 and "beir-scifact/test" in result.output.split()


def test_index_list_shows_manifests(tmp_path, monkeypatch, rankkit_registry):
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path / "built"))
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "cran.toml").write_text('dataset = "cranfield"\nbuilder = "bm25"\n')
    result = CliRunner().invoke(
        build_cli(rankkit_registry), ["index", "list", "--manifests", str(tmp_path / "manifests"), "--json"],
        obj=rankkit_registry,
    )
    assert result.exit_code == 0
    assert '"status": "missing"' in result.output and '"name": "cran"' in result.output


def test_console_script_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rankkit.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "rankkit" in result.stdout


@pytest.mark.parametrize("args", [["--strict", "plugins"]])
def test_strict_mode_passes_when_every_plugin_loads(args):
    result = subprocess.run([sys.executable, "-m", "rankkit.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dry_run_prints_the_plan_and_does_nothing(tmp_path, rankkit_registry, data_root):
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "trec-dl-2019"\n'
                    '[pipelines.bm25]\nstages = [{ retriever = "run", run = "bm25", k = 100 }]\n'
                    '[pipelines.overlap]\nstages = [{ retriever = "run", run = "bm25", k = 100 }, '
                    '{ scorer = "term-overlap", window = 20 }]\n'
                    '[evaluation]\nmeasures = ["nDCG@10"]\nbaseline = "bm25"\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--dry-run", "-o", str(out)],
                                obj=rankkit_registry)
    assert result.exit_code == 0, result.output
    assert "checked, no problem found" in result.output and "datasets: trec-dl-2019" in result.output
    assert "pipeline overlap: run(k=100) >> term-overlap(window=20): to run" in result.output
    assert "measures: nDCG@10; baseline bm25, paired-t, holm" in result.output
    assert not out.exists()
    path.write_text(path.read_text().replace("window = 20", "window = 20, windw = 3"))
    result = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--dry-run", "-o", str(out)],
                                obj=rankkit_registry)
    assert result.exit_code == 1 and "pipelines.overlap.stages[1].windw: unknown key(s) 'windw'" in result.output


def test_shard_must_be_i_of_n(tmp_path, rankkit_registry):
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "trec-dl-2019"\n[pipelines.bm25]\nstages = [{ retriever = "run", run = "bm25", k = 10 }]\n')
    for bad in ("3/2", "0/2", "1-2", "a/b"):
        result = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--shard", bad], obj=rankkit_registry)
        assert result.exit_code == 2 and "write I/N with 1 <= I <= N" in result.output


def _tiny_mirror(tmp_path, write_beir):
    """A mirror with two BEIR-layout copies of one dataset, ``judged`` and ``unjudged`` (no qrels), and a run."""
    docs = [{"_id": "d1", "text": "vitamin d and bone density"}, {"_id": "d2", "text": "neural ranking models"}]
    for name in ("judged", "unjudged"):
        write_beir(tmp_path / "mirror" / name, docs, {"q1": "vitamin d", "q2": "neural ranking"}, {"q1": "d1", "q2": "d2"})
    shutil.rmtree(tmp_path / "mirror" / "unjudged" / "qrels")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d2 1 2.0 t\nq2 Q0 d1 2 1.0 t\n")
    return tmp_path / "mirror", run


@pytest.mark.parametrize("dataset", ["unjudged", "judged"])
def test_run_check_without_qrels_has_nothing_to_check(tmp_path, monkeypatch, rankkit_registry, write_beir, dataset):
    mirror, run = _tiny_mirror(tmp_path, write_beir)
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    path = tmp_path / "exp.toml"
    path.write_text(f'dataset = "{dataset}"\n[pipelines.run]\nstages = [{{ retriever = "run", path = "{run}" }}]\n'
                    '[evaluation]\nmeasures = ["nDCG@10"]\n[expected.run]\n"nDCG@10" = 1.0\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--check", "--no-progress", "-o", str(out)],
                                obj=rankkit_registry)
    if dataset == "unjudged":   # no judgments: no result is evaluated, so --check must not say "passed"
        assert result.exit_code == 1, result.output
        assert "nothing to check: dataset 'unjudged' has no judgments (qrels)" in result.output
        assert "passed" not in result.output
        assert not out.exists(), "--check must fail before any work"
        plain = CliRunner().invoke(build_cli(rankkit_registry), ["run", str(path), "--no-progress", "-o", str(out)],
                                   obj=rankkit_registry)
        assert plain.exit_code == 0 and (out / "runs" / "run.trec").is_file(), plain.output   # runs without --check
    else:                       # with judgments the same file is checked, and passes
        assert result.exit_code == 0, result.output
        assert "check passed: 1 expected number(s) reproduced" in result.output


def test_datasets_follows_symlinked_folders(tmp_path, monkeypatch, rankkit_registry, write_beir):
    docs = [{"_id": "d1", "text": "a document"}]
    elsewhere = write_beir(tmp_path / "elsewhere" / "linked", docs, {"q1": "a query"}, {"q1": "d1"})
    mirror = write_beir(tmp_path / "mirror" / "plain", docs, {"q1": "a query"}, {"q1": "d1"}).parent
    (mirror / "linked").symlink_to(elsewhere, target_is_directory=True)
    (mirror / "loop").symlink_to(mirror, target_is_directory=True)   # a cycle must not hang the listing
    monkeypatch.setenv("RANKKIT_DATA", str(mirror))
    result = CliRunner().invoke(build_cli(rankkit_registry), ["datasets"], obj=rankkit_registry)
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["linked/test", "plain/test"]


def test_plugins_never_cuts_names_when_piped_on_a_narrow_terminal(monkeypatch, rankkit_registry):
    monkeypatch.setenv("COLUMNS", "30")
    result = CliRunner().invoke(build_cli(rankkit_registry), ["plugins"], obj=rankkit_registry)
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split("\t") == ["kind", "name", "plugin", "distribution", "summary"]
    listed = [tuple(line.split("\t")) for line in lines]
    expected = [(c.kind, c.name, c.origin.name, f"{c.origin.distribution} {c.origin.version}", c.spec.summary)
                for c in rankkit_registry.all_components()]
    assert listed == expected and "…" not in result.output


def test_plugins_table_keeps_names_whole_on_any_terminal_width():
    import io

    from rich.console import Console

    from rankkit.tables import print_table, table_width

    columns = ("kind", "name", "plugin", "summary")
    rows = [("index_builder", "a-rather-long-component-name", "third-party-plugin", "builds [params] " * 12),
            ("scorer", "x", "p", "short")]
    whole = ("kind", "name", "plugin")
    fits = table_width(columns, rows, whole, room=12)
    for width in (20, fits - 1, fits, fits + 7, 200):
        console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
        print_table(console, "components", columns, rows, whole, room=12)
        text = console.file.getvalue()
        assert "…" not in text
        if width < fits:   # too narrow for a table: plain lines, every field whole
            assert [line.split("\t")[:3] for line in text.splitlines()] == [list(whole), *map(list, (r[:3] for r in rows))]
            continue
        cells = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
        assert [c[:3] for c in cells if c[0]] == [list(r[:3]) for r in rows], text
        assert "[params]" in text   # cells are plain text, not rich markup
