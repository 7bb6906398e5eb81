"""Calibration pairs for static int8 quantisation: (query, document) pairs drawn from a dataset, seeded.

Static quantisation fixes the int8 range of every activation from what the model computes on sample inputs,
so the samples should look like what the scorer will see: a query with its candidate documents. Half of the
pairs are a query with a document its qrels judge (relevant or not: the close calls a reranker makes), the
other half a query with a random corpus document (the easy negatives at the bottom of a window). The corpus
is streamed once; only the chosen documents' texts are kept.

The pairs must never be the ones being scored: name a training split of the collection (``wikiqa/train``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset

logger = logging.getLogger(__name__)

#: The seed of the calibration sample (recorded in the quantised model's key).
SEED = 0
#: Pairs per calibration batch (one forward pass of the calibration run).
BATCH = 16


def calibration_pairs(dataset: Dataset, count: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``count`` (query, document text) pairs of ``dataset``, half judged and half random, in seeded order.

    With fewer judged pairs than half (or no qrels), random pairs make up the rest.

    Raises:
        ConfigError: When the dataset has no queries or yields fewer than 16 pairs.
    """
    rng = np.random.default_rng(seed)
    queries = {q.query_id: q.text for q in dataset.queries()}
    if not queries:
        raise ConfigError(f"calibration dataset {dataset.name!r} has no queries; name a split with queries "
                          "(e.g. 'wikiqa/train')")
    qrels = dataset.qrels()
    judged = sorted(zip(qrels.query_ids.tolist(), qrels.doc_ids.tolist())) if qrels is not None else []
    judged = [(q, d) for q, d in judged if q in queries]
    chosen = [judged[i] for i in rng.permutation(len(judged))[: count // 2]]
    query_ids = sorted(queries)
    random_queries = [query_ids[i] for i in rng.integers(0, len(query_ids), size=count - len(chosen))]
    wanted = {d for _, d in chosen}
    texts, sample = _stream(dataset, wanted, len(random_queries), rng)
    pairs = [(queries[q], texts[d]) for q, d in chosen if d in texts]
    pairs += [(queries[q], text) for q, text in zip(random_queries, sample)]
    if len(pairs) < 16:
        raise ConfigError(f"calibration dataset {dataset.name!r} gives {len(pairs)} (query, document) pairs; "
                          "static-int8 needs at least 16: name a larger split")
    if len(pairs) < count:
        logger.warning("calibration dataset %s gives %d pairs of the %d asked for", dataset.name, len(pairs), count)
    return [pairs[i] for i in rng.permutation(len(pairs))]


def _stream(dataset: Dataset, wanted: set[str], size: int,
            rng: np.random.Generator) -> tuple[dict[str, str], list[str]]:
    """One pass over the corpus: the texts of ``wanted``, and a uniform sample of ``size`` texts (reservoir)."""
    texts: dict[str, str] = {}
    sample: list[str] = []
    for seen, doc in enumerate(dataset.iter_documents()):
        if doc.doc_id in wanted:
            texts[doc.doc_id] = doc.full_text
        if len(sample) < size:
            sample.append(doc.full_text)
        elif size:
            slot = int(rng.integers(0, seen + 1))
            if slot < size:
                sample[slot] = doc.full_text
    return texts, sample


def batches(pairs: Sequence[tuple[str, str]], tokenize: Any, size: int = BATCH) -> Iterator[dict[str, np.ndarray]]:
    """The model inputs of ``pairs``, ``size`` at a time, as ``tokenize`` (a list of pairs to arrays) makes them."""
    for start in range(0, len(pairs), size):
        yield tokenize(list(pairs[start : start + size]))


def data_reader(pairs: Sequence[tuple[str, str]], tokenize: Any) -> Any:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over the tokenized ``pairs``."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = batches(pairs, tokenize)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    return _Reader()
