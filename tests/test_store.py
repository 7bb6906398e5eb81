"""The artifact store: keys from recorded parts, reuse, rebuilds that say why, locks, and version keys.

The last test upgrades a plugin (the example plugin's version) and sees its pipeline run again and its scores
recomputed, while the core's run is reused.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from pathlib import Path

from rankkit.experiment import ExperimentRunner, load_experiment
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry
from rankkit.store import build_lock, ensure, explain, key_for
from rankkit.versions import ABSENT, library_versions


def _fill(calls: list[str], text: str = "x"):
    def fill(staging: Path) -> dict:
        calls.append(text)
        (staging / "data.txt").write_text(text)
        return {"what": text}
    return fill


def test_explain_names_each_changed_part():
    old = {"params": {"k1": 0.9, "b": 0.4}, "versions": {"rankkit-bm25": "0.1.0"}}
    new = {"params": {"k1": 1.2, "b": 0.4}, "versions": {"rankkit-bm25": "0.2.0", "pyserini": "1.2.0"}}
    reason = explain(old, new)
    assert "params.k1: 0.9 -> 1.2" in reason
    assert 'versions.rankkit-bm25: "0.1.0" -> "0.2.0"' in reason
    assert "versions.pyserini: new" in reason and "params.b" not in reason
    assert "earlier rankkit" in explain(None, new)
    assert explain({"a": (1, 2)}, {"a": [1, 2]}).startswith("its key changed")   # JSON-equal parts: no change named


def test_ensure_reuses_then_rebuilds_with_the_reason(tmp_path, caplog):
    calls: list[str] = []
    target = tmp_path / "artifact"
    first = ensure(target, "stamp.json", "index", {"params": {"k": 1}}, _fill(calls, "one"))
    assert first.built and first.reason is None and (target / "data.txt").read_text() == "one"
    assert first.stamp["key"] == key_for("index", {"params": {"k": 1}}) and first.stamp["parts"] == {"params": {"k": 1}}
    again = ensure(target, "stamp.json", "index", {"params": {"k": 1}}, _fill(calls, "two"))
    assert not again.built and calls == ["one"]
    with caplog.at_level("WARNING", logger="rankkit"):
        changed = ensure(target, "stamp.json", "index", {"params": {"k": 2}}, _fill(calls, "three"), what="index demo")
    assert changed.built and changed.reason == "changed: params.k: 1 -> 2"
    assert "index demo: rebuilding: changed: params.k: 1 -> 2" in caplog.text
    assert (target / "data.txt").read_text() == "three"
    forced = ensure(target, "stamp.json", "index", {"params": {"k": 2}}, _fill(calls, "four"), force=True)
    assert forced.reason == "forced"
    unusable = ensure(target, "stamp.json", "index", {"params": {"k": 2}}, _fill(calls, "five"),
                      usable=lambda stamp: "lost on the server")
    assert unusable.built and unusable.reason == "lost on the server"
    assert calls == ["one", "three", "four", "five"]
    assert not list(tmp_path.glob(".building-*"))


def test_a_failed_build_leaves_the_old_artifact(tmp_path):
    target = tmp_path / "artifact"
    ensure(target, "stamp.json", "model", {"v": 1}, _fill([], "old"))

    def broken(staging: Path) -> dict:
        (staging / "data.txt").write_text("half")
        raise RuntimeError("disk full")

    try:
        ensure(target, "stamp.json", "model", {"v": 2}, broken)
    except RuntimeError:
        pass
    assert (target / "data.txt").read_text() == "old"
    assert not list(tmp_path.glob(".building-*"))


def test_a_second_builder_waits_for_the_first_and_reuses_its_artifact(tmp_path):
    target = tmp_path / "artifact"
    calls: list[str] = []
    holding = threading.Event()

    def slow(staging: Path) -> dict:
        holding.set()
        time.sleep(0.5)
        return _fill(calls, "first")(staging)

    first = threading.Thread(target=ensure, args=(target, "stamp.json", "train", {"v": 1}, slow))
    first.start()
    assert holding.wait(10)
    second = ensure(target, "stamp.json", "train", {"v": 1}, _fill(calls, "second"))
    first.join(10)
    assert calls == ["first"] and not second.built and (target / "data.txt").read_text() == "first"


def test_the_lock_is_released_after_an_error(tmp_path):
    target = tmp_path / "artifact"
    try:
        with build_lock(target):
            raise ValueError("boom")
    except ValueError:
        pass
    with build_lock(target):
        pass


def test_library_versions_take_the_first_installed_alternative():
    versions = library_versions(["pytest", "no-such-dist-xyz|pluggy", "no-such-dist-abc"])
    assert versions["pytest"] != ABSENT and versions["pluggy"] != ABSENT
    assert versions["no-such-dist-abc"] == ABSENT and "no-such-dist-xyz" not in versions


EXPERIMENT = """
dataset = "trec-dl-2019"

