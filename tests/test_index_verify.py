"""Indexes that live outside their folder: builders that verify them, rebuilt by ensure_index, stale in listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rankkit.cli import build_cli
from rankkit.components import ComponentSpec, IndexBuilder, Param, VerifiableIndexBuilder
from rankkit.hookspecs import hookimpl
from rankkit.indexes import IndexManifest, ensure_index, list_indexes, read_stamp
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry


class StoreBuilder:
    """Writes the doc ids to a file in a shared store (a stand-in for a search server); the folder points to it."""

    version = "1"

    def __init__(self, store: str) -> None:
        self.store = Path(store)

    def build(self, dataset, target: Path) -> dict:
        ids = [d.doc_id for d in dataset.iter_documents()]
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / f"{dataset.name}.txt").write_text("\n".join(ids))
        (target / "where.json").write_text(json.dumps({"file": f"{dataset.name}.txt", "documents": len(ids)}))
        return {"documents": len(ids)}

    def verify(self, target: Path) -> str | None:
        where = json.loads((target / "where.json").read_text())
        stored = self.store / where["file"]
        if not stored.is_file():
            return f"{where['file']} is missing in store {self.store}"
        count = len(stored.read_text().splitlines())
        return None if count == where["documents"] else f"{where['file']} holds {count} ids, not {where['documents']}"


class Provider:
    def resolve(self, name: str):
        if name != "tiny":
            return None
        from rankkit.testing import tiny_dataset

        return tiny_dataset()


class StorePlugin:
    @hookimpl
    def rankkit_index_builders(self):
        return [ComponentSpec("index_builder", "store", StoreBuilder, "doc ids in a store", (Param("store", str),))]

    @hookimpl
    def rankkit_dataset_providers(self):
        return [ComponentSpec("dataset_provider", "tiny-provider", Provider, "the tiny dataset")]


@pytest.fixture
def registry() -> Registry:
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("store", StorePlugin())]))


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IndexManifest:
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path / "built"))
    path = tmp_path / "indexes" / "tiny-store.toml"
    path.parent.mkdir()
    path.write_text(f'dataset = "tiny"\nbuilder = "store"\n[params]\nstore = "{tmp_path / "store"}"\n')
    return IndexManifest.load(path)


def test_store_builder_is_a_verifiable_index_builder() -> None:
    builder = StoreBuilder("unused")
    assert isinstance(builder, IndexBuilder) and isinstance(builder, VerifiableIndexBuilder)
    assert not isinstance(object(), VerifiableIndexBuilder)


def test_a_usable_index_is_reused_and_a_lost_one_rebuilt(registry: Registry, manifest: IndexManifest, tmp_path: Path) -> None:
    built = ensure_index(manifest, registry)
    assert built.stamp["verifiable"] is True
    assert ensure_index(manifest, registry).stamp["created"] == built.stamp["created"]
    (tmp_path / "store" / "tiny.txt").unlink()
    again = ensure_index(manifest, registry)
    assert (tmp_path / "store" / "tiny.txt").read_text() == "d1\nd2\nd3"
    assert again.stamp["key"] == built.stamp["key"] and read_stamp(again.path) == again.stamp
    (tmp_path / "store" / "tiny.txt").write_text("d1")
    assert ensure_index(manifest, registry).stamp["stats"]["documents"] == 3
    assert (tmp_path / "store" / "tiny.txt").read_text() == "d1\nd2\nd3"


def test_list_reports_a_lost_index_as_stale_with_the_fix(registry: Registry, manifest: IndexManifest, tmp_path: Path) -> None:
    ensure_index(manifest, registry)
    [row] = list_indexes([manifest.source.parent], registry=registry)
    assert (row.status, row.problem) == ("built", None)
    (tmp_path / "store" / "tiny.txt").unlink()
    [row] = list_indexes([manifest.source.parent], registry=registry)
    assert row.status == "stale"
    assert row.problem == (f"tiny.txt is missing in store {tmp_path / 'store'}: "
                           f"rebuild it with `rankkit index build {manifest.source}`")
    [unchecked] = list_indexes([manifest.source.parent])
    assert (unchecked.status, unchecked.problem) == ("built", None)
    ensure_index(manifest, registry)
    assert list_indexes([manifest.source.parent], registry=registry)[0].status == "built"


def test_list_says_when_the_builder_cannot_be_built_to_verify(registry: Registry, manifest: IndexManifest) -> None:
    ensure_index(manifest, registry)
    bare = Registry(load_plugins(PluginSettings(autoload=False)))
    [row] = list_indexes([manifest.source.parent], registry=bare)
    assert row.status == "unverified" and "cannot be built to verify it" in row.problem and "'store'" in row.problem


def test_index_list_command_shows_the_problem(registry: Registry, manifest: IndexManifest, tmp_path: Path) -> None:
    ensure_index(manifest, registry)
    (tmp_path / "store" / "tiny.txt").unlink()
    result = CliRunner().invoke(
        build_cli(registry), ["index", "list", "--manifests", str(manifest.source.parent), "--json"], obj=registry
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["status"] == "stale" and row["problem"].startswith("tiny.txt is missing in store")


def test_a_stamp_from_before_verification_gets_the_flag_at_the_next_build(
    registry: Registry, manifest: IndexManifest, tmp_path: Path
) -> None:
    built = ensure_index(manifest, registry)
    old = {k: v for k, v in built.stamp.items() if k != "verifiable"}
    (built.path / "rankkit-index.json").write_text(json.dumps(old))
    assert list_indexes([manifest.source.parent], registry=registry)[0].problem is None  # not verified yet
    again = ensure_index(manifest, registry)
    assert again.stamp == {**old, "verifiable": True} == read_stamp(built.path)
    (tmp_path / "store" / "tiny.txt").unlink()
    assert list_indexes([manifest.source.parent], registry=registry)[0].status == "stale"
