"""Training samples from a dataset's qrels and a first-stage run: positives from qrels, negatives mined from the run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rankkit.components import SkippedQueries, TrainingSample, judged_split, training_judgments
from rankkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)


@dataclass
class SampleSet(SkippedQueries):
    """The samples of one training run, their texts, and what was skipped (``skipped``, ``examples``).

    Attributes:
        samples: Pointwise (one document) or pairwise (relevant, non-relevant) samples.
        queries: Query text by id.
    """

    samples: list[TrainingSample] = field(default_factory=list)
    queries: dict[str, str] = field(default_factory=dict)

    def doc_ids(self) -> list[str]:
        """Every document the samples use, sorted."""
        return sorted({d for s in self.samples for d in s.doc_ids})


def build_samples(dataset: Dataset, candidates: Run | None, loss: str, negatives: int, seed: int,
                  exclude: set[str] | None = None, skip_top: int = 0, round_trip_k: int = 0) -> SampleSet:
    """Pointwise samples (each positive and ``negatives`` sampled negatives per query) or pairwise ones
    (each positive with ``negatives`` sampled negatives).

    Negatives are the candidates' documents that the qrels do not mark relevant; without candidates, the
    qrels' judged non-relevant documents. Queries without a positive or without a negative are skipped,
    counted and logged. Queries in ``exclude`` (held out for validation) are left out silently.

    Args:
        skip_top: Negatives come from below the first stage's top ``skip_top`` (a false-negative guard: the
            top of a ranking holds most of the relevant documents that no one judged).
        round_trip_k: Keep a query only when one of its positives is in the first stage's top ``round_trip_k``
            (round-trip consistency, for generated and pseudo-queries; 0: keep all). Skipped queries count
            as ``round_trip``.

    Raises:
        ConfigError: When the dataset has no qrels or no usable sample at all, or for a filter without
            candidates.
    """
    if (skip_top or round_trip_k) and candidates is None:
        raise ConfigError("skip_top and round_trip_k filter by first-stage rank: configure first_stage in the [train] section")
    judged = training_judgments(dataset)
    rng = np.random.default_rng(seed)
    out = SampleSet()
    for query in dataset.queries():
        if exclude and query.query_id in exclude:
            continue
        labels = judged.get(query.query_id, {})
        ranking = candidates.get(query.query_id) if candidates is not None else None
        positives, pool = judged_split(labels, ranking)
        if candidates is not None and ranking is None:
            pool = []
        if not positives:
            out.skip("no_positive", query.query_id)
            continue
        if round_trip_k and ranking is not None and not set(positives) & set(ranking.doc_ids[:round_trip_k].tolist()):
            out.skip("round_trip", query.query_id)
            continue
        if skip_top and ranking is not None:
            top = set(ranking.doc_ids[:skip_top].tolist())
            pool = [d for d in pool if d not in top]
        if not pool:
            out.skip("no_negative", query.query_id)
            continue
        out.queries[query.query_id] = query.text
        take = min(negatives, len(pool))
        if loss == "bce":
            chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=take, replace=False))]
            out.samples.extend(TrainingSample(query.query_id, (d,), (1,)) for d in positives)
            out.samples.extend(TrainingSample(query.query_id, (d,), (0,)) for d in chosen)
        else:
            for positive in positives:
                chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=take, replace=False))]
                out.samples.extend(TrainingSample(query.query_id, (positive, d), (1, 0)) for d in chosen)
    for reason, count in out.skipped.items():
        logger.warning("cross-encoder training: skipped %d queries (%s), e.g. %s", count, reason.replace("_", " "),
                       ", ".join(out.examples[reason]))
    if not out.samples:
        raise ConfigError(
            f"dataset {dataset.name!r}: no training samples (skipped: {out.skipped}); queries need a relevant "
            "document in the qrels and a negative from the first stage (configure first_stage in the [train] section)"
        )
    return out
