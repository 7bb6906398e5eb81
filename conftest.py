"""Root conftest: rankkit's reusable fixtures for the core's and every plugin's tests.

The dataset mirror defaults to ``../shared/datasets`` beside the repository when
``RANKKIT_DATA`` is unset, and every test gets fresh caches.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["rankkit.testing"]

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "datasets"


def pytest_configure(config: pytest.Config) -> None:
    """Point ``RANKKIT_DATA`` at the shared mirror when the user has not set it."""
    if not os.environ.get("RANKKIT_DATA") and SHARED_DATA.is_dir():
        os.environ["RANKKIT_DATA"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def _isolated(rankkit_isolated_env: Path) -> None:
    """Every test runs with its own caches (see ``rankkit.testing.rankkit_isolated_env``)."""
