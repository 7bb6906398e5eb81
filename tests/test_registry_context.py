"""One registry passed down: the active registry, and ``--disable-plugin`` honoured wherever components resolve
datasets, runs and ``rankkit:NAME`` models (no second registry is ever loaded behind the command's back)."""

from __future__ import annotations

import functools
import json
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from rankkit.components import ComponentSpec
from rankkit.errors import ConfigError, DatasetNotFoundError
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry, active_registry
from rankkit.retrievers import RunFileRetriever, RunFileSettings

TINY_MODEL = """
from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl


class Tiny:
    version = "1"

    def materialise(self, target):
        (target / "config.json").write_text("{}")
        return {}


@hookimpl
def rankkit_models():
    return [ComponentSpec("model", "tiny", Tiny, "a tiny model")]
"""

TINY_BUILDER = """
from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl
from rankkit.models import resolve_model_name


class Builder:
    version = "1"

    def __init__(self):
        self.model = resolve_model_name("rankkit:tiny")  # while the registry builds it

    def build(self, dataset, target):
        again = resolve_model_name("rankkit:tiny")  # while the index is built (after registry.build returned)
        (target / "model.txt").write_text(self.model)
        return {"documents": sum(1 for _ in dataset.iter_documents()), "same_model": again == self.model}


@hookimpl
def rankkit_index_builders():
    return [ComponentSpec("index_builder", "tiny-builder", Builder, "resolves rankkit:tiny")]
"""

PLUG_DATA = """
from pathlib import Path

from rankkit.components import ComponentSpec
from rankkit.datasets.beir import BeirDataset
from rankkit.hookspecs import hookimpl

ROOT = Path({root!r})


class Provider:
    def resolve(self, name):
        return BeirDataset(name, ROOT) if name == "plugdata" else None


@hookimpl
def rankkit_dataset_providers():
    return [ComponentSpec("dataset_provider", "plugdata", Provider, "the dataset 'plugdata'")]
"""


@pytest.fixture
def plugins(tmp_path, monkeypatch, write_beir) -> list[metadata.EntryPoint]:
    """Entry points of three plugins: a model (``tiny``), an index builder that resolves it, a dataset ``plugdata``."""
    data = write_beir(tmp_path / "plugdata", [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}],
                      {"q1": "one", "q2": "two"}, {"q1": "d1", "q2": "d2"})
    (data / "runs").mkdir()
    (data / "runs" / "bm25.trec").write_text("q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\nq2 Q0 d2 1 1.0 bm25\n")
    sources = {"rk_ctx_tinymodel": TINY_MODEL, "rk_ctx_tinybuilder": TINY_BUILDER,
               "rk_ctx_plugdata": PLUG_DATA.format(root=str(data))}
    for module, source in sources.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(module, None)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RANKKIT_INDEX_DIR", str(tmp_path / "indexes"))
    return [metadata.EntryPoint(name=m.removeprefix("rk_ctx_"), value=m, group="rankkit") for m in sources]


def _main(monkeypatch, capsys, entry_points: list[metadata.EntryPoint], *args: str) -> tuple[int, str, str]:
    """``rankkit ARGS`` with only ``entry_points`` installed; ``(exit code, stdout, stderr)``."""
    from rankkit import cli

    monkeypatch.setattr(cli, "load_plugins", functools.partial(load_plugins, entry_points=entry_points))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


class Probe:
    """A scorer that records the registry active while it is built."""

    def __init__(self) -> None:
        self.seen = active_registry()


class ProbePlugin:
    @hookimpl
    def rankkit_scorers(self):
        return [ComponentSpec("scorer", "probe", Probe, "records the active registry")]


def _registry() -> Registry:
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("probe", ProbePlugin())]))


def test_active_registry_while_building_and_in_active_blocks_and_an_error_outside():
    registry, other = _registry(), _registry()
    message = r"model reference rankkit:NAME needs the plugin registry: .*\(registry\.build\) or inside `with registry\.active\(\):`"
    with pytest.raises(ConfigError, match=message):
        active_registry()
    assert registry.build("scorer", "probe").seen is registry
    with pytest.raises(ConfigError):
        active_registry()  # only while the factory ran
    with registry.active() as active:
        assert active is registry and active_registry() is registry
        with other.active():
            assert active_registry() is other
        assert active_registry() is registry
        assert other.build("scorer", "probe").seen is other  # the building registry, inside another's block
        assert active_registry() is registry
    with pytest.raises(ConfigError):
        active_registry()


