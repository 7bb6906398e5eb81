"""The core's own plugin: the offline mirror, the ir_datasets bridge, run-file retrieval and the random order.

Registered first by :func:`rankkit.plugins.load_plugins`, under the name ``rankkit``.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl


class MirrorProvider:
    """Resolves names in ``RANKKIT_DATA`` (see :mod:`rankkit.datasets.mirror`)."""

    def resolve(self, name: str):  # noqa: ANN201 - Dataset | None
        """The mirror's dataset for ``name``, or ``None``."""
        from rankkit.datasets.mirror import mirror_root, resolve_in_mirror

        root = mirror_root()
        return resolve_in_mirror(name, root) if root else None


class IrDatasetsProvider:
    """Resolves any ``ir_datasets`` id (needs internet for data not yet cached)."""

    def resolve(self, name: str):  # noqa: ANN201 - Dataset | None
        """The ``ir_datasets`` dataset for ``name``, or ``None`` for an unknown id."""
        from rankkit.datasets.irds import load_ir_dataset
        from rankkit.datasets.mirror import DATA_ENV, mirror_root

        root = mirror_root()
        hint = f"{DATA_ENV}={root}" if root else f"the offline mirror ({DATA_ENV} is not set)"
        return load_ir_dataset(name, hint)


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """The offline mirror, passages of sentence-level datasets, and the ir_datasets bridge."""
    return [
        ComponentSpec("dataset_provider", "mirror", MirrorProvider, "BEIR-layout datasets in $RANKKIT_DATA"),
        ComponentSpec("dataset_provider", "passages", summary="passages:DATASET: sentences sharing a title joined "
                      "into passages (e.g. WikiQA questions -> their summary paragraph)",
                      target="rankkit.datasets.passages:PassageProvider", needs_registry=True),
        ComponentSpec("dataset_provider", "folds", summary="fold:K/N:DATASET: the documents of about K/N of a "
                      "collection's groups (cross-fitting)", target="rankkit.datasets.folds:FoldProvider",
                      needs_registry=True),
        ComponentSpec("dataset_provider", "mixed", summary="mixed:L1+L2+...:COLLECTION/QLANG: parallel collections "
                      "mixed into one multilingual corpus", target="rankkit.datasets.mixed:MixedProvider",
                      needs_registry=True),
        ComponentSpec("dataset_provider", "ir_datasets", IrDatasetsProvider, "any ir_datasets id (downloads on first use)"),
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """Retrieval from a precomputed TREC run file."""
    from rankkit.retrievers import RunFileSettings

    return [
        ComponentSpec("retriever", "run", summary="precomputed TREC run: a file path, or a run shipped with a dataset",
                      target="rankkit.retrievers:RunFileRetriever.from_settings", settings=RunFileSettings,
                      needs_registry=True)
    ]


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """The random order: the chance row of a results table."""
    from rankkit.rerankers import RandomSettings

    return [
        ComponentSpec("reranker", "random", summary="shuffles the top of each ranking (seeded per query): the chance "
                      "baseline a reranker must beat", target="rankkit.rerankers:RandomReranker", settings=RandomSettings)
    ]
