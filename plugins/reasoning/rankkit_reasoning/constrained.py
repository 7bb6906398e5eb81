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

from rankkit_reasoning.parsing import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, forced_answer

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
    end = end_token(model, tokenizer)
    tries = [answer_trie(tokenizer, n) for n in counts]
    longest = max(len(tokenizer.encode(f"{n}]{ANSWER_CLOSE}", add_special_tokens=False)) for n in counts)

    def allowed(row: int, ids: Any) -> list[int]:
        return allowed_next(tries[row], ids[start:].tolist(), end)

    with torch.inference_mode():
        output = model.generate(**batch, max_new_tokens=longest + 1, do_sample=False, temperature=None, top_k=None,
                                top_p=None, prefix_allowed_tokens_fn=allowed, pad_token_id=tokenizer.pad_token_id)
    answers = []
    for prefix, row in zip(prefixes, output[:, start:].tolist()):
        cut = end_index(row, (end,), len(row))
        answers.append(prefix + tokenizer.decode(row[:cut], skip_special_tokens=True))
    return answers


def end_token(model: Any, tokenizer: Any) -> int:
    """The token that ends an answer: the model's own end of sequence (its generation config), else the tokenizer's."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = ids if isinstance(ids, list) else [] if ids is None else [ids]
    return int(ids[0]) if ids else int(tokenizer.eos_token_id)


def end_index(ids: Sequence[int], ends: Sequence[int], default: int) -> int:
    """The position of the first end token in ``ids``, ``default`` when there is none."""
    return next((i for i, token in enumerate(ids) if token in ends), default)


def tag_tokens(tokenizer: Any) -> list[int]:
    """The ids of the tokens whose text contains ``<``: the tokens a tag (``<think>``, ``</answer>``...) starts with."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [i for i, token in enumerate(tokens) if token and "<" in token]


