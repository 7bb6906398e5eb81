"""A teacher cross-encoder for distillation (margin-MSE) and for dropping likely false negatives.

The teacher scores every (query, document) pair the samples use, once, before
training. Distillation (Hofstätter et al., 2020, "Improving Efficient Neural
Ranking Models with Cross-Architecture Knowledge Distillation") trains the
student on the teacher's margin ``t(q, d+) − t(q, d−)`` for each pairwise
sample. Denoising (RocketQA, Qu et al., 2021) drops the negatives that the
teacher scores at least as high as the query's positive: mined from the top of
a first stage, many of them are relevant documents nobody judged.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from rankkit_crossencoder.samples import SampleSet

logger = logging.getLogger(__name__)
Scores = dict[tuple[str, str], float]


def teacher_scores(score: object, samples: SampleSet, texts: dict[str, str]) -> Scores:
    """The teacher's score of every (query, document) pair in ``samples``.

    Args:
        score: The teacher's ``score(query, documents) -> scores`` (a :class:`CrossEncoderScorer`'s).
        samples: The training samples.
        texts: Document text by id.
    """
    from tqdm.auto import tqdm

    from rankkit.progress import progress_enabled

    by_query: dict[str, set[str]] = defaultdict(set)
    for sample in samples.samples:
        by_query[sample.query_id].update(sample.doc_ids)
    out: Scores = {}
    for query_id, doc_ids in tqdm(sorted(by_query.items()), desc="teacher scores", unit="query",
                                 disable=not progress_enabled()):
        ordered = sorted(doc_ids)
        values = np.asarray(score(samples.queries[query_id], [texts[d] for d in ordered]), dtype=np.float64)  # type: ignore[operator]
        out.update({(query_id, d): float(v) for d, v in zip(ordered, values)})
    return out


def denoise(samples: SampleSet, scores: Scores) -> int:
    """Drop, in place, the samples whose negative the teacher scores at least as high as the query's lowest-scored
    positive; returns how many were dropped. Pointwise and pairwise samples alike."""
    lowest: dict[str, float] = {}
    for sample in samples.samples:
        for doc_id, label in zip(sample.doc_ids, sample.labels):
            if label > 0:
                value = scores[(sample.query_id, doc_id)]
                lowest[sample.query_id] = min(lowest.get(sample.query_id, value), value)
    kept = [s for s in samples.samples
            if not any(label <= 0 and scores[(s.query_id, d)] >= lowest.get(s.query_id, np.inf)
                       for d, label in zip(s.doc_ids, s.labels))]
    dropped = len(samples.samples) - len(kept)
    samples.samples = kept
    logger.info("teacher denoising: dropped %d samples whose negative the teacher ranks above the positive", dropped)
    return dropped


def margins(samples: SampleSet, scores: Scores) -> list[float]:
    """The teacher's margin ``t(q, d+) − t(q, d−)`` of each pairwise sample."""
    return [scores[(s.query_id, s.doc_ids[0])] - scores[(s.query_id, s.doc_ids[1])] for s in samples.samples]
