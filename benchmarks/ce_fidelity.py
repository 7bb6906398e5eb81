"""The cross-encoder benchmark's pairs, and the fidelity check a lossy lever passes before it is timed.

* :func:`candidates`: each test query's candidates, as a reranker receives them: WikiQA's candidate sentences
  (``candidates-test``), or SciFact's BM25 top ``depth`` (the ``scifact-bm25`` index of ``indexes/``, built once).
* :func:`timing_groups`: (query, documents) groups cycled to a number of pairs, for timing.
* :func:`fidelity`: a lossy lever (bfloat16, int8) against the raw fp32 model on the judged queries' full candidate
  lists: nDCG@10 (ir-measures) within a tolerance, and ranking agreement (mean per-query Kendall tau) above a floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.registry import Registry

#: The test split each collection's candidates come from.
COLLECTIONS = {"wikiqa": "wikiqa/test", "scifact": "beir-scifact/test"}
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Candidates:
    """One query's candidates, in first-stage order."""

    query_id: str
    query: str
    doc_ids: list[str]
    docs: list[str]


def evaluation_split(collection: str, registry: Registry) -> Dataset:
    """The test split whose queries ``collection``'s candidates belong to (:data:`COLLECTIONS`)."""
    from rankkit.datasets import resolve_dataset

    return resolve_dataset(COLLECTIONS[collection], registry)


def candidates(collection: str, dataset: Dataset, registry: Registry, depth: int = 100) -> list[Candidates]:
    """Every query's candidates in ``dataset`` (:func:`evaluation_split`): WikiQA's candidate run, or SciFact's
    BM25 top ``depth``."""
    from rankkit.trec import read_run

    store = dataset.doc_store()
    queries = list(dataset.queries())
    if collection == "wikiqa":
        rankings = list(read_run(dataset.run_files()["candidates-test"]).rankings())
    else:
        from rankkit.indexes import IndexManifest, ensure_index

        index = ensure_index(IndexManifest.load(ROOT / "indexes" / "scifact-bm25.toml"), registry)
        retriever = registry.build("retriever", "bm25", index=str(index.path), k1=0.9, b=0.4)
        rankings = retriever.retrieve(queries, depth)
    texts = {q.query_id: q.text for q in queries}
    return [Candidates(r.query_id, texts[r.query_id], r.doc_ids.tolist(), store.get_many(r.doc_ids.tolist()))
            for r in rankings]


def timing_groups(all_candidates: Sequence[Candidates], pairs: int) -> list[tuple[str, list[str]]]:
    """(query, documents) groups from the candidates, cycled until ``pairs`` pairs (a cycle's queries get a
    distinct suffix, so no cache could serve a repeat)."""
    groups, total, cycle = [], 0, 0
    while total < pairs:
        for c in all_candidates:
            docs = c.docs[: pairs - total]
            groups.append((c.query + ("" if cycle == 0 else f" ({cycle})"), docs))
            total += len(docs)
            if total >= pairs:
                break
        cycle += 1
    return groups


def judged(dataset: Dataset, all_candidates: Sequence[Candidates], limit: int = 0
           ) -> tuple[list[Candidates], dict[str, dict[str, int]]]:
    """The candidates of the queries with at least one relevant candidate (the first ``limit``; 0: all), and
    ``dataset``'s qrels."""
    from rankkit.evaluation.evaluate import qrels_to_ir_measures

    qrels = qrels_to_ir_measures(dataset.qrels())
    kept = [c for c in all_candidates
            if any(qrels.get(c.query_id, {}).get(d, 0) > 0 for d in c.doc_ids)]
    return (kept[:limit] if limit else kept), qrels


Scores = Callable[[list[tuple[str, list[str]]]], list[np.ndarray]]


def fidelity(lever: str, lossy: Scores, expected: list[np.ndarray], queries: Sequence[Candidates],
             qrels: dict[str, dict[str, int]], ndcg_tolerance: float, tau_floor: float) -> tuple[bool, str]:
    """Whether ``lossy`` ranks ``queries``' candidates as the raw fp32 model does (its scores: ``expected``):
    nDCG@10 within ``ndcg_tolerance`` and mean per-query Kendall tau >= ``tau_floor``. Prints what it measured.

    Returns:
        Whether both hold, and the agreement line for the benchmark table.
    """
    import ir_measures
    from scipy.stats import kendalltau

    got = lossy([(c.query, c.docs) for c in queries])
    taus = [kendalltau(g, r).statistic for g, r in zip(got, expected) if len(r) > 1]
    taus = [t for t in taus if t == t]   # a query whose raw scores all tie has no tau
    top = [np.array_equal(np.argsort(-g, kind="stable")[:10], np.argsort(-r, kind="stable")[:10])
           for g, r in zip(got, expected)]
    diff = max(float(np.max(np.abs(g - r))) for g, r in zip(got, expected) if len(r))
    judged_qrels = {c.query_id: qrels[c.query_id] for c in queries}
    ndcg = {}
    for side, scores in (("raw", expected), ("lossy", got)):
        run = {c.query_id: dict(zip(c.doc_ids, map(float, s))) for c, s in zip(queries, scores)}
        ndcg[side] = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], judged_qrels, run)[ir_measures.nDCG @ 10]
    delta, tau = ndcg["lossy"] - ndcg["raw"], float(np.mean(taus))
    ok = abs(delta) <= ndcg_tolerance and tau >= tau_floor
    pairs = sum(len(c.docs) for c in queries)
    print(f"{lever}: fidelity against raw fp32 predict on {len(queries)} judged queries ({pairs} pairs): "
          f"nDCG@10 {ndcg['lossy']:.4f} against {ndcg['raw']:.4f} ({delta:+.4f}, tolerance {ndcg_tolerance}); "
          f"Kendall tau mean {tau:.4f} (min {np.min(taus):.4f}, floor {tau_floor}); same top-10 "
          f"order {np.mean(top):.3f}; max |score diff| {diff:.3g}: {'agrees' if ok else 'REFUSED'}", flush=True)
    return ok, f"nDCG@10 {delta:+.4f} on {len(queries)} q, tau {tau:.3f}"
