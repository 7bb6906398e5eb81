"""What every backend shares: the completion type, the backend protocol and its error.

Their settings (decoding, retries) are declared in :mod:`rankkit_reasoning.settings`.

Backends take chat messages (:func:`rankkit_reasoning.prompts.build_messages`)
and return :class:`Generation` objects: the completion text and its token
counts. A backend that cannot answer (after its retries) raises
:class:`BackendError`; the reranker then marks the query failed and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rankkit.errors import RankkitError
from rankkit_reasoning.prompts import Message


class BackendError(RankkitError):
    """A backend gave no usable completion (after its retries)."""


@dataclass(frozen=True)
class Generation:
    """One completion.

    Attributes:
        text: The generated text (special tokens removed).
        prompt_tokens: Tokens of the prompt (``None`` when an endpoint does not report usage).
        completion_tokens: Tokens generated (``None`` when unreported).
    """

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None


@runtime_checkable
class Backend(Protocol):
    """Generates completions of chat conversations."""

    #: How many conversations :meth:`generate` should get at once.
    batch_size: int

    def generate(self, conversations: Sequence[Sequence[Message]]) -> list[Generation]:
        """One completion per conversation, in order; raises :class:`BackendError` when it cannot."""
        ...  # pragma: no cover

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to ``max_tokens`` of the model's tokens."""
        ...  # pragma: no cover

    def describe(self) -> dict[str, Any]:
        """What determines the completions (model, decoding), for the reranker's fingerprint."""
        ...  # pragma: no cover


@runtime_checkable
class LabelScorer(Protocol):
    """A backend that can also say how likely each label is as the answer (for the ``likelihood`` fallback)."""

    def label_logprobs(self, conversations: Sequence[Sequence[Message]], completions: Sequence[str],
                       counts: Sequence[int]) -> list[list[float]]:
        """For each conversation, the log-probability of each label ``[1]``..``[n]`` after its completion's
        reasoning (:func:`rankkit_reasoning.parsing.forced_answer`)."""
        ...  # pragma: no cover


@runtime_checkable
class ConstrainedAnswerer(Protocol):
    """A backend that can generate an answer under a constraint that only allows the prompt's labels
    (for the ``constrained`` fallback; :mod:`rankkit_reasoning.constrained`)."""

    def constrained_answers(self, conversations: Sequence[Sequence[Message]], completions: Sequence[str],
                            counts: Sequence[int]) -> list[str]:
        """For each conversation, its completion's reasoning closed and an answer ``<answer>[k]</answer>`` with
        ``k`` in 1..n, generated under the constraint."""
        ...  # pragma: no cover


@runtime_checkable
class ConstrainedGenerator(Protocol):
    """A backend that can generate every completion under the answer constraint in one pass (the reranker's
    ``answer = "constrained"`` or ``"label"``; :class:`rankkit_reasoning.constrained.AnswerConstraint`)."""

    def generate_constrained(self, conversations: Sequence[Sequence[Message]], counts: Sequence[int],
                             reasoning: bool = True) -> list[Generation]:
        """One completion per conversation that always parses: the reasoning within the token budget (none when
        ``reasoning`` is false), then ``<answer>[k]</answer>`` with ``k`` in 1..n."""
        ...  # pragma: no cover


@runtime_checkable
class StructuredBackend(Protocol):
    """A backend that can ask its server to constrain each completion to the format with a label of the prompt."""

    #: The server's kind of constraint (``none``: ask nothing).
    structured: str

    def generate(self, conversations: Sequence[Sequence[Message]], counts: Sequence[int] | None = None) -> list[Generation]:
        """One completion per conversation; ``counts`` (labels per prompt) lets it constrain the answer."""
        ...  # pragma: no cover
