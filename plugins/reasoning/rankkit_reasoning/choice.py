"""Held-out choice accuracy: how often a setwise model names a relevant passage, on prompts it never trained on.

The GRPO trainer sets aside ``held_out`` of its prompts (one per query, drawn
with the seed) before training and asks the model to choose on each of them
with greedy decoding under :class:`~rankkit_reasoning.constrained.AnswerConstraint`
(so every call answers), once before training (zero-shot: the LoRA adapter is
still the identity) and once after. :func:`choice_summary` gives the accuracy
with its Wilson 95 % interval, the chance rate (the mean of 1 / passages
shown, or relevant / shown when a prompt has several relevant passages), a
one-sided binomial test against chance and how often each label was chosen
(position bias); :func:`compare_choices` tests after against before with an
exact McNemar test on the paired outcomes (statsmodels).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankkit_reasoning.parsing import parse_answer


@dataclass(frozen=True)
class Choices:
    """One model's answers on a set of prompts, in prompt order.

    Attributes:
        labels: The chosen label per prompt (``None`` when the completion did not parse).
        correct: 1 when the chosen passage is relevant, else 0.
        counts: The passages each prompt showed.
        relevant: How many of them are relevant.
        seconds: Wall time of the generation.
        tokens: Completion tokens generated in all.
    """

    labels: list[int | None]
    correct: list[int]
    counts: list[int]
    relevant: list[int]
    seconds: float
    tokens: int


def split_held_out(rows: Sequence[dict[str, Any]], count: int, seed: int) -> tuple[list[dict[str, Any]],
                                                                                 list[dict[str, Any]]]:
    """``rows`` split into (training rows, ``count`` held-out rows), the held-out rows drawn with ``seed``.

    Rows keep their order in both parts; each row is one query, so no held-out query is trained on.
    """
    if count <= 0:
        return list(rows), []
    chosen = set(np.random.default_rng([seed, 7]).choice(len(rows), size=min(count, len(rows)), replace=False).tolist())
    return ([r for i, r in enumerate(rows) if i not in chosen], [r for i, r in enumerate(rows) if i in chosen])


def choose(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], max_new_tokens: int, batch_size: int,
           ends: Sequence[int], reasoning: bool = True) -> Choices:
    """Greedy, constrained answers of ``model`` to the prompt ``rows`` (GRPO rows: ``prompt``, ``n``, ``relevant``).

    Args:
        model: A causal LM (a PEFT model included), already on its device.
        tokenizer: Its tokenizer, with a chat template.
        rows: The prompts.
        max_new_tokens: Reasoning and answer budget (as in training).
        batch_size: Prompts generated together.
        ends: End-of-sequence ids.
        reasoning: False: the label alone, after an empty reasoning (as a label-only policy was trained).
    """
    import time

    import torch
    from transformers import LogitsProcessorList

    from rankkit_reasoning.constrained import AnswerConstraint, end_index, tag_tokens
    from rankkit_reasoning.prompts import render_chat

    started, tokens, tags = time.time(), 0, tag_tokens(tokenizer)
    labels: list[int | None] = []
    for at in range(0, len(rows), batch_size):
        batch = rows[at:at + batch_size]
        texts = [render_chat(tokenizer, r["prompt"]) for r in batch]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        constraint = AnswerConstraint(tokenizer, [int(r["n"]) for r in batch], max_new_tokens, ends, tags,
                                     reasoning=reasoning)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                    top_p=None, top_k=None, logits_processor=LogitsProcessorList([constraint]),
                                    pad_token_id=tokenizer.pad_token_id)
        for row, ids in zip(batch, output[:, inputs["input_ids"].shape[1]:].tolist()):
            cut = end_index(ids, ends, len(ids))
            tokens += cut + 1
            labels.append(parse_answer(tokenizer.decode(ids[:cut], skip_special_tokens=True), int(row["n"])).label)
    correct = [int(label is not None and label in set(r["relevant"])) for label, r in zip(labels, rows)]
    return Choices(labels, correct, [int(r["n"]) for r in rows], [len(r["relevant"]) for r in rows],
                   round(time.time() - started, 2), tokens)


def choice_summary(choices: Choices) -> dict[str, Any]:
    """Accuracy, its Wilson 95 % interval, the chance rate, a one-sided binomial test against it, the parse rate,
    how often each label was chosen (position bias) and the cost."""
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import proportion_confint

    n, hits = len(choices.correct), int(sum(choices.correct))
    if not n:
        return {"prompts": 0}
    chance = float(np.mean([r / c for r, c in zip(choices.relevant, choices.counts)]))
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    rate = Counter(label for label in choices.labels if label is not None)
    return {
        "prompts": n, "accuracy": round(hits / n, 4), "ci95": [round(float(low), 4), round(float(high), 4)],
        "chance": round(chance, 4),
        "p_above_chance": float(binomtest(hits, n, chance, alternative="greater").pvalue),
        "answered": round(sum(label is not None for label in choices.labels) / n, 4),
        "label_rate": {str(k): round(v / n, 4) for k, v in sorted(rate.items())},
        "seconds": choices.seconds, "tokens": choices.tokens,
    }


def compare_choices(before: Choices, after: Choices) -> dict[str, Any]:
    """After against before on the same prompts: the accuracy difference and an exact McNemar test (two-sided)
    with the counts of prompts that only one of them got right."""
    from statsmodels.stats.contingency_tables import mcnemar

    if len(before.correct) != len(after.correct):
        raise ValueError(f"compare_choices needs the same prompts ({len(before.correct)} != {len(after.correct)})")
    gained = sum(1 for b, a in zip(before.correct, after.correct) if a and not b)
    lost = sum(1 for b, a in zip(before.correct, after.correct) if b and not a)
    both = sum(1 for b, a in zip(before.correct, after.correct) if a and b)
    table = [[both, lost], [gained, len(before.correct) - both - lost - gained]]
    n = max(len(before.correct), 1)
    return {"difference": round((sum(after.correct) - sum(before.correct)) / n, 4), "gained": gained, "lost": lost,
            "p_mcnemar": float(mcnemar(table, exact=True).pvalue)}
