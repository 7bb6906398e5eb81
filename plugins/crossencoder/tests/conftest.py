"""Fixtures for rankkit-crossencoder: tiny random cross-encoders with local tokenizers (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """Two threads: the machine is shared."""
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT cross-encoder (with a classification head)."""
    from rankkit_crossencoder.testing import make_tiny_cross_encoder

    return make_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A tiny training dataset and its candidates run."""
    from rankkit_crossencoder.testing import tiny_training_data

    return tiny_training_data(tmp_path_factory.mktemp("tiny-data"))
