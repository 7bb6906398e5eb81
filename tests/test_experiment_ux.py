"""What ``rankkit run`` tells its user: the report's description and pipelines, index outcomes and times, where an
interrupted run saved its progress, ``--no-progress`` silencing every bar, and no empty checkpoint folder left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rankkit.components import ComponentSpec, Param
from rankkit.experiment import ExperimentRunner, load_experiment
from rankkit.experiment.stages import parse_stage
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.progress import progress_bars, progress_enabled
from rankkit.registry import Registry
from rankkit.types import Ranking


class ToyIndexBuilder:
    """Writes the corpus' doc ids; says ``resumed`` when told to (as a builder that went on from earlier work)."""

    version = "1"

    def __init__(self, resumed: bool = False) -> None:
        self.resumed = resumed

    def build(self, dataset, target: Path) -> dict:
        ids = [d.doc_id for d in dataset.iter_documents()]
        (target / "ids.txt").write_text("\n".join(ids))
        return {"documents": len(ids), **({"resumed": True} if self.resumed else {})}


class ToyRetriever:
    """The index's first ``k`` documents for every query."""

    def __init__(self, index: str) -> None:
        self.ids = (Path(index) / "ids.txt").read_text().split("\n")

    def retrieve(self, queries, k: int) -> list[Ranking]:
        docs = np.array(self.ids[:k])
        return [Ranking(q.query_id, docs, np.arange(len(docs), 0, -1, dtype=np.float32)) for q in queries]


class StoppingScorer:
    """Scores by document length; raises KeyboardInterrupt (Ctrl-C) at its ``stop_at``-th call (``None``: never)."""

    stop_at: int | None = None
    calls = 0
    seen: list[tuple[bool, bool | None, bool | None]] = []

    def __init__(self, model: str = "") -> None:
        StoppingScorer.seen.append(progress_state())
        if model:  # loads a transformers model, as a cross-encoder does
            from transformers import BertModel

            BertModel.from_pretrained(model)

    def score(self, query: str, documents) -> np.ndarray:
        StoppingScorer.calls += 1
        if StoppingScorer.calls == StoppingScorer.stop_at:
            raise KeyboardInterrupt
        return np.array([len(d) for d in documents], dtype=np.float32)


class Plugin:
    @hookimpl
    def rankkit_index_builders(self):
        return [ComponentSpec("index_builder", "toy", ToyIndexBuilder, "doc ids", (Param("resumed", bool, False),))]

    @hookimpl
    def rankkit_retrievers(self):
        return [ComponentSpec("retriever", "toy", ToyRetriever, "first documents", (Param("index", str),))]

    @hookimpl
    def rankkit_scorers(self):
        return [ComponentSpec("scorer", "stopping", StoppingScorer, "length; stops", (Param("model", str, ""),))]


