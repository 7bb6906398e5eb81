"""Experiments end to end: runs, report, manifest, resume after a kill, --check, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rankkit.errors import ConfigError
from rankkit.experiment import ExperimentRunner, load_experiment
from rankkit.trec import read_run

RERANK = """
dataset = "{dataset}"

[settings]
batch_size = {batch}

[pipelines.bm25]
stages = [{{ retriever = "run", run = "{run}", k = 100 }}]

[pipelines.overlap]
stages = [{{ retriever = "run", run = "{run}", k = 100 }}, {{ scorer = "term-overlap", window = 20, query_weight = 0.0{delay} }}]

[pipelines.fused]
fusion = "rrf"
of = ["bm25", "overlap"]

[evaluation]
measures = ["nDCG@10", "RR@10", "AP"]
baseline = "bm25"
test = "paired-t"
correction = "holm"

[expected]
tolerance = 1e-4
[expected.bm25]
"nDCG@10" = 0.5058
"""


def _experiment(tmp_path: Path, dataset: str = "trec-dl-2019", batch: int = 10, delay: float = 0.0, extra: str = "") -> Path:
    run = "candidates-test" if dataset.startswith("wikiqa") else "bm25"
    text = RERANK.format(dataset=dataset, batch=batch, run=run, delay=f", delay = {delay}" if delay else "")
    path = tmp_path / "exp.toml"
    path.write_text(text + extra)
    return path


def test_experiment_runs_evaluates_and_reports(tmp_path, rankkit_registry, data_root):
    config = load_experiment(_experiment(tmp_path))
    result = ExperimentRunner(config, rankkit_registry, tmp_path / "out", progress=False).run()
    assert set(result.outcomes) == {"bm25", "overlap", "fused"}
    # The shipped BM25 run reproduces its published nDCG@10 through rankkit's evaluation.
    assert result.results["bm25"].aggregate["nDCG@10"] == pytest.approx(0.5058, abs=1e-4)
    assert result.drifts == []
    assert result.report is not None and result.report.exists()
    manifest = json.loads(result.manifest.read_text())
    assert manifest["dataset"]["checksum"] and manifest["config_hash"]
    assert manifest["plugins"]["example"]["distribution"] == "rankkit-example-plugin"
    assert set(manifest["pipelines"]) == {"bm25", "overlap", "fused"}
    overlap = read_run(tmp_path / "out" / "runs" / "overlap.trec")
    assert len(overlap) == 43 and all(len(r) == 100 for r in overlap.values())


def test_rerun_reuses_finished_runs(tmp_path, rankkit_registry, data_root):
    config = load_experiment(_experiment(tmp_path))
    ExperimentRunner(config, rankkit_registry, tmp_path / "out", progress=False).run()
    again = ExperimentRunner(config, rankkit_registry, tmp_path / "out", progress=False).run()
    assert all(o.reused for o in again.outcomes.values())


def test_check_reports_drift(tmp_path, rankkit_registry, data_root):
    path = _experiment(tmp_path)
    path.write_text(path.read_text().replace('"nDCG@10" = 0.5058', '"nDCG@10" = 0.6'))
    result = ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out", progress=False).run()
    [drift] = result.drifts
    assert (drift.pipeline, drift.measure) == ("bm25", "nDCG@10") and "expected 0.6000" in str(drift)


def _rankkit(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "rankkit.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_run_resumes_and_gives_identical_files(tmp_path, data_root):
    path = _experiment(tmp_path, dataset="wikiqa/test-filtered", batch=5, delay=0.01)
    path.write_text(path.read_text().split("[expected]")[0])
    clean = _rankkit("run", str(path), "--no-progress", "--no-cache", "-o", str(tmp_path / "clean"), cwd=tmp_path)
    assert clean.wait(timeout=600) == 0, clean.stdout.read()

    victim = _rankkit("run", str(path), "--no-progress", "--no-cache", "-o", str(tmp_path / "killed"), cwd=tmp_path)
    checkpoint = tmp_path / "killed" / ".checkpoints" / "overlap.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if checkpoint.is_file() and len(checkpoint.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert checkpoint.is_file(), "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "runs" / "overlap.trec").exists()

    resumed = _rankkit("run", str(path), "--no-progress", "--no-cache", "-o", str(tmp_path / "killed"), cwd=tmp_path)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert "pipeline overlap: resuming" in output and "pipeline bm25: up to date" in output
    for name in ("bm25", "overlap", "fused"):
        clean_file = tmp_path / "clean" / "runs" / f"{name}.trec"
        assert (tmp_path / "killed" / "runs" / f"{name}.trec").read_bytes() == clean_file.read_bytes()
    assert not checkpoint.exists()


def test_torn_checkpoint_line_is_ignored(tmp_path):
    import numpy as np

    from rankkit.experiment.checkpoint import Checkpoint
    from rankkit.types import Ranking

    checkpoint = Checkpoint(tmp_path / "c.jsonl", "key-1")
    checkpoint.append(0, [Ranking("q1", ["a"], [1.0])])
    checkpoint.append(1, [Ranking("q2", ["b"], [2.0])])
    checkpoint.close()
    with open(checkpoint.path, "a") as handle:
        handle.write('{"batch": 2, "rank')
    assert sorted(Checkpoint(checkpoint.path, "key-1").load()) == [0, 1]
    assert Checkpoint(checkpoint.path, "other-key").load() == {}
    resumed = Checkpoint(checkpoint.path, "key-1")
    resumed.append(2, [Ranking("q3", ["c"], np.array([3.0]))])
    resumed.close()
    assert sorted(Checkpoint(checkpoint.path, "key-1").load()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("replace", "add", "message"),
    [
        (('scorer = "term-overlap"', 'scorer = "cross-encodr"'), "",
         "pipelines.overlap.stages[1].scorer: unknown scorer 'cross-encodr'; available scorers: "),
        (('k = 100 }, { scorer', 'kk = 100 }, { scorer'), "",
         "pipelines.overlap.stages[0].kk: unknown key(s) 'kk'; retriever 'run' takes: path, run, dataset; the stage takes: k"),
        (('window = 20', 'windw = 20'), "", "pipelines.overlap.stages[1].windw: unknown key(s) 'windw'; scorer "
         "'term-overlap' takes: "),
        (('measures = ["nDCG@10", "RR@10", "AP"]', 'measures = ["nDCG@10", "RR@10", "AP", "nDGC@5"]'), "", "nDGC@5"),
        (('query_weight = 0.0', 'lowercase = "yes"'), "", "parameter 'lowercase' must be bool, got str 'yes'"),
        (('baseline = "bm25"', 'baseline = "bm26"'), "", "baseline 'bm26' is not a pipeline; pipelines: bm25, overlap, fused"),
        (('of = ["bm25", "overlap"]', 'of = ["bm25", "nope"]'), "", "pipelines.fused: 'of' names unknown pipeline 'nope'"),
        (("", ""), "\n[extra]\nx = 1\n", "unknown key(s) 'extra'"),
        (('test = "paired-t"', 'test = "anova"'), "", "test 'anova' is not one of paired-t, wilcoxon"),
    ],
)
def test_bad_configs_name_the_file_the_key_and_the_choices(tmp_path, rankkit_registry, data_root, replace, add, message):
    path = _experiment(tmp_path, extra=add)
    old, new = replace
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out", progress=False).run()
    assert str(path) in str(info.value)
    assert message in str(info.value)


FUSION_STAGE = """
[pipelines.fused-stage]
stages = [{ fusion = "rrf", of = [{ retriever = "run", run = "bm25", k = 100 },
                                  [{ retriever = "run", run = "bm25", k = 100 }, { scorer = "term-overlap", window = 20, query_weight = 0.0 }]] }]

