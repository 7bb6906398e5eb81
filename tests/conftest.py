"""Shared fixtures: the real dataset mirror, and isolated caches for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path | None:
    value = os.environ.get("RANKKIT_DATA")
    candidates = [Path(value)] if value else [REPO.parent / "shared" / "datasets"]
    return next((c for c in candidates if (c / "cranfield" / "corpus.jsonl").is_file()), None)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The offline dataset mirror (``RANKKIT_DATA``, default ``../shared/datasets``)."""
    root = _data_root()
    if root is None:
        pytest.skip("no dataset mirror: set RANKKIT_DATA to the shared datasets folder")
    return root


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh caches per test and the mirror in RANKKIT_DATA; no plugin blocking leaks in."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RANKKIT_CACHE", str(cache))
    monkeypatch.delenv("RANKKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("RANKKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    root = _data_root()
    if root is not None:
        monkeypatch.setenv("RANKKIT_DATA", str(root))