def test_a_failing_factory_leaves_no_registry_active():
    class Failing:
        @hookimpl
        def rankkit_scorers(self):
            return [ComponentSpec("scorer", "failing", lambda: 1 / 0, "fails")]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("failing", Failing())]))
    with pytest.raises(ZeroDivisionError):
        registry.build("scorer", "failing")
    with pytest.raises(ConfigError):
        active_registry()


def test_cli_commands_run_with_their_registry_active(monkeypatch, capsys):
    import click

    seen: list[Registry] = []

    @click.command("probe-active")
    def probe() -> None:
        seen.append(active_registry())

    monkeypatch.setattr(Registry, "add_cli_commands", lambda self, group: group.add_command(probe))
    code, _, err = _main(monkeypatch, capsys, [], "probe-active")
    assert code == 0, err
    [registry] = seen
    assert isinstance(registry, Registry) and set(registry.origins) == {"rankkit"}
    with pytest.raises(ConfigError):
        active_registry()  # only for the command


def test_run_retriever_resolves_its_dataset_through_the_registry_that_builds_it(plugins):
    with pytest.raises(ConfigError, match=r"retriever 'run' with run='bm25'.*plugin registry.*registry="):
        RunFileRetriever.from_settings(RunFileSettings(run="bm25", dataset="plugdata"))
    enabled = Registry(load_plugins(PluginSettings(), entry_points=plugins))
    retriever = enabled.build("retriever", "run", run="bm25", dataset="plugdata")
    assert retriever.path.name == "bm25.trec"
    disabled = Registry(load_plugins(PluginSettings(disabled=frozenset({"plugdata"})), entry_points=plugins))
    with pytest.raises(DatasetNotFoundError, match="unknown dataset 'plugdata'"):
        disabled.build("retriever", "run", run="bm25", dataset="plugdata")


def test_index_builds_resolve_models_through_the_given_registry(plugins, tmp_path):
    from rankkit.indexes import IndexManifest, ensure_index

    manifest = tmp_path / "tiny.toml"
    manifest.write_text('dataset = "plugdata"\nbuilder = "tiny-builder"\n')
    registry = Registry(load_plugins(PluginSettings(), entry_points=plugins))
    built = ensure_index(IndexManifest.load(manifest), registry)  # the builder resolves rankkit:tiny in build() too
    assert built.stamp["stats"] == {"documents": 2, "same_model": True}
    assert Path((built.path / "model.txt").read_text()).name == "tiny"


def test_disable_plugin_is_honoured_for_model_references(plugins, tmp_path, monkeypatch, capsys):
    manifest = tmp_path / "tiny.toml"
    manifest.write_text('dataset = "plugdata"\nbuilder = "tiny-builder"\n')
    code, _, err = _main(monkeypatch, capsys, plugins, "--disable-plugin", "tinymodel", "index", "build", str(manifest))
    assert code == 1 and "model rankkit:tiny: unknown model 'tiny'" in err, err
    assert not (tmp_path / "indexes" / "tiny").exists()
    code, out, err = _main(monkeypatch, capsys, plugins, "index", "build", str(manifest))
    assert code == 0, err
    assert "(2 documents" in out


def test_disable_plugin_is_honoured_for_eval_qrels(plugins, tmp_path, monkeypatch, capsys):
    run = tmp_path / "bm25.trec"
    run.write_text("q1 Q0 d1 1 2.0 bm25\nq2 Q0 d1 1 1.0 bm25\n")
    args = ("eval", str(run), "--qrels", "plugdata", "--format", "json", "-m", "P@1")
    code, out, err = _main(monkeypatch, capsys, plugins, *args)
    assert code == 0, err
    assert json.loads(out)["aggregate"]["bm25"]["P@1"] == pytest.approx(0.5)
    code, _, err = _main(monkeypatch, capsys, plugins, "--disable-plugin", "plugdata", *args)
    assert code == 1 and "--qrels 'plugdata' is not an existing file, and unknown dataset 'plugdata'" in err, err
