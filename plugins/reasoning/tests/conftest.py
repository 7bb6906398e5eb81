"""Fixtures for rankkit-reasoning: a tiny random chat model (no network) and the registry with this plugin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def torch_threads() -> None:
    """One thread (only tests that run a model ask for it).

    Tiny models gain nothing from more, and on a busy machine OpenMP threads
    that wait for each other make each small matrix product ten times slower.
    """
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> Path:
    """A tiny random Qwen2 chat model with a locally trained tokenizer."""
    from rankkit_reasoning.testing import tiny_chat_model

    return tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="module")
def registry():  # noqa: ANN201
    """The registry with every installed plugin, this one through its entry point."""
    from rankkit.registry import Registry

    return Registry.load()
