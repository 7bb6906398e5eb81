"""The regressions in eval/: every experiment (unless it opts out with [settings] ci = false) reproduces its expected numbers (`rankkit run --check`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rankkit.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p for p in (REPO / "eval").glob("*.toml") if load_experiment(p).ci)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rankkit cache (indexes, embeddings, scores) for the module, so each collection is indexed once."""
    return tmp_path_factory.mktemp("regression-cache")


@pytest.mark.integration
@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_reproduces_expected_numbers(experiment: Path, data_root: Path, shared_cache: Path, tmp_path: Path) -> None:
    env = {**os.environ, "RANKKIT_CACHE": str(shared_cache), "RANKKIT_INDEX_DIR": str(shared_cache / "indexes"),
           "RANKKIT_DATA": str(data_root), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "rankkit.cli", "run", str(experiment), "--check", "--no-progress", "-o", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check passed" in result.stdout
    assert (tmp_path / "out" / "report" / "report.html").is_file()
    assert (tmp_path / "out" / "manifest.json").is_file()
