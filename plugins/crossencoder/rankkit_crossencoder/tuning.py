"""Interpolation with the first stage, tuned on validation queries held out of the training data.

The trainer sets aside a seeded share of its training queries (never the test
queries: only the training dataset is seen here), trains on the rest, then
scores the held-out queries' first-stage windows with the trained model and
picks, on a grid, the weight ``a`` of

    score = a * norm(first stage) + (1 - a) * norm(cross-encoder)

that maximises the validation measure (ir-measures), with ``norm`` the
per-query normalisation of :func:`rankkit.fusion.normalize_scores`. The choice
and the whole grid are saved with the model; a scorer stage with
``interpolation = "tuned"`` uses them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import judged_split, training_judgments
from rankkit.rescore import RescoreSettings, apply_rescore
from rankkit.types import Run

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset

logger = logging.getLogger(__name__)
#: The weights of the first stage tried (the cross-encoder gets 1 - a).
GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 21))


def carve_validation(dataset: Dataset, candidates: Run | None, fraction: float, seed: int) -> list[str]:
    """A seeded ``fraction`` of the training queries that can be evaluated (a positive, and a first-stage ranking).

    Returns:
        The held-out query ids, sorted (empty when ``fraction`` is 0).
    """
    if fraction <= 0:
        return []
    judged = training_judgments(dataset)
    usable = [q.query_id for q in dataset.queries()
              if judged_split(judged.get(q.query_id, {}), None)[0] and candidates is not None and candidates.get(q.query_id)]
    count = max(1, int(round(fraction * len(usable))))
    rng = np.random.default_rng(seed + 7919)  # its own stream: the training's negatives do not move with it
    return sorted(usable[i] for i in rng.choice(len(usable), size=min(count, len(usable)), replace=False))


def tune_interpolation(score: Callable[[str, list[str]], np.ndarray], dataset: Dataset, candidates: Run,
                       held_out: Sequence[str], window: int, normalization: str, measure: str) -> dict[str, Any]:
    """Score the held-out queries' windows and pick the first-stage weight that maximises ``measure``.

    Args:
        score: The trained model's ``(query, texts) -> scores``.
        dataset: The training dataset (queries, qrels, documents).
        candidates: Its first-stage run.
        held_out: The validation query ids.
        window: How many first-stage documents are rescored.
        normalization: ``minmax`` or ``zscore`` (per query, both sides).
        measure: The ir-measures measure to maximise.

    Returns:
        ``query_weight``, ``rescore_query_weight``, ``normalization``, ``measure``, ``value`` (at the choice),
        ``cross_encoder_only`` and ``first_stage_only`` (the grid's ends), ``validation_queries`` and ``grid``.
    """
    from rankkit.evaluation.evaluate import Evaluator

    texts = {q.query_id: q.text for q in dataset.queries()}
    docs = dataset.doc_store()
    rankings = [candidates[query_id] for query_id in held_out]
    scores = [np.asarray(score(texts[q], docs.get_many(r.top(window).doc_ids.tolist())), dtype=np.float64)
              for q, r in zip(held_out, rankings)]
    qrels = dataset.qrels().restrict(held_out)  # type: ignore[union-attr]
    evaluator = Evaluator(qrels, measure)
    grid = []
    for a in GRID:
        settings = RescoreSettings(window, a, round(1.0 - a, 2), "total", normalization)
        run = Run([apply_rescore(r, s, settings) for r, s in zip(rankings, scores)], name=f"a={a}")
        grid.append((a, float(evaluator.evaluate(run).aggregate[measure])))
    best_a, best = max(grid, key=lambda point: (point[1], -abs(point[0] - 0.5)))  # ties: the more balanced weight
    logger.info("cross-encoder tuning: %s on %d held-out training queries: %.4f with first-stage weight %.2f "
                "(cross-encoder alone %.4f, first stage alone %.4f)", measure, len(held_out), best, best_a, grid[0][1], grid[-1][1])
    return {"query_weight": best_a, "rescore_query_weight": round(1.0 - best_a, 2), "normalization": normalization,
            "measure": measure, "value": best, "cross_encoder_only": grid[0][1], "first_stage_only": grid[-1][1],
            "validation_queries": len(held_out), "window": window, "grid": grid}


def plot_tuning(folder: Path, tuning: dict[str, Any]) -> Path:
    """``interpolation.png``: the validation measure against the first stage's weight, the choice marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    xs, ys = zip(*tuning["grid"])
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(xs, ys, marker=".")
    axis.axvline(tuning["query_weight"], color="grey", linestyle="--", label=f"chosen: {tuning['query_weight']:.2f}")
    axis.set_xlabel("first-stage weight a (cross-encoder: 1 - a)")
    axis.set_ylabel(f"{tuning['measure']} ({tuning['validation_queries']} held-out queries)")
    axis.legend()
    figure.tight_layout()
    path = folder / "interpolation.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
