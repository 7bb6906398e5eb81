"""Datasets derived from another dataset's corpus, resolved by a name prefix (``pseudo:...:CORPUS``, ``genq:N:CORPUS``)."""

from __future__ import annotations

import abc
from typing import Any

from rankkit.datasets.base import Dataset


class DerivedDatasetProvider(abc.ABC):
    """A dataset provider for names that derive a dataset from the corpus of another dataset.

    Subclasses say how a name parses (:meth:`parse`) and what the derived dataset is (:meth:`derive`); the
    other dataset is resolved through the same registry, so any dataset a plugin provides can be the corpus.

    Args:
        registry: Resolves the corpus's dataset name.
    """

    def __init__(self, registry: object) -> None:
        self.registry = registry

    @abc.abstractmethod
    def parse(self, name: str) -> tuple[Any, str] | None:
        """``(options, corpus name)`` of a name this provider owns, ``None`` for another name.

        Raises:
            ConfigError: For a malformed name of this provider, saying how to write it.
        """

    @abc.abstractmethod
    def derive(self, name: str, options: Any, base: Dataset) -> Dataset:
        """The derived dataset called ``name``, made from ``base``'s corpus with ``options``."""

    def resolve(self, name: str) -> Dataset | None:
        """The derived dataset for ``name``, or ``None`` for another name."""
        parsed = self.parse(name)
        if parsed is None:
            return None
        from rankkit.datasets import resolve_dataset

        options, corpus = parsed
        return self.derive(name, options, resolve_dataset(corpus, self.registry))  # type: ignore[arg-type]
