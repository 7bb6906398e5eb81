"""The hook contract between rankkit and its plugins.

Hooks *register* components; queries never flow through pluggy. Each hook is
called once per plugin manager, every implementation is called, and all
results are collected (no hook is ``firstresult``). Only
:mod:`rankkit.registry` calls these hooks; everything else asks the registry.

A plugin implements hooks with :data:`hookimpl` and exposes its module through
an entry point in the ``rankkit`` group::

    [project.entry-points.rankkit]
    bm25 = "rankkit_bm25.plugin"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from rankkit.components import ComponentSpec

PROJECT = "rankkit"
ENTRY_POINT_GROUP = "rankkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rankkit_retrievers() -> list[ComponentSpec]:
    """Register retrievers: components that map queries to rankings from an index.

    Called once when the registry is first asked for a retriever. Every
    plugin's result is collected; a name registered twice is an error naming
    both plugins.

    Returns:
        Specs of kind ``"retriever"``. Each factory returns an object with
            ``retrieve(queries, k) -> list[Ranking]`` and a ``fingerprint``.
    """


@hookspec
def rankkit_rerankers() -> list[ComponentSpec]:
    """Register rerankers: components that reorder whole rankings.

    Called once when the registry is first asked for a reranker. All results
    are collected; duplicate names are an error.

    Returns:
        Specs of kind ``"reranker"``. Each factory returns an object with
            ``rerank(queries, rankings) -> list[Ranking]`` and a ``fingerprint``.
    """


@hookspec
def rankkit_scorers() -> list[ComponentSpec]:
    """Register scorers: components that score (query, document text) pairs.

    Every scorer is also usable as a reranker through the core's generic
    adapter (:class:`rankkit.pipeline.ScorerReranker`). All results are
    collected; duplicate names are an error.

    Returns:
        Specs of kind ``"scorer"``. Each factory returns an object with
            ``score(query, documents) -> numpy.ndarray`` and a ``fingerprint``.
    """


@hookspec
def rankkit_trainers() -> list[ComponentSpec]:
    """Register trainers: components that fit a scorer or reranker from training data.

    All results are collected; duplicate names are an error.

    Returns:
        Specs of kind ``"trainer"``. Each factory returns an object with
            ``train(dataset, output, candidates) -> dict`` that saves a model
            into ``output`` (see :class:`rankkit.components.Trainer`).
    """


@hookspec
def rankkit_index_builders() -> list[ComponentSpec]:
    """Register index builders: components that build an on-disk index for a dataset.

    The core wraps every build so that it lands atomically in the index cache
    with a manifest; a builder only fills the directory it is given. All
    results are collected; duplicate names are an error.

    Returns:
        Specs of kind ``"index_builder"``. Each factory returns an object with
            ``version`` and ``build(dataset, target) -> dict``.
    """


@hookspec
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """Register dataset providers: components that resolve dataset names.

    Providers are asked in registration order, after the offline mirror; the
    first that returns a dataset wins. All results are collected; duplicate
    names are an error.

    Returns:
        Specs of kind ``"dataset_provider"``. Each factory returns an object
            with ``resolve(name) -> Dataset | None``.
    """


@hookspec
def rankkit_models() -> list[ComponentSpec]:
    """Register models: weights a plugin can put on disk, named ``rankkit:<name>`` wherever a model goes.

    For weights that ship in a format the libraries do not load directly (a
    quantised engine's file, a checkpoint in chunks), or that must be
    assembled. The first use materialises the model once into the model cache
    (``$RANKKIT_CACHE/models/<name>``, atomically); later uses read it there.
    All results are collected; duplicate names are an error.

    Returns:
        Specs of kind ``"model"``. Each factory returns an object with
            ``version`` (a change rebuilds the folder) and
            ``materialise(target) -> dict``, which fills the empty folder
            ``target`` and returns a description stored beside the files.
    """


@hookspec
def rankkit_cli(cli: click.Group) -> None:
    """Add subcommands to the ``rankkit`` command line.

    Called once when the CLI starts, after the core commands exist. A plugin
    adds commands with ``cli.add_command(...)``; it must not replace a core
    command.

    Args:
        cli: The top-level ``rankkit`` click group.
    """
