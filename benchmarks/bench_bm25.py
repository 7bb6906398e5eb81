"""rankkit-bm25 against raw Pyserini, in one process: batch retrieval and indexing on BEIR SciFact.

Run from the repository root (needs ``pip install -e plugins/bm25`` and the mirror)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_bm25
    .venv/bin/python -m benchmarks.bench_bm25 --repeats 2 --no-bm25s      # quicker

Retrieval: ``Bm25Retriever.retrieve`` (300 test queries, top-1000, same
threads) against ``LuceneSearcher.batch_search`` plus reading each hit's doc id
and score (what any user of the raw results must do). Indexing, both sides
from the dataset's ``corpus.jsonl``: rankkit's builder (conversion + Anserini)
against a plain Python conversion to a JSON collection plus Anserini's
``IndexCollection`` called the way ``python -m pyserini.index.lucene`` calls
it, and against ``IndexCollection`` reading ``corpus.jsonl`` itself with
``BeirFlatCollection``; both indexes' Lucene statistics are compared first. A
reference line times the raw side on a collection prepared beforehand.
``bm25s``, when installed, is printed as a reference point (different
tokenisation, so different scores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="beir-scifact")
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-bm25s", action="store_true", help="skip the bm25s reference point")
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))

    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry

    registry = Registry.load()
    dataset = resolve_dataset(args.dataset, registry)
    queries = dataset.queries()
    work = Path(tempfile.mkdtemp(prefix="bench-bm25-"))
    try:
        index = bench_indexing(registry, dataset, work, args)
        bench_retrieval(registry, dataset, queries, index, args)
        if not args.no_bm25s:
            bench_bm25s(dataset, queries, args.k)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n" + summary())


def bench_indexing(registry, dataset, work: Path, args) -> Path:  # noqa: ANN001
    """rankkit's builder against Anserini's ``IndexCollection``, both from the dataset's ``corpus.jsonl``."""
    from rankkit_bm25 import _jvm
    from rankkit_bm25.builder import write_collection

    builder = registry.build("index_builder", "bm25", threads=args.threads)
    builder.progress = False
    collection = work / "collection"
    collection.mkdir()
    documents = write_collection(dataset.iter_documents(), collection, args.threads, progress=False)
    index_args = builder.collection_args()
    counter = iter(range(1_000_000))
    corpus = getattr(dataset, "corpus_path", None)

    def rankkit_build() -> Path:
        target = work / f"rk-{next(counter)}"
        target.mkdir()
        builder.build(dataset, target)
        return target

    def raw_index(collection_dir: Path, extra: list[str] | None = None) -> Path:
        target = work / f"raw-{next(counter)}"
        jargs = ["-input", str(collection_dir), "-index", str(target), *(extra or index_args)]
        _jvm.autoclass("io.anserini.index.IndexCollection").main(jargs)
        return target

    def raw_convert_and_index() -> Path:   # what a raw Pyserini user writes: corpus.jsonl -> JsonCollection
        folder = work / f"raw-collection-{next(counter)}"
        folder.mkdir()
        with open(corpus, encoding="utf-8") as source, open(folder / "docs.jsonl", "w", encoding="utf-8") as out:
            for line in source:
                doc = json.loads(line)
                title, text = doc.get("title") or "", doc.get("text") or ""
                out.write(json.dumps({"id": doc["_id"], "contents": f"{title} {text}" if title else text},
                                     ensure_ascii=False) + "\n")
        return raw_index(folder)

    rankkit_build(), raw_index(collection)  # warm the JVM
    if corpus is not None:
        timing = compare(f"index {dataset.name} from corpus.jsonl ({documents} docs, {args.threads} threads): "
                         "rankkit vs a Python conversion + IndexCollection", rankkit_build, raw_convert_and_index,
                         args.repeats, same=same_index)
        print(f"  indexing docs/s: rankkit {documents / timing.rankkit_s:,.0f}  raw {documents / timing.raw_s:,.0f} "
              "(conversion included on both sides)")
        beir_input = work / "beir"   # Pyserini's BEIR regressions index corpus.jsonl itself, with BeirFlatCollection
        beir_input.mkdir()
        (beir_input / "corpus.jsonl").symlink_to(corpus)
        flat_args = ["-collection", "BeirFlatCollection", *index_args[2:]]
        flat = compare(f"index {dataset.name} from corpus.jsonl: rankkit vs BeirFlatCollection", rankkit_build,
                       lambda: raw_index(beir_input, flat_args), args.repeats, same=same_index)
        print(f"  indexing docs/s: raw Anserini BeirFlatCollection {documents / flat.raw_s:,.0f}")
    compare(f"reference: index {dataset.name}, rankkit (conversion included) vs IndexCollection of a collection "
            "prepared beforehand", rankkit_build, lambda: raw_index(collection), args.repeats, target=None,
            same=same_index)
    return rankkit_build()


