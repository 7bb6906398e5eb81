"""Datasets: BEIR-layout readers, offline mirror resolution and the ir_datasets bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rankkit.datasets.base import Dataset
from rankkit.datasets.beir import BeirDataset
from rankkit.datasets.mirror import DATA_ENV, mirror_root
from rankkit.errors import DatasetNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

#: The provider asked last, after the mirror and every plugin's providers.
FALLBACK_PROVIDER = "ir_datasets"

__all__ = ["BeirDataset", "Dataset", "resolve_dataset"]


def resolve_dataset(name: str, registry: Registry) -> Dataset:
    """Resolve a dataset name through the registered dataset providers.

    The core registers the offline mirror (``RANKKIT_DATA``) first and
    ``ir_datasets`` last; plugins' providers sit between them.

    Raises:
        DatasetNotFoundError: Saying where the name was looked up.
    """
    names = sorted(registry.components("dataset_provider"), key=lambda n: n == FALLBACK_PROVIDER)
    for provider in (registry.build("dataset_provider", n) for n in names):
        dataset = provider.resolve(name)
        if dataset is not None:
            return dataset
    root = mirror_root()
    where = f"{DATA_ENV}={root}" if root else f"the offline mirror ({DATA_ENV} is not set)"
    raise DatasetNotFoundError(
        f"unknown dataset {name!r}: not in {where}, and no dataset provider knows it. "
        "Mirror names look like 'beir-scifact/test' or 'cranfield'; `rankkit datasets` lists them."
    )
