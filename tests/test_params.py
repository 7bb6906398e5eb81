"""Parameter validation against component schemas."""

from __future__ import annotations

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
