"""The Rank-R1 setwise prompt: a system prompt that asks for reasoning, then a label, and the user turn.

The model sees a query and a small set of candidate passages labelled ``[1]``,
``[2]``... It reasons inside ``<think> </think>`` and names the most relevant
passage inside ``<answer> </answer>`` (``<answer>[2]</answer>``), the output that
:func:`rankkit_reasoning.parsing.parse_answer` accepts. Inference and a GRPO
trainer build their prompts with the same functions, so a model is evaluated on
exactly the prompt it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from rankkit.errors import ConfigError

SYSTEM_PROMPT = (
    "You are a search assistant that decides which passage best answers a search query. "
    "First reason step by step about how each passage relates to the query, inside <think> </think> tags. "
    "Then give the label of the single most relevant passage inside <answer> </answer> tags, "
    "for example <answer>[2]</answer>. Write nothing after </answer>."
)

USER_TEMPLATE = (
    "Query: {query}\n\n"
    "Which of the following {count} passages is the most relevant to the query?\n\n"
    "{passages}\n\n"
    "Reason inside <think> </think>, then answer with the label of the most relevant passage "
    "inside <answer> </answer>, for example <answer>[1]</answer>."
)

Message = dict[str, str]


class Tokenizer(Protocol):
    """What the prompt functions need of a Hugging Face tokenizer."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]:
        """Token ids of ``text``."""
        ...  # pragma: no cover

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = ...) -> str:
        """Text of ``ids``."""
        ...  # pragma: no cover


def truncate_passage(text: str, max_tokens: int, tokenizer: Tokenizer | None = None) -> str:
    """``text`` cut to its first ``max_tokens`` tokens.

    Args:
        text: A passage.
        max_tokens: The budget in tokens.
        tokenizer: The model's tokenizer; ``None`` counts whitespace-separated
            words instead (for endpoints whose tokenizer is not at hand).

    Returns:
        The passage unchanged when it fits, else the decoded first ``max_tokens`` tokens.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    text = " ".join(text.split())
    if tokenizer is None:
        words = text.split(" ")
        return text if len(words) <= max_tokens else " ".join(words[:max_tokens])
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= max_tokens:
        return text
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=True).strip()


def user_prompt(query: str, passages: Sequence[str]) -> str:
    """The user turn: the query and the passages as ``[1] text`` lines (passages already truncated)."""
    listed = "\n".join(f"[{i}] {' '.join(text.split())}" for i, text in enumerate(passages, 1))
    return USER_TEMPLATE.format(query=" ".join(query.split()), count=len(passages), passages=listed)


def build_messages(query: str, passages: Sequence[str], system: str = SYSTEM_PROMPT) -> list[Message]:
    """The chat messages (system, user) asking which of ``passages`` best answers ``query``.

    Args:
        query: The query text.
        passages: The candidates, in the order they get labels ``[1]``, ``[2]``...
        system: The system prompt.

    Returns:
        ``[{"role": "system", ...}, {"role": "user", ...}]``, as chat templates and
        OpenAI-compatible endpoints take them (and TRL's conversational datasets).
    """
    if not passages:
        raise ValueError("a setwise prompt needs at least one passage")
    return [{"role": "system", "content": system}, {"role": "user", "content": user_prompt(query, passages)}]


def render_chat(tokenizer: Any, messages: Sequence[Message], where: str = "the model") -> str:
    """The prompt text of ``messages`` under the tokenizer's chat template, ready for the assistant's turn.

    Raises:
        ConfigError: When the tokenizer has no chat template, saying how to give it one.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"{where}: the tokenizer has no chat template, so the system and user turns cannot be laid out; "
            "use an instruction-tuned (chat) model, or set tokenizer.chat_template in its tokenizer_config.json"
        )
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