[pipelines.fused-then-scored]
stages = [
  { fusion = "combsum", normalization = "zscore", weights = [0.7, 0.3], of = [
      { retriever = "run", run = "bm25", k = 100 },
      [{ retriever = "run", run = "bm25", k = 100 }, { scorer = "term-overlap", window = 20, query_weight = 0.0 }]] },
  { cutoff = 30 },
  { scorer = "term-overlap", window = 10, query_weight = 0.0 },
]
"""


def test_a_fusion_stage_equals_the_fusion_of_finished_pipelines_and_can_be_reranked(tmp_path, rankkit_registry, data_root):
    config = load_experiment(_experiment(tmp_path, extra=FUSION_STAGE))
    ExperimentRunner(config, rankkit_registry, tmp_path / "out", progress=False).run()
    runs = {name: read_run(tmp_path / "out" / "runs" / f"{name}.trec") for name in ("fused", "fused-stage", "fused-then-scored")}
    assert runs["fused-stage"] == runs["fused"]   # the same RRF, whether of finished runs or of stages
    scored = runs["fused-then-scored"]
    assert all(len(ranking) == 30 for ranking in scored.values())
    assert scored != runs["fused"]


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ('{ fusion = "rrf", of = [{ retriever = "run", run = "bm25" }] }', "stages[0].of: list at least two first stages"),
        ('{ fusion = "max", of = [{ retriever = "run", run = "bm25" }, { retriever = "run", run = "bm25" }] }',
         "stages[0].fusion: 'max' is not one of rrf, combsum"),
        ('{ fusion = "combsum", weights = [1.0], of = [{ retriever = "run", run = "bm25" }, { retriever = "run", run = "bm25" }] }',
         "weights must be a list of 2 finite numbers, one per fused stage"),
        ('{ fusion = "combsum", weights = [1.0, nan], of = [{ retriever = "run", run = "bm25" }, { retriever = "run", run = "bm25" }] }',
         "weights must be a list of 2 finite numbers"),
        ('{ fusion = "rrf", weights = [1, 1], of = [{ retriever = "run", run = "bm25" }, { retriever = "run", run = "bm25" }] }',
         "unknown key(s) 'weights'; valid keys: k, depth"),
        ('{ fusion = "rrf", of = [{ cutoff = 3 }, { retriever = "run", run = "bm25" }] }',
         "stages[0].of[0][0]: the first stage must be a retriever or a fusion of retrievers, got a cutoff"),
    ],
)
def test_bad_fusion_stages_are_config_errors_before_any_work(tmp_path, stage, message):
    path = tmp_path / "exp.toml"
    path.write_text(f'dataset = "trec-dl-2019"\n[pipelines.f]\nstages = [{stage}]\n')
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert f"{path}: pipelines.f.stages" in str(info.value) and message in str(info.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("dataset = \n")
    with pytest.raises(ConfigError, match=f"{path}: invalid TOML"):
        load_experiment(path)


def _parallel_mirror(root: Path) -> Path:
    """A mirror with one collection in two languages (same ids, shared qrels and first-stage run)."""
    texts = {"en": ["glacier ice cave", "river delta sediment", "protein folding"],
             "de": ["Gletscher Eishöhle", "Flussdelta Sediment", "Proteinfaltung"]}
    queries = {"en": ["ice cave glacier", "delta sediment"], "de": ["Eishöhle Gletscher", "Sediment Delta"]}
    for lang in texts:
        folder = root / "par" / lang
        folder.mkdir(parents=True)
        (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": t}) + "\n"
                                                     for i, t in enumerate(texts[lang])))
        (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": t}) + "\n"
                                                      for i, t in enumerate(queries[lang])))
    (root / "par" / "qrels").mkdir()
    (root / "par" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\n")
    (root / "par" / "qrels" / "other.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td2\t1\nq1\td1\t1\n")
    (root / "par" / "runs").mkdir()
    (root / "par" / "runs" / "first.trec").write_text("".join(
        f"q{q} Q0 d{d} {r + 1} {3 - r} first\n" for q in range(2) for r, d in enumerate((2, 1, 0))))
    return root


PARALLEL = """
dataset = "par/en"

