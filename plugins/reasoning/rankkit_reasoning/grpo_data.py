"""GRPO prompts from a dataset's training qrels and a first-stage run: one positive and N negatives per query.

Each training query with a relevant document and enough non-relevant
first-stage candidates gives one prompt (Rank-R1): one of its relevant
documents, drawn with the seed, and ``negatives`` of its candidates that the
qrels do not mark relevant, drawn with the seed, shown in a seeded random order
with labels ``[1]``, ``[2]``... Passages are cut to ``passage_tokens`` of the
model's tokenizer, and the messages are the ones inference uses
(:func:`rankkit_reasoning.prompts.build_messages`), so the model is trained on
exactly the prompt it is evaluated with.

Rows are TRL conversational prompts with the columns the reward functions read
(``n``, ``relevant``) and what a sample weighter needs (``query_id``,
``doc_ids``, ``grades``). Queries that give no prompt are counted by reason,
logged, and reported in the trainer's statistics, never dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import SkippedQueries, TrainingSample, judged_split, training_judgments
from rankkit.errors import ConfigError
from rankkit_reasoning.prompts import SYSTEM_PROMPT, Tokenizer, build_messages, truncate_passage

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)
#: Why a query gave no prompt.
SKIP_REASONS = ("no_positive", "not_in_candidates", "too_few_negatives")


@dataclass
class PromptSet(SkippedQueries):
    """The prompts of one training run and what was skipped (``skipped``, ``examples``; see :data:`SKIP_REASONS`).

    Attributes:
        rows: One dict per prompt: ``prompt`` (system and user messages), ``query_id``, ``doc_ids`` (in label
            order), ``grades`` (their qrels grades, 0 when unjudged), ``relevant`` (1-based labels of the
            relevant passages) and ``n`` (passages shown).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)


def training_sample(row: dict[str, Any]) -> TrainingSample:
    """The :class:`~rankkit.components.TrainingSample` of a prompt row: relevant documents first, then the rest.

    The documents keep their label order within each part; this is the order
    in which sample weighters read listwise samples (relevant, then non-relevant).
    """
    pairs = list(zip(row["doc_ids"], row["grades"]))
    ordered = [p for p in pairs if p[1] > 0] + [p for p in pairs if p[1] <= 0]
    return TrainingSample(str(row["query_id"]), tuple(str(d) for d, _ in ordered), tuple(int(g) for _, g in ordered))


def build_prompts(dataset: Dataset, candidates: Run | None, tokenizer: Tokenizer | None, negatives: int,
                  passage_tokens: int, seed: int, system: str = SYSTEM_PROMPT) -> PromptSet:
    """One prompt per usable training query: a relevant document and ``negatives`` non-relevant ones, shuffled.

    Negatives are the query's first-stage candidates that the qrels do not
    mark relevant; without candidates, its judged non-relevant documents.

    Args:
        dataset: Queries, qrels and the corpus (texts come from its doc store).
        candidates: The first-stage run over the training queries.
        tokenizer: The model's tokenizer, to cut passages (``None``: count words).
        negatives: Non-relevant passages per prompt.
        passage_tokens: Each passage is cut to this many tokens.
        seed: Seeds which positive and negatives are drawn and their order.
        system: The system prompt.

    Raises:
        ConfigError: When the dataset has no qrels, or no query gives a prompt (naming the reasons).
    """
    if negatives < 1:
        raise ConfigError(f"negatives must be at least 1, got {negatives}")
    judged = training_judgments(dataset)
    rng = np.random.default_rng(seed)
    out = PromptSet()
    plans: list[tuple[str, str, list[str], dict[str, int]]] = []
    for query in dataset.queries():
        labels = judged.get(query.query_id, {})
        ranking = candidates.get(query.query_id) if candidates is not None else None
        positives, pool = judged_split(labels, ranking)
        if not positives:
            out.skip("no_positive", query.query_id)
            continue
        if candidates is not None and ranking is None:
            out.skip("not_in_candidates", query.query_id)
            continue
        if len(pool) < negatives:
            out.skip("too_few_negatives", query.query_id)
            continue
        positive = positives[int(rng.integers(len(positives)))]
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=negatives, replace=False))]
        shown = [positive, *chosen]
        shown = [shown[i] for i in rng.permutation(len(shown))]
        plans.append((query.query_id, query.text, shown, labels))
    for reason, count in out.skipped.items():
        logger.warning("rank-r1 GRPO: skipped %d queries (%s), e.g. %s", count, reason.replace("_", " "),
                       ", ".join(out.examples[reason]))
    if not plans:
        raise ConfigError(
            f"dataset {dataset.name!r}: no GRPO prompts (skipped: {out.skipped}); each query needs a relevant document "
            f"in the qrels and at least {negatives} non-relevant first-stage candidates (configure first_stage in the "
            "[train] section with a larger k, or lower negatives)"
        )
    ids = sorted({d for _, _, shown, _ in plans for d in shown})
    texts = dict(zip(ids, dataset.doc_store().get_many(ids)))
    cut: dict[str, str] = {}
    for query_id, text, shown, labels in plans:
        passages = [cut[d] if d in cut else cut.setdefault(d, truncate_passage(texts[d], passage_tokens, tokenizer))
                    for d in shown]
        grades = [int(labels.get(d, 0)) for d in shown]
        out.rows.append({
            "prompt": build_messages(text, passages, system), "query_id": query_id, "doc_ids": shown,
            "grades": grades, "relevant": [i for i, g in enumerate(grades, 1) if g > 0], "n": len(shown),
        })
    return out
