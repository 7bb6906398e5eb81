"""rankkit-xling: scoring with composed adapters against the same model with the adapters merged.

Run from the repository root after the XQuAD experiments trained their adapters
(``rankkit run eval/xquad-xling-en-de.toml`` writes them to ``runs/xling-models``)::

    RANKKIT_DATA=/work/shared/datasets .venv/bin/python -m benchmarks.bench_xling
    .venv/bin/python -m benchmarks.bench_xling --models /tmp/xq-full/xling-models --pairs 128

Both sides are the ``xling`` scorer on the same backbone, ranking adapter,
document-language adapter, pairs (XQuAD English questions against their German
paragraphs), batch size and max_length: the composed side keeps the LoRA
adapters active (PEFT adds their low-rank products at every adapted matrix),
the merged side (``merge = true``) has them folded into the weights once
loaded. Target: composition costs at most 10 % (ratio <= 1.10). The two sides
must give the same scores, which is checked first. The composed sparse
fine-tunings cost nothing at inference (they are added into the weights) and
are not timed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, summary

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPO / "runs" / "xling-models",
                        help="folder of the trained adapters (ra, la-en, la-de-0)")
    parser.add_argument("--doc-lang", default="de")
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    os.environ.setdefault("RANKKIT_DATA", str(REPO.parent / "shared" / "datasets"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    if not (args.models / "ra" / "xling-adapter.json").is_file():
        raise SystemExit(f"no trained ranking adapter in {args.models}/ra; run eval/xquad-xling-en-de.toml first "
                         "(or pass --models)")
    import torch

    torch.set_num_threads(args.threads)
    from rankkit.datasets import resolve_dataset
    from rankkit.registry import Registry

    registry = Registry.load()
    dataset = resolve_dataset(f"xquad/en-{args.doc_lang}", registry)
    docs = {d.doc_id: d.text for d in dataset.iter_documents()}
    qrels = dataset.qrels().to_dict()
    pairs = [(q.text, docs[next(iter(qrels[q.query_id]))]) for q in dataset.queries()][: args.pairs]
    groups = [pairs[i : i + 16] for i in range(0, len(pairs), 16)]  # one query's top-16, as the reranker sends them
    library = [str(args.models / "la-en"), str(args.models / f"la-{args.doc_lang}-0")]  # one adapter: a fixed composition

    def scorer(merge: bool):  # noqa: ANN202
        return registry.build("scorer", "xling", ranking=str(args.models / "ra"), library=library,
                              doc_lang=args.doc_lang, merge=merge, batch_size=args.batch_size,
                              max_length=args.max_length, device="cpu")

    composed, merged = scorer(False), scorer(True)

    def run(model) -> np.ndarray:  # noqa: ANN001
        return np.concatenate([model.score(group[0][0], [d for _, d in group]) for group in groups])

    same = np.abs(run(composed) - run(merged)).max()
    print(f"xling benchmark: {len(pairs)} pairs (EN questions, {args.doc_lang.upper()} paragraphs), batch "
          f"{args.batch_size}, max_length {args.max_length}, torch threads {args.threads}; "
          f"max |composed - merged| score difference {same:.2e}")
    compare(f"score {len(pairs)} pairs: composed RA + LA (LoRA active) vs merged into the weights",
            lambda: run(composed), lambda: run(merged), args.repeats, target=1.10)
    print("\n" + summary())


if __name__ == "__main__":
    main()
