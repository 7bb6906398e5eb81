"""The plugin host: entry-point loading, faults, blocking, duplicates, the third-party plugin."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib import metadata

import pytest

from rankkit.components import ComponentSpec
from rankkit.errors import DuplicateComponentError, PluginError, UnknownComponentError
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry


def _module(tmp_path, monkeypatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


def _ep(name: str, module: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=module, group="rankkit")


GOOD = """
from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

@hookimpl
def rankkit_scorers():
    return [ComponentSpec("scorer", "{name}", dict, "a scorer")]
"""


def test_broken_plugin_is_reported_by_name_and_others_still_load(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "rk_broken", "import not_a_real_dependency_xyz\n")
    _module(tmp_path, monkeypatch, "rk_good", GOOD.format(name="good-scorer"))
    loaded = load_plugins(PluginSettings(), entry_points=[_ep("broken", "rk_broken"), _ep("good", "rk_good")])
    registry = Registry(loaded)
    assert "good-scorer" in registry.components("scorer")
    [failure] = registry.failures
    assert failure.name == "broken"
    assert "not_a_real_dependency_xyz" in failure.message
    assert "--disable-plugin broken" in failure.message


def test_strict_mode_turns_a_load_failure_into_an_error(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "rk_broken2", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match="plugin 'broken2'.*boom at import"):
        load_plugins(PluginSettings(strict=True), entry_points=[_ep("broken2", "rk_broken2")])


def test_duplicate_component_names_both_plugins(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "rk_one", GOOD.format(name="same"))
    _module(tmp_path, monkeypatch, "rk_two", GOOD.format(name="same"))
    registry = Registry(load_plugins(PluginSettings(), entry_points=[_ep("one", "rk_one"), _ep("two", "rk_two")]))
    with pytest.raises(DuplicateComponentError, match="'one'.*'two'"):
        registry.components("scorer")


def test_blocked_plugin_is_not_loaded(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "rk_blocked", GOOD.format(name="blocked-scorer"))
    loaded = load_plugins(PluginSettings(disabled=frozenset({"blocked"})), entry_points=[_ep("blocked", "rk_blocked")])
    assert loaded.blocked == ["blocked"]
    assert "blocked-scorer" not in Registry(loaded).components("scorer")


def test_environment_blocks_plugins_and_autoloading(monkeypatch):
    monkeypatch.setenv("RANKKIT_DISABLE_PLUGINS", "example")
    assert "term-overlap" not in Registry.load().components("scorer")
    monkeypatch.delenv("RANKKIT_DISABLE_PLUGINS")
    monkeypatch.setenv("RANKKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry.load()
    assert set(registry.origins) == {"rankkit"}
    assert "run" in registry.components("retriever")


def test_hook_returning_garbage_names_the_plugin():
    class Bad:
        @hookimpl
        def rankkit_retrievers(self):
            return ["not a spec"]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("bad", Bad())]))
    with pytest.raises(PluginError, match="plugin 'bad'.*list of ComponentSpec"):
        registry.components("retriever")


def test_hook_that_raises_names_the_plugin():
    class Raises:
        @hookimpl
        def rankkit_rerankers(self):
            raise RuntimeError("cannot list")

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("raiser", Raises())]))
    with pytest.raises(PluginError, match="plugin 'raiser'.*cannot list.*--disable-plugin raiser"):
        registry.components("reranker")


def test_unknown_component_lists_the_choices(rankkit_registry):
    with pytest.raises(UnknownComponentError, match="unknown scorer 'nope'; available scorers: .*term-overlap"):
        rankkit_registry.get("scorer", "nope")


def test_plugins_can_declare_their_own_hooks():
    import pluggy

    spec = pluggy.HookspecMarker("rankkit")

    class Specs:
        @spec
        def rankkit_example_heuristics(self):
            """Extra heuristics."""

    class Provider:
        @hookimpl
        def rankkit_example_heuristics(self):
            return ["by-length"]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("provider", Provider())]))
    registry.add_hookspecs(Specs)
    assert registry.call_plugin_hook("rankkit_example_heuristics") == [("provider", ["by-length"])]
    with pytest.raises(PluginError, match="no plugin declares the hook"):
        registry.call_plugin_hook("rankkit_missing_hook")


def test_third_party_distribution_loads_through_the_entry_point(rankkit_registry):
    component = rankkit_registry.get("scorer", "term-overlap")
    assert component.origin.distribution == "rankkit-example-plugin"
    assert component.origin.version == metadata.version("rankkit-example-plugin")
    scorer = rankkit_registry.build("scorer", "term-overlap")
    assert scorer.score("wing slipstream", ["a wing in a slipstream", "nothing"]).tolist() == [1.0, 0.0]
    assert isinstance(scorer.fingerprint, str)


def test_fresh_registries_share_no_state(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "rk_once", GOOD.format(name="once"))
    with_plugin = Registry(load_plugins(PluginSettings(), entry_points=[_ep("once", "rk_once")]))
    without = Registry(load_plugins(PluginSettings(autoload=False)))
    assert "once" in with_plugin.components("scorer")
    assert "once" not in without.components("scorer")


def test_component_spec_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        ComponentSpec("ranker", "x", dict, "bad kind")  # type: ignore[arg-type]


def test_cli_lists_plugins_as_json(capsys):
    from rankkit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["plugins", "--json"])
    assert exit_info.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {(c["kind"], c["name"]): c for c in payload["components"]}
    assert rows[("scorer", "term-overlap")]["distribution"] == "rankkit-example-plugin"
    assert rows[("retriever", "run")]["summary"]


def test_cli_disable_plugin_flag(capsys):
    from rankkit.cli import main

    with pytest.raises(SystemExit):
        main(["--disable-plugin", "example", "plugins", "--json"])
    names = {c["name"] for c in json.loads(capsys.readouterr().out)["components"]}
    assert "term-overlap" not in names
