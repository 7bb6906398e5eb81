"""Training sections: trainers get the first-stage run, models are reused, pipelines load them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rankkit.cli import build_cli
from rankkit.components import ComponentSpec, Param
from rankkit.errors import ConfigError
from rankkit.experiment import ExperimentRunner, load_experiment
from rankkit.experiment.training import ensure_trained, load_trainings
from rankkit.hookspecs import hookimpl
from rankkit.plugins import PluginSettings, load_plugins
from rankkit.registry import Registry


class TermWeightTrainer:
    """Learns, from the first-stage candidates, how often each query term occurs in relevant documents."""

    calls = 0

    def __init__(self, min_count: int = 1, prior: list[str] | None = None) -> None:
        self.min_count = min_count
        self.prior = prior or []

    def train(self, dataset, output: Path, candidates=None) -> dict:
        TermWeightTrainer.calls += 1
        qrels = dataset.qrels().to_dict()
        assert candidates is not None and set(candidates) == {q.query_id for q in dataset.queries()}
        counts: dict[str, int] = {}
        texts = {d.doc_id: d.full_text for d in dataset.iter_documents()}
        for query in dataset.queries():
            for doc in (texts[d] for d, r in qrels[query.query_id].items() if r > 0 and d in texts):
                for term in set(doc.lower().split()):
                    counts[term] = counts.get(term, 0) + 1
        for folder in self.prior:  # models of earlier sections, given as "train:NAME"
            for term, count in json.loads((Path(folder) / "weights.json").read_text()).items():
                counts[term] = counts.get(term, 0) + count
        weights = {t: c for t, c in counts.items() if c >= self.min_count}
        (output / "weights.json").write_text(json.dumps(weights))
        return {"terms": len(weights), "candidates": candidates.num_docs}


class WeightScorer:
    def __init__(self, model: str) -> None:
        self.weights = json.loads((Path(model) / "weights.json").read_text())

    def score(self, query, documents):
        return np.array([sum(self.weights.get(t, 0) for t in set(d.lower().split())) for d in documents], dtype=np.float32)


class Plugin:
    @hookimpl
    def rankkit_trainers(self):
        return [ComponentSpec("trainer", "term-weights", TermWeightTrainer, "term weights", (Param("min_count", int, 1), Param("prior", list, [])))]

    @hookimpl
    def rankkit_scorers(self):
        return [ComponentSpec("scorer", "term-weights", WeightScorer, "term weights", (Param("model", str),))]


@pytest.fixture
def registry() -> Registry:
    return Registry(load_plugins(PluginSettings(autoload=False), extra=[("weights", Plugin())]))


EXPERIMENT = """
dataset = "trec-dl-2019"

[train.weights]
trainer = "term-weights"
dataset = "trec-dl-2019"
first_stage = { retriever = "run", run = "bm25", k = 20 }
[train.weights.params]
min_count = 2

[pipelines.bm25]
stages = [{ retriever = "run", run = "bm25", k = 100 }]

[pipelines.weighted]
stages = [{ retriever = "run", run = "bm25", k = 100 }, { scorer = "term-weights", model = "train:weights", window = 10 }]