def progress_state() -> tuple[bool, bool | None, bool | None]:
    """rankkit's switch, transformers' and huggingface_hub's (``None`` when not installed)."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers = transformers_logging.is_progress_bar_enabled()
    except ImportError:
        transformers = None
    try:
        from huggingface_hub.utils import are_progress_bars_disabled

        hub = not are_progress_bars_disabled()
    except ImportError:
        hub = None
    return progress_enabled(), transformers, hub


@pytest.fixture
def registry() -> Registry:
    StoppingScorer.stop_at, StoppingScorer.calls, StoppingScorer.seen = None, 0, []
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("toy", Plugin())]))


EXPERIMENT = '''
description = """BM25 against a length reranker.
Which is better on TREC DL 2019?"""
dataset = "trec-dl-2019"

[settings]
batch_size = 5

[pipelines.bm25]
description = "the shipped BM25 run"
stages = [{ retriever = "run", run = "bm25", k = 100 }]

[pipelines.length]
stages = [{ retriever = "run", run = "bm25", k = 100 }, { scorer = "stopping", window = 20, query_weight = 0.0 },
          { cutoff = 50 }]

[pipelines.fused]
fusion = "rrf"
of = ["bm25", "length"]
k = 30

[evaluation]
measures = ["nDCG@10"]
baseline = "bm25"
'''


def _experiment(tmp_path: Path, text: str = EXPERIMENT) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_the_report_shows_the_description_and_every_pipelines_stages_with_their_parameters(tmp_path, registry, data_root):
    result = ExperimentRunner(load_experiment(_experiment(tmp_path)), registry, tmp_path / "out", progress=False).run()
    page = result.report.read_text()
    assert '<p class="description">BM25 against a length reranker.\nWhich is better on TREC DL 2019?</p>' in page
    assert "<h2>Pipelines</h2>" in page and "the shipped BM25 run" in page
    for line in ('retriever run (run = "bm25", k = 100)', "scorer stopping (window = 20, query_weight = 0.0)",
                 "cutoff 50", "fusion rrf (k = 30) of the runs of bm25, length"):
        assert f"<code>{line.replace(chr(34), '&quot;')}</code>" in page, line
    payload = json.loads((result.report.parent / "results.json").read_text())
    assert payload["description"].startswith("BM25 against") and payload["pipelines"]["length"]["stages"][2] == "cutoff 50"


def test_a_fusion_stage_is_described_with_what_it_fuses():
    from rankkit.experiment.reports import describe_stage

    stage = parse_stage({"fusion": "combsum", "normalization": "minmax", "of": [
        {"retriever": "bm25", "index": "scifact-bm25", "k": 1000}, [{"retriever": "dense", "k": 100}, {"cutoff": 10}]]},
        "exp.toml: pipelines.x.stages[0]")
    assert describe_stage(stage) == ('fusion combsum (normalization = "minmax") of [retriever bm25 (index = '
                                     '"scifact-bm25", k = 1000)] + [retriever dense (k = 100) >> cutoff 10]')


INDEXED = """
dataset = "trec-dl-2019"
[pipelines.toy]
stages = [{ retriever = "toy", index = "toy", k = 10 }]
[evaluation]
measures = ["nDCG@10"]
"""


def test_run_says_whether_each_index_was_built_reused_or_resumed_and_how_long_it_took(tmp_path, registry, data_root):
    (tmp_path / "indexes").mkdir()
    manifest = tmp_path / "indexes" / "toy.toml"
    manifest.write_text('dataset = "trec-dl-2019"\nbuilder = "toy"\n')
    path = _experiment(tmp_path, INDEXED)

    def said(output: str) -> str:
        runner = ExperimentRunner(load_experiment(path), registry, tmp_path / output, progress=False)
        runner.run()
        [line] = [m for m in runner.log if m.startswith("index toy: ") and m != "index toy: checking"]
        return line

    assert re.fullmatch(r"index toy: built in \d+\.\d s \(\d+ documents\): .+/indexes/toy", said("one"))
    assert re.fullmatch(r"index toy: reused, checked in \d+\.\d s \(built \d{4}-.+Z\): .+/indexes/toy", said("two"))
    manifest.write_text('dataset = "trec-dl-2019"\nbuilder = "toy"\n[params]\nresumed = true\n')
    assert re.fullmatch(r"index toy: resumed from earlier work, finished in \d+\.\d s \(\d+ documents\) "
                        r"\(rebuilt: changed: params\.resumed: false -> true\): .+",
                        said("three"))


def test_an_interrupted_run_says_where_its_progress_is_and_that_the_same_command_resumes(
        tmp_path, registry, data_root, caplog):
    path = _experiment(tmp_path)
    StoppingScorer.stop_at = 13  # in the third batch of 5 queries: two are checkpointed
    runner = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    checkpoints = tmp_path / "out" / ".checkpoints"
    message = f"interrupted: progress is saved in {checkpoints} "
    assert runner.log[-1].startswith(message) and runner.log[-1].endswith("run the same command again to resume from there")
    assert any(r.levelname == "WARNING" and r.getMessage() == runner.log[-1] for r in caplog.records)

    StoppingScorer.stop_at = None
    again = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False)
    again.run()
    assert "pipeline length: resuming, 2/9 query batches already done" in again.log
    assert not checkpoints.exists()


def test_a_run_interrupted_before_anything_was_saved_says_so(tmp_path, registry, data_root):
    StoppingScorer.stop_at = 1
    runner = ExperimentRunner(load_experiment(_experiment(tmp_path)), registry, tmp_path / "out", progress=False)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert runner.log[-1].startswith("interrupted before a query batch or training checkpoint was saved")
    assert "run the same command again" in runner.log[-1] and not (tmp_path / "out" / ".checkpoints").exists()


def test_ctrl_c_on_rankkit_run_prints_where_the_progress_is_saved(tmp_path, data_root):
    path = _experiment(tmp_path, EXPERIMENT.replace('scorer = "stopping"', 'scorer = "term-overlap", delay = 0.5'))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen([sys.executable, "-m", "rankkit.cli", "run", str(path), "--no-progress", "--no-cache", "-o",
                            str(tmp_path / "out")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    checkpoint = tmp_path / "out" / ".checkpoints" / "length.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (checkpoint.is_file() and len(checkpoint.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    output = run.communicate(timeout=120)[0]
    assert run.returncode != 0 and checkpoint.is_file(), output
    assert f"interrupted: progress is saved in {checkpoint.parent} " in output, output
    assert "run the same command again to resume from there" in output


def test_progress_bars_off_switches_off_rankkit_transformers_and_huggingface_hub_then_restores_them():
    pytest.importorskip("transformers")
    before = progress_state()
    assert before[0]
    with progress_bars(True):
        assert progress_state() == before
    with progress_bars(False):
        assert progress_state() == (False, False, False)
    assert progress_state() == before
    fresh = ("from rankkit.progress import progress_bars\n"  # transformers first imported while the hub's bars are off
             "with progress_bars(False):\n    pass\n"
             "from transformers.utils import logging\nfrom huggingface_hub.utils import are_progress_bars_disabled\n"
             "print(logging.is_progress_bar_enabled(), are_progress_bars_disabled())")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    result = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["True", "False"]


@pytest.fixture
def transformers_bars_on():
    """transformers' bars on (another test's conftest may have switched them off through the environment)."""
    pytest.importorskip("transformers")
    import warnings

    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HF_HUB_DISABLE_PROGRESS_BARS=1 keeps the hub's off: fine, it says so
        transformers_logging.enable_progress_bar()
        yield
        if not was_on:
            transformers_logging.disable_progress_bar()


def test_no_progress_silences_every_bar_model_loading_included(tmp_path, registry, data_root, capfd,
                                                               transformers_bars_on):
    from transformers import BertConfig, BertModel

    model = tmp_path / "model"
    with progress_bars(False):
        BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=16, max_position_embeddings=16)).save_pretrained(model)
    text = EXPERIMENT.replace('scorer = "stopping"', f'scorer = "stopping", model = "{model}"')
    path = _experiment(tmp_path, text)
    before = progress_state()
    capfd.readouterr()
    ExperimentRunner(load_experiment(path), registry, tmp_path / "quiet", progress=False).run()
    quiet = capfd.readouterr().err
    assert StoppingScorer.seen == [(False, False, False)] and progress_state() == before and before[1]
    assert "Loading weights" not in quiet and "it/s" not in quiet and "q/s" not in quiet, quiet

    ExperimentRunner(load_experiment(path), registry, tmp_path / "loud", progress=True).run()
    loud = capfd.readouterr().err
    assert "Loading weights" in loud and "length: 100%" in loud  # the control: the same run shows both bars


def test_no_empty_checkpoint_folder_is_left_when_a_run_finishes(tmp_path, registry, data_root):
    path = _experiment(tmp_path)
    ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False, shard=(1, 2)).run()
    assert any((tmp_path / "out" / ".checkpoints").iterdir())  # a shard's batches stay for the merging run
    ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    assert (tmp_path / "out" / "runs" / "length.trec").is_file() and not (tmp_path / "out" / ".checkpoints").exists()


class FailingResumableTrainer:
    """A resumable trainer that creates its checkpoint folder, then fails before its first checkpoint."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    def with_checkpoints(self, folder: Path) -> FailingResumableTrainer:
        self.folder = folder
        return self

    def train(self, dataset, output: Path, candidates=None) -> dict:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        raise KeyboardInterrupt


def test_no_empty_checkpoint_folder_is_left_when_a_training_ends(tmp_path, data_root):
    from rankkit.experiment.training import ensure_trained, load_trainings

    class TrainerPlugin:
        @hookimpl
        def rankkit_trainers(self):
            return [ComponentSpec("trainer", "failing", FailingResumableTrainer, "fails")]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("failing", TrainerPlugin())]))
    path = tmp_path / "train.toml"
    path.write_text('[train.weights]\ntrainer = "failing"\ndataset = "trec-dl-2019"\n')
    [training] = load_trainings(path).values()
    models = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(training, registry, models, [])
    assert list(models.iterdir()) == []  # no model, and no empty .checkpoints-weights-<key> folder