[settings]
batch_size = 20

[pipelines.bm25]
stages = [{ retriever = "run", run = "bm25", k = 20 }]

[pipelines.overlap]
stages = [{ retriever = "run", run = "bm25", k = 20 }, { scorer = "term-overlap", window = 20, query_weight = 0.0 }]

[evaluation]
measures = ["nDCG@10"]
"""


def _registry(example_version: str | None = None) -> Registry:
    loaded = load_plugins(PluginSettings(strict=False))
    if example_version is not None:   # what upgrading the example plugin's distribution changes
        loaded.origins["example"] = dataclasses.replace(loaded.origins["example"], version=example_version)
    return Registry(loaded)


def _scores(cache: Path) -> int:
    with sqlite3.connect(cache / "scores.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]


def test_upgrading_a_plugin_reruns_its_pipeline_and_rescores(tmp_path, rankkit_isolated_env, data_root):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    config = load_experiment(path)
    out = tmp_path / "out"
    first = ExperimentRunner(config, _registry(), out, progress=False).run()
    scored = _scores(rankkit_isolated_env)
    assert scored > 0 and not any(o.reused for o in first.outcomes.values())
    same = ExperimentRunner(config, _registry(), out, progress=False).run()
    assert all(o.reused for o in same.outcomes.values()) and _scores(rankkit_isolated_env) == scored

    upgraded = ExperimentRunner(config, _registry("99.0"), out, progress=False)
    result = upgraded.run()
    assert result.outcomes["bm25"].reused                # the core's run retriever did not change
    assert not result.outcomes["overlap"].reused         # the upgraded plugin's scorer did
    assert _scores(rankkit_isolated_env) == 2 * scored   # every pair scored again, under new keys
    said = "\n".join(upgraded.log)
    assert "pipeline overlap: running again: changed:" in said and '-> "99.0"' in said
    assert result.results["overlap"].aggregate == first.results["overlap"].aggregate


def test_a_wrapped_components_versions_enter_the_wrappers_fingerprint():
    from rankkit.components import ComponentSpec
    from rankkit.hookspecs import hookimpl

    class Inner:
        pass

    class Outer:
        def __init__(self, registry) -> None:  # noqa: ANN001
            self.inner = registry.build("trainer", "inner")

    def plugin(library: str):
        class Plugin:
            @hookimpl
            def rankkit_trainers(self):
                return [ComponentSpec("trainer", "inner", Inner, "inner", libraries=(library,)),
                        ComponentSpec("trainer", "outer", Outer, "outer", needs_registry=True)]
        return Plugin()

    def outer_fingerprint(library: str) -> str:
        registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("wrap", plugin(library))]))
        return registry.build("trainer", "outer").fingerprint

    # the inner trainer's backend library: installed (pytest) or not: the outer fingerprint follows it
    assert outer_fingerprint("pytest") != outer_fingerprint("no-such-dist-xyz")
    assert outer_fingerprint("pytest") == outer_fingerprint("pytest")
