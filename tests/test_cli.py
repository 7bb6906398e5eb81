"""The command line: help everywhere, clean errors, datasets and index listings."""

from __future__ import annotations

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