[evaluation]
measures = ["nDCG@10"]
"""


def test_trained_model_feeds_the_pipeline_and_is_reused(tmp_path, registry, data_root):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    TermWeightTrainer.calls = 0
    result = ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    stamp = json.loads((tmp_path / "out" / "models" / "weights" / "rankkit-train.json").read_text())
    assert stamp["stats"]["candidates"] == 43 * 20 and stamp["params"] == {"min_count": 2, "prior": []}
    assert result.results["weighted"].aggregate["nDCG@10"] != result.results["bm25"].aggregate["nDCG@10"]
    ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    assert TermWeightTrainer.calls == 1


def test_changed_parameters_retrain(tmp_path, registry, data_root):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    [training] = load_trainings(path).values()
    first = ensure_trained(training, registry, tmp_path / "models", [])
    path.write_text(EXPERIMENT.replace("min_count = 2", "min_count = 3"))
    [changed] = load_trainings(path).values()
    second = ensure_trained(changed, registry, tmp_path / "models", [])
    assert first.stamp["key"] != second.stamp["key"]
    assert second.stamp["stats"]["terms"] < first.stamp["stats"]["terms"]


def test_failed_training_leaves_no_model(tmp_path, registry, data_root, monkeypatch):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    [training] = load_trainings(path).values()

    def crash(self, dataset, output, candidates=None):
        (output / "partial.bin").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(TermWeightTrainer, "train", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(training, registry, tmp_path / "models", [])
    assert not (tmp_path / "models" / "weights").exists()
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('trainer = "term-weights"', 'trainer = "nope"', "train.weights.trainer: unknown trainer 'nope'"),
        ("min_count = 2", "min_cnt = 2", "unknown parameter(s) min_cnt"),
        ('model = "train:weights"', 'model = "train:other"', "no [train.other] section before this one in the file; trained models: weights"),
    ],
)
def test_bad_training_sections(tmp_path, registry, data_root, old, new, message):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.replace(old, new))
    with pytest.raises(ConfigError) as info:
        ExperimentRunner(load_experiment(path), registry, tmp_path / "out", progress=False).run()
    assert message in str(info.value) and str(path) in str(info.value)


def test_train_command(tmp_path, registry, data_root):
    path = tmp_path / "train.toml"
    path.write_text(EXPERIMENT.split("[pipelines.bm25]")[0].replace('dataset = "trec-dl-2019"\n\n[train', "[train", 1))
    result = CliRunner().invoke(build_cli(registry), ["train", str(path), "-o", str(tmp_path / "models")], obj=registry)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "weights" / "weights.json").is_file()
    bad = CliRunner().invoke(build_cli(registry), ["train", str(path), "--only", "x"], obj=registry)
    assert bad.exit_code == 1 and "has no section(s) ['x']" in bad.output


DEPENDENT = EXPERIMENT.split("[pipelines.bm25]")[0] + """
[train.more]
trainer = "term-weights"
dataset = "trec-dl-2019"
first_stage = { retriever = "run", run = "bm25", k = 20 }
[train.more.params]
min_count = 2
prior = ["train:weights"]
"""


def test_a_section_trains_on_an_earlier_ones_model(tmp_path, registry, data_root):
    path = tmp_path / "exp.toml"
    path.write_text(DEPENDENT)
    trainings = load_trainings(path)
    first = ensure_trained(trainings["weights"], registry, tmp_path / "models", [])
    more = ensure_trained(trainings["more"], registry, tmp_path / "models", [], trained={"weights": first})
    assert more.stamp["params"]["prior"] == [str(tmp_path / "models" / "weights")]
    prior = json.loads((first.path / "weights.json").read_text())
    both = json.loads((more.path / "weights.json").read_text())
    assert all(both[t] >= 2 * c for t, c in prior.items())
    # a retrained dependency retrains the dependent section, even with its own parameters unchanged
    path.write_text(DEPENDENT.replace("min_count = 2", "min_count = 3", 1))  # the first section's
    trainings = load_trainings(path)
    changed = ensure_trained(trainings["weights"], registry, tmp_path / "models", [])
    again = ensure_trained(trainings["more"], registry, tmp_path / "models", [], trained={"weights": changed})
    assert changed.stamp["key"] != first.stamp["key"] and again.stamp["key"] != more.stamp["key"]
    with pytest.raises(ConfigError, match=r"train.more.params.prior\[0\]: no \[train.weights\] section before this one"):
        ensure_trained(trainings["more"], registry, tmp_path / "other", [])


def test_train_command_trains_what_a_named_section_needs(tmp_path, registry, data_root):
    path = tmp_path / "train.toml"
    path.write_text(DEPENDENT.replace('dataset = "trec-dl-2019"\n\n[train', "[train", 1))
    result = CliRunner().invoke(build_cli(registry), ["train", str(path), "--only", "more", "-o", str(tmp_path / "m")],
                                obj=registry)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "weights" / "weights.json").is_file() and (tmp_path / "m" / "more" / "weights.json").is_file()


def test_experiments_naming_the_same_models_folder_share_trained_models(tmp_path, registry, data_root):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.replace("[train.weights]", '[settings]\nmodels = "shared-models"\n\n[train.weights]'))
    TermWeightTrainer.calls = 0
    ExperimentRunner(load_experiment(path), registry, tmp_path / "runs" / "one", progress=False).run()
    ExperimentRunner(load_experiment(path), registry, tmp_path / "runs" / "two", progress=False).run()
    assert TermWeightTrainer.calls == 1 and (tmp_path / "runs" / "shared-models" / "weights" / "weights.json").is_file()
    path.write_text(path.read_text().replace('"shared-models"', '"../elsewhere"'))
    with pytest.raises(ConfigError, match=r"\[settings\] models must be a folder name"):
        load_experiment(path)



class CheckpointingTrainer(TermWeightTrainer):
    """A term-weight trainer that offers ResumableTrainer: one checkpoint per query, resuming after those it finds."""

    #: The step at which the process "dies" (None: it does not).
    crash_at: int | None = None

    def __init__(self, min_count: int = 1, prior: list[str] | None = None) -> None:
        super().__init__(min_count, prior)
        self.folder: Path | None = None

    def with_checkpoints(self, folder: Path) -> CheckpointingTrainer:
        self.folder = folder
        return self

    def train(self, dataset, output: Path, candidates=None) -> dict:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        resumed_from = len(list(self.folder.glob("*.step")))
        for step in range(resumed_from, len(dataset.queries())):
            if step == self.crash_at:
                raise KeyboardInterrupt
            (self.folder / f"{step}.step").write_text("checkpoint")
        return {**super().train(dataset, output, candidates), "resumed_from": resumed_from}


def test_a_resumable_trainer_resumes_from_its_checkpoints_after_an_interruption(tmp_path, data_root, monkeypatch):
    from rankkit.components import ResumableTrainer

    built: list[CheckpointingTrainer] = []

    def factory(**params):
        built.append(CheckpointingTrainer(**params))
        return built[-1]

    class ResumablePlugin:
        @hookimpl
        def rankkit_trainers(self):
            return [ComponentSpec("trainer", "term-weights", factory, "term weights",
                                  (Param("min_count", int, 1), Param("prior", list, [])))]

    registry = Registry(load_plugins(PluginSettings(autoload=False), extra=[("weights", ResumablePlugin())]))
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    [training] = load_trainings(path).values()
    models = tmp_path / "models"
    models.mkdir()
    (models / ".checkpoints-weights-0123456789abcdef").mkdir()  # the section's, under an older key: deleted
    (models / ".checkpoints-weights-x-0123456789abcdef").mkdir()  # section "weights-x"'s: kept
    monkeypatch.setattr(CheckpointingTrainer, "crash_at", 10)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(training, registry, models, [])
    assert isinstance(built[0], ResumableTrainer) and not (models / "weights").exists()
    [folder] = [p for p in models.glob(".checkpoints-weights-*") if "weights-x" not in p.name]
    assert folder == built[0].folder and len(list(folder.glob("*.step"))) == 10
    assert (models / ".checkpoints-weights-x-0123456789abcdef").is_dir()

    monkeypatch.setattr(CheckpointingTrainer, "crash_at", None)  # run again: it resumes after the 10 queries
    model = ensure_trained(training, registry, models, [])
    assert built[1].folder == folder and model.stamp["stats"]["resumed_from"] == 10
    assert not folder.exists()  # the model is in place: its checkpoints are gone
    assert (models / "weights" / "weights.json").is_file()

    (folder / "0.step").parent.mkdir()
    (folder / "0.step").write_text("checkpoint")
    forced = ensure_trained(training, registry, models, [], force=True)  # force: afresh, whatever checkpoints exist
    assert forced.stamp["stats"]["resumed_from"] == 0 and built[2].folder == folder and not folder.exists()
