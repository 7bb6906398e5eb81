"""Each hook of the contract, exercised through a plugin that implements it."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from rankkit.components import ComponentSpec, Param
from rankkit.errors import PluginError
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry


class Trainer:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def train(self, dataset, output: Path, candidates=None) -> dict:
        (output / "model.txt").write_text(f"{dataset.name} {self.epochs}")
        return {"epochs": self.epochs}


class Builder:
    version = "1"

    def build(self, dataset, target: Path) -> dict:
        ids = [d.doc_id for d in dataset.iter_documents()]
        (target / "ids.txt").write_text("\n".join(ids))
        return {"documents": len(ids)}


class Provider:
    def resolve(self, name: str):
        if name != "tiny":
            return None
        from rankkit.testing import tiny_dataset

        return tiny_dataset()


class AllHooks:
    @hookimpl
    def rankkit_trainers(self):
        return [ComponentSpec("trainer", "demo-trainer", Trainer, "writes a model file", (Param("epochs", int, 1),))]

    @hookimpl
    def rankkit_index_builders(self):
        return [ComponentSpec("index_builder", "ids", Builder, "lists doc ids")]

    @hookimpl
    def rankkit_dataset_providers(self):
        return [ComponentSpec("dataset_provider", "tiny-provider", Provider, "the tiny dataset")]

    @hookimpl
    def rankkit_rerankers(self):
        from rankkit.testing import ReverseReranker

        return [ComponentSpec("reranker", "reverse", ReverseReranker, "reverses rankings")]

    @hookimpl
    def rankkit_scorers(self):
        return [ComponentSpec("scorer", "zero", dict, "placeholder spec for listing")]

    @hookimpl
    def rankkit_retrievers(self):
        return []

    @hookimpl
    def rankkit_cli(self, cli: click.Group):
        @cli.command("hello")
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")


@pytest.fixture
def registry() -> Registry:
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("all-hooks", AllHooks())]))


def test_rankkit_trainers(registry, tmp_path):
    from rankkit.datasets import resolve_dataset

    trainer = registry.build("trainer", "demo-trainer", epochs=3)
    (tmp_path / "model").mkdir()
    assert trainer.train(resolve_dataset("tiny", registry), tmp_path / "model") == {"epochs": 3}
    assert (tmp_path / "model" / "model.txt").read_text() == "tiny 3"


def test_rankkit_index_builders(registry, tmp_path, monkeypatch):
    from rankkit.indexes import IndexManifest, ensure_index

    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path / "indexes"))
    manifest = IndexManifest("tiny-ids", "tiny", "ids")
    built = ensure_index(manifest, registry)
    assert (built.path / "ids.txt").read_text() == "d1\nd2\nd3"
    assert built.stamp["stats"]["documents"] == 3
    created = built.stamp["created"]
    again = ensure_index(manifest, registry)
    assert again.stamp["created"] == created and again.stamp["key"] == built.stamp["key"]


def test_rankkit_dataset_providers(registry):
    from rankkit.datasets import resolve_dataset

    assert [q.query_id for q in resolve_dataset("tiny", registry).queries()] == ["q1", "q2"]


def test_rankkit_rerankers(registry):
    from rankkit.testing import SAMPLE_QUERIES

    reranker = registry.build("reranker", "reverse")
    from rankkit.types import Ranking

    out = reranker.rerank(list(SAMPLE_QUERIES[:1]), [Ranking("q1", ["a", "b"], [2.0, 1.0])])
    assert out[0].doc_ids.tolist() == ["b", "a"]


def test_rankkit_scorers(registry):
    assert registry.get("scorer", "zero").origin.name == "all-hooks"


def test_rankkit_retrievers(registry):
    # The plugin registers none; the core's run-file retriever is still there.
    assert set(registry.components("retriever")) == {"run"}


def test_rankkit_cli_adds_commands(registry):
    from rankkit.cli import build_cli

    group = build_cli(registry)
    result = CliRunner().invoke(group, ["hello"], obj=registry)
    assert result.exit_code == 0 and result.output == "hello from a plugin\n"
    assert "hello" not in build_cli(Registry(load_plugins(PluginSettings(autoload=False)))).commands


def test_rankkit_cli_may_not_replace_core_commands():
    class Clobber:
        @hookimpl
        def rankkit_cli(self, cli: click.Group):
            cli.add_command(click.Command("run", callback=lambda: None))

    from rankkit.cli import build_cli

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("clobber", Clobber())]))
    with pytest.raises(PluginError, match="plugin 'clobber' removed core commands \\['run'\\]"):
        build_cli(registry)


def test_rankkit_dataset_providers_of_plugins_resolve_their_names(monkeypatch):
    """A plugin's dataset provider (rankkit-crossencoder's pseudo-queries) resolves its own names, and only those."""
    registry = Registry.load()
    assert "pseudo-queries" in registry.components("dataset_provider")
    provider = registry.build("dataset_provider", "pseudo-queries")
    assert provider.resolve("beir-scifact/test") is None


def test_rankkit_rerankers_of_the_core_random_order_is_seeded_per_query(registry):
    from rankkit.types import Query, Ranking

    reranker = registry.build("reranker", "random", window=50, seed=3)
    rankings = [Ranking(f"q{i}", [f"d{j}" for j in range(60)], np.arange(60, 0, -1.0)) for i in range(3)]
    queries = [Query(r.query_id, "") for r in rankings]
    out = reranker.rerank(queries, rankings)
    alone = reranker.rerank(queries[1:2], rankings[1:2])[0]
    assert out[1] == alone                                        # independent of the batch
    assert out[0].doc_ids[:50].tolist() != rankings[0].doc_ids[:50].tolist()
    assert sorted(out[0].doc_ids[:50].tolist()) == sorted(rankings[0].doc_ids[:50].tolist())
    assert out[0].doc_ids[50:].tolist() == rankings[0].doc_ids[50:].tolist()   # below the window: unchanged
    assert out[0].doc_ids.tolist() != out[1].doc_ids.tolist()     # each query its own permutation
    other = registry.build("reranker", "random", window=50, seed=4).rerank(queries[:1], rankings[:1])[0]
    assert other.doc_ids.tolist() != out[0].doc_ids.tolist()
    assert (np.diff(out[0].scores) < 0).all()
