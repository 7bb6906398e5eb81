"""Strict parsing of a Rank-R1 completion, and the rewards a GRPO trainer optimises.

A well-formed completion is exactly::

    <think> reasoning </think> <answer>[k]</answer>

with whitespace allowed around and between the parts (and inside the brackets),
one of each tag, and ``k`` an integer label between 1 and the number of
passages shown. Anything else (a missing or repeated tag, text before
``<think>`` or after ``</answer>``, an answer that is not one bracketed label, a
label out of range) is malformed, and :class:`ParsedAnswer` says why.

The rewards follow Rank-R1: a completion earns 1 when its format is valid and
the passage it chose is relevant, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_SHAPE = re.compile(r"\s*<think>(?P<think>.*)</think>(?P<between>.*)<answer>(?P<answer>.*)</answer>(?P<after>.*)", re.S)
_LABEL = re.compile(r"\s*\[\s*(\d+)\s*\]\s*")


@dataclass(frozen=True)
class ParsedAnswer:
    """What a completion says.

    Attributes:
        label: The chosen passage's label (1-based, as the prompt shows it); ``None`` when malformed.
        reasoning: The text inside ``<think> </think>`` (stripped; what could be found when malformed).
        error: Why the completion is malformed; ``None`` when it is valid.
    """

    label: int | None
    reasoning: str
    error: str | None = None

    @property
    def valid(self) -> bool:
        """Whether the completion is well formed (and so has a label)."""
        return self.error is None

    @property
    def index(self) -> int | None:
        """The chosen passage's 0-based position in the prompt, ``None`` when malformed."""
        return None if self.label is None else self.label - 1


def parse_answer(completion: str, n: int) -> ParsedAnswer:
    """Parse a completion that chose one of ``n`` passages.

    Args:
        completion: The model's output (special tokens already removed).
        n: How many passages the prompt showed (labels 1..n are valid).

    Returns:
        The label and reasoning, or the reason the completion is malformed.
    """
    reasoning = _reasoning(completion)
    for tag in _TAGS:
        count = completion.count(tag)
        if count != 1:
            return ParsedAnswer(None, reasoning, f"{'no' if count == 0 else count} {tag} tag{'s' * (count > 1)} "
                                                 "(exactly one expected)")
    match = _SHAPE.fullmatch(completion)
    if match is None:
        return ParsedAnswer(None, reasoning, _misplaced(completion))
    if match["between"].strip():
        return ParsedAnswer(None, reasoning, "text between </think> and <answer>")
    if match["after"].strip():
        return ParsedAnswer(None, reasoning, "text after </answer>")
    label = _LABEL.fullmatch(match["answer"])
    if label is None:
        shown = " ".join(match["answer"].split())[:40]
        return ParsedAnswer(None, reasoning, f"answer {shown!r} is not one bracketed label such as [1]")
    value = int(label.group(1))
    if not 1 <= value <= n:
        return ParsedAnswer(None, reasoning, f"label [{value}] is out of range (1..{n})")
    return ParsedAnswer(value, reasoning)


def _reasoning(completion: str) -> str:
    """The text after the first ``<think>``, up to ``</think>`` (or ``<answer>``, or the end)."""
    start = completion.find(THINK_OPEN)
    if start < 0:
        return ""
    body = completion[start + len(THINK_OPEN):]
    for stop in (THINK_CLOSE, ANSWER_OPEN):
        end = body.find(stop)
        if end >= 0:
            body = body[:end]
    return body.strip()


def forced_answer(completion: str) -> str:
    """The completion's reasoning, closed, followed by an opened answer: ``<think> R </think> <answer>[``.

    ``R`` is the completion's text before any ``</think>`` or ``<answer>`` (without a
    ``<think>`` tag): what the model reasoned, even when it never closed its thoughts or
    ran out of tokens. The likelihood fallback appends this to the prompt and reads
    which label the model would put next (budget forcing, after Muennighoff et al. 2025;
    label likelihoods as in the Setwise prompting of Zhuang et al., SIGIR 2024).
    """
    cut = [i for i in (completion.find(THINK_CLOSE), completion.find(ANSWER_OPEN)) if i >= 0]
    reasoning = completion[: min(cut, default=len(completion))].replace(THINK_OPEN, "").strip()
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n{ANSWER_OPEN}["


def _misplaced(completion: str) -> str:
    """Why a completion with one of each tag does not have the expected shape."""
    positions = [completion.index(tag) for tag in _TAGS]
    if positions != sorted(positions):
        return "tags out of order (expected <think> ... </think> <answer> ... </answer>)"
    return "text before <think>"


def format_reward(completion: str, n: int) -> float:
    """1.0 when ``completion`` is well formed for ``n`` passages, else 0.0."""
    return 1.0 if parse_answer(completion, n).valid else 0.0


def relevance_reward(completion: str, n: int, relevant_labels: Collection[int]) -> float:
    """Rank-R1's reward: 1.0 when the format is valid and the chosen passage is relevant, else 0.0.

    Args:
        completion: The model's output.
        n: How many passages the prompt showed.
        relevant_labels: The 1-based labels of the relevant passages in that prompt.
    """
    parsed = parse_answer(completion, n)
    return 1.0 if parsed.valid and parsed.label in relevant_labels else 0.0
