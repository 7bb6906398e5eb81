"""Constrained answers: after the model's reasoning, only ``<answer>[i]</answer>`` with a label of the prompt.

The reasoning stays free (bounded by ``max_new_tokens``, the thinking budget).
When a completion does not parse (the model never closed its reasoning, ran out
of tokens, or wrote a malformed answer), the reasoning is closed for it and the
answer is generated again under a constraint: transformers' own
``prefix_allowed_tokens_fn`` allows, at each step, only the tokens that continue
one of the strings ``"1]</answer>"`` ... ``"n]</answer>"`` after the forced
``<think> R </think> <answer>[`` (:func:`~rankkit_reasoning.parsing.forced_answer`),
then the end of the sequence. Greedy decoding under that constraint picks the
label the model finds most likely token by token, and the result always parses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rankkit_reasoning.parsing import ANSWER_CLOSE, forced_answer

#: A trie over token ids: each node maps a token to its child; ``None`` marks a complete answer.
Trie = dict[Any, Any]


def answer_trie(tokenizer: Any, n: int) -> Trie:
    """The token sequences of ``"1]</answer>"`` .. ``"n]</answer>"`` (as the tokenizer encodes them) as a trie."""
    root: Trie = {}
    for label in range(1, n + 1):
        node = root
        for token in tokenizer.encode(f"{label}]{ANSWER_CLOSE}", add_special_tokens=False):
            node = node.setdefault(token, {})
        node[None] = True
    return root


def allowed_next(trie: Trie, generated: Sequence[int], end: int) -> list[int]:
    """The tokens that may follow ``generated`` under ``trie``: the continuations, or ``end`` once an answer is
    complete (and after it, only ``end`` again: padding in a batch)."""
    node = trie
    for token in generated:
        if token not in node:
            return [end]
        node = node[token]
    options = [t for t in node if t is not None]
    return options + [end] if None in node or not options else options


def constrained_answers(backend: Any, conversations: Sequence[Sequence[dict[str, str]]],
                        completions: Sequence[str], counts: Sequence[int]) -> list[str]:
    """For each conversation, its completion's reasoning closed and an answer that parses, generated under the
    constraint (greedy, one batch).

    Args:
        backend: A :class:`~rankkit_reasoning.local.TransformersBackend` (its tokenizer, model and ``render``).
        conversations: The prompts' messages.
        completions: What the model generated freely for each.
        counts: How many passages each prompt showed (labels 1..n).

    Returns:
        ``<think> R </think> <answer>[k]</answer>`` per conversation, ``k`` in 1..n.
    """
    import torch

    if not conversations:
        return []
    tokenizer, model = backend.tokenizer, backend.model
    # a stray </answer> in the reasoning would make the result unparsable: the reasoning keeps its text, not the tag
    prefixes = [forced_answer(c.replace(ANSWER_CLOSE, " ")) for c in completions]
    texts = [backend.render(conv) + prefix for conv, prefix in zip(conversations, prefixes)]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
    start = batch["input_ids"].shape[1]
    end = _end_token(model, tokenizer)
    tries = [answer_trie(tokenizer, n) for n in counts]
    longest = max(len(tokenizer.encode(f"{n}]{ANSWER_CLOSE}", add_special_tokens=False)) for n in counts)

    def allowed(row: int, ids: Any) -> list[int]:
        return allowed_next(tries[row], ids[start:].tolist(), end)

    with torch.inference_mode():
        output = model.generate(**batch, max_new_tokens=longest + 1, do_sample=False, temperature=None, top_k=None,
                                top_p=None, prefix_allowed_tokens_fn=allowed, pad_token_id=tokenizer.pad_token_id)
    answers = []
    for prefix, row in zip(prefixes, output[:, start:].tolist()):
        cut = row.index(end) if end in row else len(row)
        answers.append(prefix + tokenizer.decode(row[:cut], skip_special_tokens=True))
    return answers


def _end_token(model: Any, tokenizer: Any) -> int:
    """The token that ends an answer: the model's own end of sequence (its generation config), else the tokenizer's."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = ids if isinstance(ids, list) else [] if ids is None else [ids]
    return int(ids[0]) if ids else int(tokenizer.eos_token_id)