def same_index(rankkit_index: Path, raw_index: Path) -> bool:
    """Whether both indexes hold the same documents and terms (Lucene's statistics: documents, non-empty documents,
    total terms, and unique terms where both indexes know it: Lucene reports -1 for an index of several segments),
    printed."""
    from pyserini.index.lucene import LuceneIndexReader

    stats = [LuceneIndexReader(str(path / "lucene" if (path / "lucene").is_dir() else path)).stats()
             for path in (rankkit_index, raw_index)]
    print(f"  index statistics: rankkit {stats[0]}  raw {stats[1]}")
    known = [key for key in stats[0].keys() | stats[1].keys()
             if stats[0].get(key, -1) >= 0 and stats[1].get(key, -1) >= 0]
    return "total_terms" in known and all(stats[0][key] == stats[1][key] for key in known)


def bench_retrieval(registry, dataset, queries, index: Path, args) -> None:  # noqa: ANN001
    retriever = registry.build("retriever", "bm25", index=str(index), threads=args.threads)
    retriever.retrieve(queries[:5], 10)  # opens the index, starts the JVM

    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(index / "lucene"))
    searcher.set_bm25(0.9, 0.4)
    texts = [q.text for q in queries]
    qids = [q.query_id for q in queries]

    def rankkit_fn():  # noqa: ANN202
        return retriever.retrieve(queries, args.k)

    def raw_fn():  # noqa: ANN202
        results = searcher.batch_search(texts, qids, k=args.k, threads=args.threads)
        return {qid: ([h.docid for h in hits], [h.score for h in hits]) for qid, hits in results.items()}

    def same(rankings, raw) -> bool:  # noqa: ANN001
        """The same documents with the same scores for every query (ties ordered as trec_eval does on our side)."""
        return all(sorted(zip(r.doc_ids.tolist(), np.round(r.scores, 4).tolist()))
                   == sorted(zip(raw[r.query_id][0], np.round(np.asarray(raw[r.query_id][1], np.float32), 4).tolist()))
                   for r in rankings)

    rankkit_fn(), raw_fn()  # JIT warm-up
    timing = compare(
        f"retrieve {len(queries)} queries top-{args.k} ({args.threads} threads)", rankkit_fn, raw_fn, args.repeats,
        same=same,
    )
    print(f"  queries/s: rankkit {len(queries) / timing.rankkit_s:.1f}  raw pyserini {len(queries) / timing.raw_s:.1f}")
    compare(f"reference: retrieve {len(queries)} queries, rankkit vs raw batch_search alone (hits left as Java "
            "objects, never read)", rankkit_fn,
            lambda: searcher.batch_search(texts, qids, k=args.k, threads=args.threads), args.repeats, target=None)


def bench_bm25s(dataset, queries, k: int) -> None:  # noqa: ANN001
    try:
        import bm25s
    except ImportError:
        print("bm25s not installed; skipped (pip install bm25s)")
        return
    try:
        import Stemmer  # PyStemmer

        stemmer = Stemmer.Stemmer("english")
    except ImportError:
        stemmer = None
    docs = list(dataset.iter_documents())
    start = time.perf_counter()
    tokens = bm25s.tokenize([d.full_text for d in docs], stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25(k1=0.9, b=0.4)
    model.index(tokens, show_progress=False)
    indexed = time.perf_counter() - start
    start = time.perf_counter()
    query_tokens = bm25s.tokenize([q.text for q in queries], stopwords="en", stemmer=stemmer, show_progress=False)
    results, scores = model.retrieve(query_tokens, k=min(k, len(docs)), show_progress=False, n_threads=2)
    retrieved = time.perf_counter() - start
    ids = [d.doc_id for d in docs]
    run = {q.query_id: [(ids[i], float(s)) for i, s in zip(row, srow)] for q, row, srow in zip(queries, results, scores)}
    quality = _ndcg10(dataset, run)
    print(
        f"bm25s {bm25s.__version__} reference (stemmer: {'PyStemmer english' if stemmer else 'none'}): "
        f"index {len(docs) / indexed:,.0f} docs/s, retrieve {len(queries) / retrieved:.1f} q/s, nDCG@10 {quality:.4f}"
    )


def _ndcg10(dataset, run: dict) -> float:  # noqa: ANN001
    import ir_measures
    from ir_measures import nDCG

    scored = [ir_measures.ScoredDoc(q, d, s) for q, hits in run.items() for d, s in hits]
    return ir_measures.calc_aggregate([nDCG @ 10], dataset.qrels().to_ir_measures(), scored)[nDCG @ 10]


if __name__ == "__main__":
    main()
