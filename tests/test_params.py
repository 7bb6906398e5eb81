"""Parameter validation against component schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rankkit.components import ComponentSpec, Param
from rankkit.errors import ConfigError
from rankkit.registry import validate_params

SPEC = ComponentSpec(
    "retriever", "demo", dict, "demo",
    (Param("index", str), Param("k1", float, 0.9), Param("mode", str, "a", choices=("a", "b")),
     Param("root", Path, None), Param("flag", bool, False)),
)


def test_defaults_and_coercions():
    values = validate_params(SPEC, {"index": "x", "k1": 1, "root": "/tmp"}, "here")
    assert values == {"index": "x", "k1": 1.0, "mode": "a", "root": Path("/tmp"), "flag": False}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required parameter index: str"),
        ({"index": "x", "kk": 1}, "unknown parameter(s) kk; valid parameters: index: str; k1: float = 0.9"),
        ({"index": 3}, "parameter 'index' must be str, got int 3"),
        ({"index": "x", "flag": 1}, "parameter 'flag' must be bool"),
        ({"index": "x", "k1": True}, "parameter 'k1' must be float"),
        ({"index": "x", "mode": "c"}, "'c' is not one of 'a', 'b'"),
    ],
)
def test_errors_name_where_and_the_valid_choices(params, message):
    with pytest.raises(ConfigError) as info:
        validate_params(SPEC, params, "eval/x.toml: pipelines.p.stages[0]")
    assert str(info.value).startswith("eval/x.toml: pipelines.p.stages[0]: ")
    assert message in str(info.value)


def test_unkeyed_parameters_stay_out_of_fingerprints_and_training_keys(tmp_path, data_root):
    from rankkit.components import keyed_values
    from rankkit.experiment.training import ensure_trained, load_trainings
    from rankkit.hookspecs import hookimpl
    from rankkit.plugins import PluginSettings, load_plugins
    from rankkit.registry import Registry

    class Counter:
        def __init__(self, limit: int, every: int) -> None:
            self.limit, self.every = limit, every

        def train(self, dataset, output: Path, candidates=None) -> dict:  # noqa: ANN001
            (output / "model.txt").write_text(str(self.limit))
            return {}

    params = (Param("limit", int, 3), Param("every", int, 10, "how often to checkpoint", keyed=False))

    class Plugin:
        @hookimpl
        def rankkit_trainers(self):  # noqa: ANN202
            return [ComponentSpec("trainer", "counter", Counter, "counts", params)]

    assert keyed_values(params, {"limit": 3, "every": 10}) == {"limit": 3}
    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("counter", Plugin())]))
    built = [registry.build("trainer", "counter", **p) for p in ({}, {"every": 5}, {"limit": 4})]
    assert built[0].fingerprint == built[1].fingerprint != built[2].fingerprint
    keys = []
    for every, limit in ((10, 3), (5, 3), (10, 4)):
        path = tmp_path / "train.toml"
        path.write_text(f'[train.c]\ntrainer = "counter"\ndataset = "trec-dl-2019"\n'
                        f'[train.c.params]\nevery = {every}\nlimit = {limit}\n')
        [section] = load_trainings(path).values()
        keys.append(ensure_trained(section, registry, tmp_path / "models", []).stamp["key"])
    assert keys[0] == keys[1] != keys[2]  # checkpointing more often does not retrain; another limit does


def test_a_parameter_added_later_enters_keys_only_away_from_its_default():
    from rankkit.components import fingerprint, keyed_values

    before = (Param("limit", int, 3),)
    after = (Param("limit", int, 3), Param("skip", int, 0, "added later; 0 does what the component did", keyed="unless-default"))
    old = fingerprint("trainer", "t", keyed_values(before, {"limit": 3}))
    assert fingerprint("trainer", "t", keyed_values(after, {"limit": 3, "skip": 0})) == old   # old models stay valid
    assert fingerprint("trainer", "t", keyed_values(after, {"limit": 3, "skip": 2})) != old   # a real change retrains
    assert keyed_values(after, {"limit": 3, "skip": 2}) == {"limit": 3, "skip": 2}


# --- parameters declared once: settings dataclasses -------------------------------------------------------------

from dataclasses import dataclass  # noqa: E402

from rankkit.params import Settings, lazy_factory, param, schema  # noqa: E402


@dataclass(frozen=True)
class DemoSettings(Settings):
    index: str = param(help="the index")
    k: int = param(10, help="depth", minimum=1, maximum=1000)
    mode: str = param("a", help="how", choices=("a", "b"))
    tags: list = param(["x"], help="labels")
    every: int = param(5, help="save often", keyed=False)
    root: str | None = param(None, help="optional folder")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode == "b" and self.k > 100:
            raise ConfigError("mode 'b' needs k <= 100")


class Demo:
    def __init__(self, settings: DemoSettings, registry=None) -> None:  # noqa: ANN001
        self.settings, self.registry = settings, registry


DECLARED = ComponentSpec("retriever", "declared", summary="demo", target=f"{__name__}:Demo", settings=DemoSettings)


def test_the_schema_comes_from_the_settings_dataclass():
    params = {p.name: p for p in DECLARED.params}
    assert list(params) == ["index", "k", "mode", "tags", "every", "root"]
    assert params["index"].required and params["k"].default == 10 and params["k"].bounds == "in [1, 1000]"
    assert params["mode"].choices == ("a", "b") and params["tags"].type is list and params["root"].type is str
    assert params["every"].keyed is False and params["k"].help == "depth"
    assert DemoSettings(index="i").tags == ["x"] and DemoSettings(index="i").tags is not DemoSettings(index="j").tags


@pytest.mark.parametrize(("values", "message"), [
    ({"index": "i", "k": 0}, "'k' = 0 is out of range: it must be in [1, 1000]"),
    ({"index": "i", "k": 5000}, "'k' = 5000 is out of range"),
    ({"index": "i", "mode": "c"}, "'mode' = 'c' is not one of 'a', 'b'"),
    ({"index": "i", "mode": "b", "k": 500}, "mode 'b' needs k <= 100"),
])
def test_bounds_choices_and_rules_hold_through_the_registry_and_on_the_settings(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_params(DECLARED, values, "exp.toml: pipelines.p.stages[0]")
    with pytest.raises(ConfigError, match=re.escape(message)):
        DemoSettings(**values)


def test_non_finite_numbers_are_refused():
    with pytest.raises(ConfigError, match="'k1' must be a finite number"):
        validate_params(SPEC, {"index": "x", "k1": float("inf")}, "here")


def test_the_target_is_imported_only_when_built_and_gets_one_settings_object(rankkit_core_registry):
    factory = lazy_factory("no_such_module_xyz:Thing")   # nothing imported yet
    with pytest.raises(ModuleNotFoundError):
        factory()
    built = DECLARED.factory(index="i", k=3, mode="a", tags=[], every=5, root=None, registry="R")
    assert isinstance(built, Demo) and built.settings == DemoSettings(index="i", k=3, tags=[]) and built.registry == "R"
    with pytest.raises(ValueError, match="import path"):
        lazy_factory("no-colon")
    with pytest.raises(ValueError, match="give a factory or a target"):
        ComponentSpec("retriever", "nothing", summary="x")


def test_a_field_type_a_parameter_cannot_have_is_refused():
    @dataclass(frozen=True)
    class Bad:
        value: set = param(help="no")

    with pytest.raises(TypeError, match="Bad.value"):
        schema(Bad)


def test_every_first_party_component_declares_its_parameters_once(rankkit_registry):
    undeclared = [f"{c.kind} {c.name} ({c.origin.name})" for c in rankkit_registry.all_components()
                  if c.origin.distribution.startswith("rankkit") and c.spec.params
                  and (c.spec.settings is None or not c.spec.target)]
    assert not undeclared, f"declare these components' parameters in a settings dataclass with a target: {undeclared}"


def test_exclusive_bounds_refuse_the_bound_itself():
    rate = Param("rate", float, 0.1, minimum=0, exclusive_minimum=True)
    share = Param("share", float, 0.0, minimum=0, maximum=1, exclusive_maximum=True)
    assert rate.bounds == "> 0" and share.bounds == "in [0, 1)"
    assert not rate.within(0) and rate.within(1e-9) and share.within(0) and not share.within(1)
    spec = ComponentSpec("retriever", "bounded", dict, "demo", (rate, share))
    with pytest.raises(ConfigError, match=re.escape("'rate' = 0.0 is out of range: it must be > 0")):
        validate_params(spec, {"rate": 0.0}, "here")
    with pytest.raises(ConfigError, match=re.escape("'share' = 1.0 is out of range: it must be in [0, 1)")):
        validate_params(spec, {"share": 1.0}, "here")