[pipelines.en]
stages = [{ retriever = "run", run = "first", k = 3 }, { scorer = "term-overlap", window = 3, query_weight = 0.0 }]

[pipelines.en-de]
dataset = "par/en-de"
stages = [{ retriever = "run", run = "first", k = 3 }, { scorer = "term-overlap", window = 3, query_weight = 0.0 }]

[pipelines.de]
dataset = "par/de"
stages = [{ retriever = "run", run = "first", k = 3 }, { scorer = "term-overlap", window = 3, query_weight = 0.0 }]

[evaluation]
measures = ["RR"]   # trec_eval's tie order (ir-measures' RR@k provider breaks the all-zero ties of en-de otherwise)
baseline = "en-de"
"""


def test_pipelines_may_run_on_datasets_with_the_same_judgments(tmp_path, rankkit_registry, monkeypatch):
    monkeypatch.setenv("RANKKIT_DATA", str(_parallel_mirror(tmp_path / "mirror")))
    path = tmp_path / "exp.toml"
    path.write_text(PARALLEL)
    result = ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out", progress=False).run()
    # monolingual term overlap finds the relevant document; English queries on the German corpus cannot
    assert result.results["en"].aggregate["RR"] == 1.0 and result.results["de"].aggregate["RR"] == 1.0
    assert result.results["en-de"].aggregate["RR"] == pytest.approx((1 / 3 + 1) / 2)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["pipelines"]["de"]["dataset"] == "par/de" and "dataset" not in manifest["pipelines"]["en"]
    path.write_text(PARALLEL.replace('dataset = "par/de"', 'dataset = "par/de/other"'))
    with pytest.raises(ConfigError, match=r"pipelines.de.dataset: 'par/de/other' has other judgments"):
        ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out2", progress=False).run()


def test_settings_queries_runs_the_first_queries_only(tmp_path, rankkit_registry, data_root):
    path = _experiment(tmp_path, extra="")
    path.write_text(path.read_text().replace("[settings]\n", "[settings]\nqueries = 5\n"))
    result = ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out", progress=False).run()
    run = read_run(tmp_path / "out" / "runs" / "bm25.trec")
    assert len(run) == 5 and len(result.results["bm25"].per_query.query_id.unique()) == 5
    first = set(run)
    path.write_text(path.read_text().replace("queries = 5", "queries = 5\nquery_seed = 3"))
    ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out3", progress=False).run()
    sampled = read_run(tmp_path / "out3" / "runs" / "bm25.trec")
    assert len(sampled) == 5 and set(sampled) != first  # a spread sample, not the first five
    path.write_text(path.read_text().replace("queries = 5\nquery_seed = 3", "queries = -1"))
    with pytest.raises(ConfigError, match=r"\[settings\] queries must be a non-negative integer"):
        load_experiment(path)
    path.write_text(path.read_text().replace("queries = -1", "query_seed = 3"))
    with pytest.raises(ConfigError, match=r"query_seed must be a non-negative integer used with queries = N"):
        load_experiment(path)


class CountingReranker:
    """A reranker that keeps run statistics and traces (as LLM rerankers do)."""

    fingerprint = "counting-reranker"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def rerank(self, queries, rankings):
        self.seen.extend(q.query_id for q in queries)
        self.texts = all(r.texts is not None and len(r.texts) == len(r) for r in rankings)  # attached by the stage
        return list(rankings)

    def statistics(self) -> dict:
        return {"queries": len(self.seen), "texts": self.texts}

    def write_traces(self, path: Path) -> None:
        path.write_text("".join(json.dumps({"query_id": q}) + "\n" for q in self.seen))


def test_component_statistics_and_traces_land_beside_the_run(tmp_path, data_root):
    from rankkit.components import ComponentSpec
    from rankkit.hookspecs import hookimpl
    from rankkit.plugins import PluginSettings, load_plugins
    from rankkit.registry import Registry

    class Plugin:
        @hookimpl
        def rankkit_rerankers(self):
            return [ComponentSpec("reranker", "counting", CountingReranker, "counts")]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("counting", Plugin())]))
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "trec-dl-2019"\n[pipelines.counted]\n'
                    'stages = [{ retriever = "run", run = "bm25", k = 10 }, { reranker = "counting" }]\n')
    result = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    runs = tmp_path / "out" / "runs"
    assert json.loads((runs / "counted.json").read_text())["statistics"] == {"CountingReranker": {"queries": 43,
                                                                                                   "texts": True}}
    assert len((runs / "counted.traces.jsonl").read_text().splitlines()) == 43
    manifest = json.loads(result.manifest.read_text())
    assert manifest["pipelines"]["counted"]["statistics"]["CountingReranker"]["queries"] == 43
    again = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    assert again.outcomes["counted"].reused and again.outcomes["counted"].statistics["CountingReranker"]["queries"] == 43


def test_every_problem_is_reported_at_once_before_anything_is_written(tmp_path, rankkit_registry, data_root):
    path = _experiment(tmp_path)
    text = path.read_text().replace("window = 20", "windw = 20").replace('baseline = "bm25"', 'baseline = "bm25"\n')
    text += '\n[pipelines.third]\nstages = [{ retriever = "run", run = "bm25", k = 10 }, { scorer = "term-overlap", model = "train:nope" }]\n'
    path.write_text(text.replace('"nDCG@10" = 0.5058', '"nDCG@10" = 0.5058\n"P@5" = 0.1'))
    with pytest.raises(ConfigError) as info:
        ExperimentRunner(load_experiment(path), rankkit_registry, tmp_path / "out", progress=False).run()
    message = str(info.value)
    assert "3 problems found before any work (nothing was built, trained, run or written)" in message
    assert "pipelines.overlap.stages[1].windw" in message and "the stage takes: window, query_weight" in message
    assert "pipelines.third.stages[1].model: unknown key(s) 'model'" in message
    assert "[expected.bm25] 'P@5' is not among the measures evaluated" in message
    assert not (tmp_path / "out").exists()


def test_train_references_and_index_manifests_are_checked_before_any_work(tmp_path, rankkit_registry, data_root):
    from rankkit.experiment.validate import check_experiment

    path = tmp_path / "exp.toml"
    path.write_text('''dataset = "trec-dl-2019"
[train.ce]
trainer = "cross-encoder"
dataset = "trec-dl-2019"
first_stage = { retriever = "bm25", index = "no-such-index", k = 10 }
[train.ce.params]
base_model = "train:later"
epochs = "three"
[pipelines.p]
stages = [{ retriever = "run", run = "bm25", k = 10 }, { scorer = "cross-encoder", model = "train:ce", window = 5 }]
''')
    with pytest.raises(ConfigError) as info:
        check_experiment(load_experiment(path), rankkit_registry)
    message = str(info.value)
    assert "train.ce.first_stage[0].index: no index manifest 'no-such-index'" in message
    assert "train.ce.params: train:later: no [train.later] section before this one in the file" in message
    assert "parameter 'epochs' must be float, got str 'three'" in message
    assert "pipelines.p.stages[1]" not in message   # train:ce is defined before the pipeline: fine


def test_an_unknown_component_names_a_plugin_that_failed_to_load():
    from rankkit.plugins import PluginLoadFailure
    from rankkit.registry import Registry

    registry = Registry.load()
    registry._plugins.failures.append(PluginLoadFailure("broken", "rankkit-broken", ImportError("no module named x")))
    with pytest.raises(ConfigError, match="unknown scorer 'broken-scorer'.*plugin 'broken' \\(distribution "
                                          "rankkit-broken\\) failed to load: ImportError: no module named x"):
        registry.get("scorer", "broken-scorer")


class Killed(Exception):
    """Stands in for a kill in the middle of a run."""


class TracingReranker(CountingReranker):
    """Keeps per-query traces and summarizes them; dies at its ``die_at``-th batch (once, across instances)."""

    fingerprint = "tracing-reranker"
    die_at: list[int] = []

    def rerank(self, queries, rankings):
        if TracingReranker.die_at and len(self.seen) // 10 == TracingReranker.die_at[0]:
            TracingReranker.die_at.clear()
            raise Killed("killed mid-run")
        return super().rerank(queries, rankings)

    def traces(self) -> list[dict]:
        return [{"query_id": q, "pid": id(self)} for q in self.seen]

    @staticmethod
    def summarize(traces) -> dict:  # noqa: ANN001
        return {"queries": len(traces), "processes": len({t["pid"] for t in traces})}


def test_traces_and_statistics_of_a_resumed_run_cover_every_batch(tmp_path, data_root):
    from rankkit.components import ComponentSpec
    from rankkit.hookspecs import hookimpl
    from rankkit.plugins import PluginSettings, load_plugins
    from rankkit.registry import Registry
    from rankkit.trec import read_run

    class Plugin:
        @hookimpl
        def rankkit_rerankers(self):
            return [ComponentSpec("reranker", "tracing", TracingReranker, "traces")]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("tracing", Plugin())]))
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "trec-dl-2019"\n[settings]\nbatch_size = 10\n[pipelines.traced]\n'
                    'stages = [{ retriever = "run", run = "bm25", k = 10 }, { reranker = "tracing" }]\n')
    TracingReranker.die_at[:] = [3]      # batches 0, 1, 2 are checkpointed with their traces, then the run dies
    with pytest.raises(Killed):
        ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    result = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    assert result.outcomes["traced"].resumed_batches == 3
    runs = tmp_path / "out" / "runs"
    traces = [json.loads(line) for line in (runs / "traced.traces.jsonl").read_text().splitlines()]
    assert [t["query_id"] for t in traces] == list(read_run(runs / "traced.trec"))   # every query, in run order
    statistics = json.loads((runs / "traced.json").read_text())["statistics"]
    assert statistics == {"TracingReranker": {"queries": 43, "processes": 2}}      # both processes, no caveat
    assert not list((tmp_path / "out" / ".checkpoints").glob("traced.traces-*"))
    page = result.report.read_text()
    assert "<h2>Example traces</h2>" in page and "<h3>traced</h3>" in page   # the report shows the first queries


def test_the_report_shows_example_traces_with_the_chosen_candidate(tmp_path):
    from rankkit.evaluation.html import traces_section

    traces = {"rank-r1": [{"query_id": "q1", "query": "ice <caves>", "trace": [
        {"call": 1, "doc_ids": ["d1", "d2", "d3"], "chosen": "d2", "reasoning": "d2 mentions ice", "label": 2,
         "fallback_choice": None}]}]}
    html = traces_section(traces)
    assert '<span class="chosen">d2</span>' in html and "d1 " in html and "d2 mentions ice" in html
    assert "ice &lt;caves&gt;" in html and "label: 2" in html and "fallback_choice" not in html


def test_shards_merge_into_the_run_an_unsplit_experiment_gives(tmp_path, rankkit_registry, data_root):
    config = load_experiment(_experiment(tmp_path, batch=10))         # 43 queries: 5 batches
    for shard in ((1, 2), (2, 2)):
        part = ExperimentRunner(config, rankkit_registry, tmp_path / "split", progress=False, shard=shard).run()
        assert set(part.outcomes) == {"bm25", "overlap"} and not part.results   # no fusion, no evaluation
        assert not (tmp_path / "split" / "runs").exists()
    assert part.outcomes["overlap"].batches == 2                       # batches 1 and 3
    merged = ExperimentRunner(config, rankkit_registry, tmp_path / "split", progress=False).run()
    assert merged.outcomes["overlap"].resumed_batches == 5             # nothing left to compute
    whole = ExperimentRunner(config, rankkit_registry, tmp_path / "whole", progress=False).run()
    for name in ("bm25", "overlap", "fused"):
        assert (tmp_path / "split" / "runs" / f"{name}.trec").read_bytes() == \
            (tmp_path / "whole" / "runs" / f"{name}.trec").read_bytes()
    assert merged.results["overlap"].aggregate == whole.results["overlap"].aggregate
    assert not list((tmp_path / "split" / ".checkpoints").glob("*.shard-*"))
    with pytest.raises(ConfigError, match="shard must be i/n"):
        ExperimentRunner(config, rankkit_registry, tmp_path / "x", shard=(3, 2))
