"""Fixtures for rankkit-curriculum: the cross-encoder plugin's tiny model and data (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT cross-encoder."""
    pytest.importorskip("rankkit_crossencoder")
    import torch

    from rankkit_crossencoder.testing import make_tiny_cross_encoder

    torch.set_num_threads(2)
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A tiny training dataset and its candidates run."""
    pytest.importorskip("rankkit_crossencoder")
    from rankkit_crossencoder.testing import tiny_training_data

    return tiny_training_data(tmp_path_factory.mktemp("tiny-data"))
