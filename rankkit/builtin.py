"""The core's own plugin: the offline mirror, the ir_datasets bridge, run-file retrieval and the random order.

Registered first by :func:`rankkit.plugins.load_plugins`, under the name ``rankkit``.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec, Param
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


def _passage_provider(registry):  # noqa: ANN001, ANN202
    from rankkit.datasets.passages import PassageProvider

    return PassageProvider(registry)


def _fold_provider(registry):  # noqa: ANN001, ANN202
    from rankkit.datasets.folds import FoldProvider

    return FoldProvider(registry)


def _mixed_provider(registry):  # noqa: ANN001, ANN202
    from rankkit.datasets.mixed import MixedProvider

    return MixedProvider(registry)


def _run_file_retriever(path: str = "", run: str = "", dataset: str = "", registry=None):  # noqa: ANN001, ANN202
    from rankkit.retrievers import RunFileRetriever

    return RunFileRetriever.from_params(path=path, run=run, dataset=dataset, registry=registry)


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """The offline mirror, passages of sentence-level datasets, and the ir_datasets bridge."""
    return [
        ComponentSpec("dataset_provider", "mirror", MirrorProvider, "BEIR-layout datasets in $RANKKIT_DATA"),
        ComponentSpec("dataset_provider", "passages", _passage_provider,
                      "passages:DATASET: sentences sharing a title joined into passages (e.g. WikiQA questions -> "
                      "their summary paragraph)", needs_registry=True),
        ComponentSpec("dataset_provider", "folds", _fold_provider,
                      "fold:K/N:DATASET: the documents of about K/N of a collection's groups (cross-fitting)",
                      needs_registry=True),
        ComponentSpec("dataset_provider", "mixed", _mixed_provider,
                      "mixed:L1+L2+...:COLLECTION/QLANG: parallel collections mixed into one multilingual corpus",
                      needs_registry=True),
        ComponentSpec("dataset_provider", "ir_datasets", IrDatasetsProvider, "any ir_datasets id (downloads on first use)"),
    ]


@hookimpl
def rankkit_retrievers() -> list[ComponentSpec]:
    """Retrieval from a precomputed TREC run file."""
    return [
        ComponentSpec(
            "retriever",
            "run",
            _run_file_retriever,
            "precomputed TREC run: a file path, or a run shipped with a dataset",
            (
                Param("path", str, "", "TREC run file to read"),
                Param("run", str, "", "name of a run in the dataset's runs/ folder (e.g. 'bm25')"),
                Param("dataset", str, "", "dataset whose runs/ folder holds `run`"),
            ),
            needs_registry=True,
        )
    ]



def _random_reranker(window: int = 0, seed: int = 0):  # noqa: ANN202
    from rankkit.rerankers import RandomReranker

    return RandomReranker(window, seed)


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """The random order: the chance row of a results table."""
    return [
        ComponentSpec(
            "reranker",
            "random",
            _random_reranker,
            "shuffles the top of each ranking (seeded per query): the chance baseline a reranker must beat",
            (
                Param("window", int, 0, "how many of each ranking's top documents are shuffled (0: all)"),
                Param("seed", int, 0, "seeds the permutations (report several seeds: one random order is noisy)"),
            ),
        )
    ]
