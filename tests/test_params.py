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