class AnswerConstraint:
    """A logits processor that makes every completion ``<think> R </think> <answer>[i]</answer>``.

    One pass, for sampling (GRPO's completions) and greedy decoding alike:

    * ``<think>`` is forced;
    * the reasoning ``R`` is free but for tags: every token containing ``<``
      and the end of the sequence are masked, and the probability the model
      gives to all ``<`` tokens together goes to the first token of
      ``</think>``, so the model still decides when it stops thinking (a model
      about to write any tag closes its reasoning instead). When the thinking
      budget runs out, ``</think>`` is forced;
    * then ``<answer>[`` is forced, the label is chosen among the prompt's
      labels only (:func:`answer_trie`), and the end of the sequence follows.

    With ``reasoning = False`` the reasoning is empty: ``</think>`` follows
    ``<think>`` at once and only the label is chosen, so the completion is the
    model's answer alone (a label-only policy for GRPO, one short pass for a
    reranker).

    The budget leaves room for the forced answer, so a completion never runs
    out of tokens before it answers, and no stray tag can enter the reasoning:
    every completion parses. Only the processed scores are masked: the model's
    own probabilities of the tokens are what GRPO's loss reads, so training
    raises the likelihood of the format and of relevant labels. The reasoning
    cannot contain ``<`` (``a < b`` becomes impossible to write).

    Args:
        tokenizer: The model's tokenizer.
        counts: Labels per row (the passages each prompt shows), in the batch's row order.
        max_new_tokens: The generation's token limit (reasoning and answer).
        ends: The end-of-sequence ids (the first the model's output layer has ends the answer; all are masked while
            reasoning).
        tags: :func:`tag_tokens` of the tokenizer, when the caller has them (else computed here).
        reasoning: False: no reasoning, the answer follows ``<think>`` ``</think>`` at once.

    Raises:
        ValueError: When ``max_new_tokens`` leaves no room for reasoning before the forced answer (or, without
            reasoning, for the forced answer itself).
    """

    def __init__(self, tokenizer: Any, counts: Sequence[int], max_new_tokens: int, ends: Sequence[int],
                 tags: Sequence[int] | None = None, reasoning: bool = True) -> None:
        self.ends = [int(e) for e in ends if e is not None]
        if not self.ends:
            raise ValueError("the answer constraint needs the model's end-of-sequence token id")
        self.opening = tokenizer.encode(f"{THINK_OPEN}\n", add_special_tokens=False)
        self.close = tokenizer.encode(f"{THINK_CLOSE}\n{ANSWER_OPEN}[", add_special_tokens=False)
        self.cut = tokenizer.encode(f"\n{THINK_CLOSE}\n{ANSWER_OPEN}[", add_special_tokens=False)
        self.tags = list(tag_tokens(tokenizer) if tags is None else tags)
        if self.close[0] not in self.tags:   # </think> does not start with a token of its own: close at the budget
            self.close = []
        self.tries = {n: answer_trie(tokenizer, n) for n in set(int(c) for c in counts)}
        longest = max(len(tokenizer.encode(f"{n}]{ANSWER_CLOSE}", add_special_tokens=False)) for n in self.tries)
        self.reasoning = reasoning
        self.budget = max_new_tokens - len(self.opening) - len(self.cut) - longest - 1
        if self.budget < (1 if reasoning else 0):
            needs = max_new_tokens - self.budget
            raise ValueError(f"max_new_tokens {max_new_tokens} leaves no room to reason before the forced answer "
                             f"(it needs more than {needs})" if reasoning else
                             f"max_new_tokens {max_new_tokens} is too small for the forced answer (it needs {needs})")
        self.counts = [int(c) for c in counts]
        self.start: int | None = None
        self.rows = [_RowState(list(self.opening)) for _ in counts]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Mask ``scores`` (rows x vocabulary) to the tokens each row may take next."""
        import torch

        if self.start is None:
            self.start = int(input_ids.shape[1])
            # a tokenizer may know ids the model's output layer lacks (an end token added to a smaller vocabulary)
            vocabulary = scores.shape[-1]
            self.ends = [e for e in self.ends if e < vocabulary] or self.ends
            self.tags = [t for t in self.tags if t < vocabulary]
        elif input_ids.shape[1] > self.start:
            last = input_ids[:, -1].tolist()
            for row, token in zip(self.rows, last):
                self._advance(row, int(token))
        masked = torch.full_like(scores, float("-inf"))
        for index, row in enumerate(self.rows):
            if row.phase == "free":
                masked[index] = scores[index]
                masked[index, self.ends] = float("-inf")
                if self.tags:
                    masked[index, self.tags] = float("-inf")
                    if self.close:   # the mass of every tag start goes to </think>'s first token
                        masked[index, self.close[0]] = torch.logsumexp(scores[index, self.tags], dim=0)
            else:
                allowed = self._allowed(row, self.counts[index])
                masked[index, allowed] = scores[index, allowed]
        return masked

    def _allowed(self, row: _RowState, count: int) -> list[int]:
        if row.phase == "force":
            return [row.queue[0]]
        if row.phase == "label":
            return allowed_next(self.tries[count], row.label, self.ends[0])
        return [self.ends[0]]   # done: padding after the end

    def _advance(self, row: _RowState, token: int) -> None:
        """Move ``row`` past ``token``, the one it just took."""
        if row.phase == "force":
            row.queue.pop(0)
            if not row.queue:
                if row.reasoned:
                    row.phase = "label"
                elif self.reasoning:
                    row.phase = "free"
                else:   # no reasoning: the cut (</think> <answer>[) follows <think> at once
                    row.queue = list(self.cut)
                row.reasoned = True
        elif row.phase == "free":
            row.free += 1
            if self.close and token == self.close[0]:
                row.phase, row.queue = "force", list(self.close[1:])
                if not row.queue:
                    row.phase = "label"
            elif row.free >= self.budget:
                row.phase, row.queue = "force", list(self.cut)
        elif row.phase == "label":
            if token in self.ends:
                row.phase = "done"
            else:
                row.label.append(token)


class _RowState:
    """Where one row of an :class:`AnswerConstraint` is: forcing tokens, reasoning freely, choosing its label, done."""

    def __init__(self, opening: list[int]) -> None:
        self.phase = "force"
        self.queue = opening
        self.reasoned = False
        self.free = 0
        self.label: list[int] = []
