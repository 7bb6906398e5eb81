"""The Rank-R1 setwise reasoning reranker: setwise sorting whose comparisons an LLM makes after reasoning.

For each ranking, the top ``window`` candidates are sorted setwise
(:mod:`rankkit_reasoning.setwise`): each comparison shows the query and a few
passages (:mod:`rankkit_reasoning.prompts`), the LLM reasons and names the most
relevant one, and :func:`rankkit_reasoning.parsing.parse_answer` reads its
choice. The sorted top ``k`` come first, then the rest of the window and of the
ranking in first-stage order; scores descend from the ranking's length to 1.

The comparisons of all the queries in a call advance together, so a local
model generates several queries' prompts in one batch.

Failures do not stop a run:

* with ``answer = "constrained"`` (or ``"label"``, no reasoning) a local model
  decodes every call under :class:`~rankkit_reasoning.constrained.AnswerConstraint`,
  so every answer parses in one pass;
* a malformed answer is counted, and falls back to a defined choice: the
  candidate of the set that ranks best in the first stage (``first-stage``), or,
  with a local model, the label the model itself finds most likely once its
  reasoning is closed for it (``likelihood``:
  :meth:`~rankkit_reasoning.local.TransformersBackend.label_logprobs`), or an
  answer generated again under a constraint that allows only the prompt's labels
  (``constrained``: :mod:`rankkit_reasoning.constrained`), which keeps small
  models that never master the format useful;
* a backend failure (after the backend's retries) marks the query failed: it
  keeps its first-stage order and the other queries go on.

Statistics and traces (every call's candidates, completion, reasoning and
choice) accumulate until :meth:`SetwiseReasoningReranker.reset`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rankkit.components import DocStore, fingerprint
from rankkit.errors import ConfigError
from rankkit.files import atomic_write
from rankkit.pipeline import Composable
from rankkit.types import Query, Ranking
from rankkit_reasoning.endpoint import OpenAIBackend
from rankkit_reasoning.generation import (
    Backend,
    BackendError,
    ConstrainedAnswerer,
    ConstrainedGenerator,
    Generation,
    LabelScorer,
    StructuredBackend,
)
from rankkit_reasoning.local import TransformersBackend
from rankkit_reasoning.parsing import ParsedAnswer, parse_answer
from rankkit_reasoning.prompts import build_messages
from rankkit_reasoning.settings import RankR1Settings, SetwiseSettings
from rankkit_reasoning.setwise import SetwiseSort

logger = logging.getLogger(__name__)


@dataclass
class QueryRecord:
    """Statistics and trace of one query in one :meth:`~SetwiseReasoningReranker.rerank` call."""

    query_id: str
    query: str
    candidates: int
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    malformed: int = 0
    failed: bool = False
    error: str | None = None
    top: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    choices: list[tuple[int, int]] = field(default_factory=list)


class _Job:
    """One query's sort in progress."""

    def __init__(self, query: Query, head: Ranking, passages: list[str], settings: SetwiseSettings) -> None:
        self.query, self.head, self.passages = query, head, passages
        self.sort = SetwiseSort(settings.method, len(head), settings.num_child, settings.k)
        self.record = QueryRecord(query.query_id, query.text, len(head))

    def messages(self, shift: int = 0) -> list[dict[str, str]]:
        """The prompt of the pending comparison; ``shift`` rotates the candidates (label 1 shows the ``shift``-th)."""
        pending = list(self.sort.pending or ())
        pending = pending[shift:] + pending[:shift]
        return build_messages(self.query.text, [self.passages[i] for i in pending])


class SetwiseReasoningReranker(Composable):
    """Reorders each ranking's top ``window`` by setwise sorting with a reasoning LLM (Rank-R1).

    Args:
        backend: Where completions come from (:class:`~rankkit_reasoning.backends.TransformersBackend`
            or :class:`~rankkit_reasoning.backends.OpenAIBackend`).
        settings: Method, ``num_child``, ``k``, ``window``, the passage budget, the fallback and whether to keep
            traces (:class:`~rankkit_reasoning.settings.SetwiseSettings`).
        docs: Where document texts come from when rankings carry none.
    """

    def __init__(self, backend: Backend, settings: SetwiseSettings | None = None, docs: DocStore | None = None) -> None:
        self.backend = backend
        self.settings = settings or SetwiseSettings()
        _check_backend(backend, self.settings)
        self.docs = docs
        self.fingerprint = fingerprint("reranker", "rank-r1", {**self.settings.sort_key(), **backend.describe()})
        self._records: list[QueryRecord] = []

    @classmethod
    def from_settings(cls, settings: RankR1Settings) -> SetwiseReasoningReranker:
        """The reranker over the backend ``settings`` choose (a local model or an endpoint), as ``rank-r1`` is built.

        Raises:
            ConfigError: For a model, adapter or endpoint that cannot be used, or a fallback the backend cannot give.
        """
        backend: Backend = OpenAIBackend(settings) if settings.backend == "openai" else TransformersBackend(settings)
        return cls(backend, settings)

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """One reordered ranking per input ranking (the :class:`~rankkit.components.Reranker` protocol).

        Raises:
            ValueError: When queries and rankings do not pair up.
            ConfigError: When a ranking carries no texts and there is no doc store.
        """
        if len(queries) != len(rankings):
            raise ValueError(f"rank-r1 got {len(queries)} queries but {len(rankings)} rankings")
        jobs = [self._job(q, r) for q, r in zip(queries, rankings)]
        self._run([j for j in jobs if not j.sort.done])
        out = []
        for job, ranking in zip(jobs, rankings):
            order = list(range(len(job.head))) if job.record.failed else (job.sort.order or [])
            job.record.top = [str(job.head.doc_ids[i]) for i in order[: self.settings.k]]
            self._records.append(job.record)
            out.append(_reordered(ranking, order))
        return out

    def _job(self, query: Query, ranking: Ranking) -> _Job:
        if query.query_id != ranking.query_id:
            raise ValueError(f"rank-r1: query {query.query_id!r} is paired with the ranking of {ranking.query_id!r}")
        head = ranking.top(self.settings.window)
        if head.texts is None and self.docs is not None:
            head = head.with_texts(self.docs.get_many(head.doc_ids.tolist()))
        if head.texts is None and len(head) > 1:
            raise ConfigError(
                f"query {query.query_id!r}: the ranking carries no document texts and rank-r1 has no doc store; "
                "give rankings with texts (Ranking.with_texts) or pass docs= (a DocStore) to SetwiseReasoningReranker"
            )
        budget = self.settings.passage_tokens
        passages = [self.backend.truncate(text, budget) for text in head.texts or ()] if len(head) > 1 else []
        return _Job(query, head, passages, self.settings)

    def _run(self, jobs: list[_Job]) -> None:
        """Advance every job's sort, one comparison per job per round, in batches of the backend's size."""
        size = max(1, int(getattr(self.backend, "batch_size", 1)))
        while jobs:
            for start in range(0, len(jobs), size):
                batch = jobs[start : start + size]
                try:
                    generations = self._generate(batch)
                except BackendError as error:
                    for job in batch:
                        self._fail(job, error)
                    continue
                parsed = [parse_answer(g.text, len(j.sort.pending or ())) for j, g in zip(batch, generations)]
                likely = self._likelihoods(batch, generations, parsed)
                forced = self._constrained(batch, generations, parsed)
                for job, generation, answer, scores, constrained in zip(batch, generations, parsed, likely, forced):
                    self._answer(job, generation, answer, scores, constrained)
            jobs = [j for j in jobs if not j.sort.done and not j.record.failed]

    def _generate(self, batch: list[_Job]) -> list[Generation]:
        """The batch's completions; a backend that can constrain them on its server gets each prompt's label count."""
        messages = [j.messages() for j in batch]
        counts = [len(j.sort.pending or ()) for j in batch]
        if self.settings.answer != "free":
            return self.backend.generate_constrained(  # type: ignore[attr-defined]
                messages, counts, reasoning=self.settings.answer == "constrained")
        if isinstance(self.backend, StructuredBackend) and self.backend.structured != "none":
            return self.backend.generate(messages, counts)
        return self.backend.generate(messages)

    def _fail(self, job: _Job, error: BackendError) -> None:
        logger.warning("rank-r1: query %r failed, keeping its first-stage order: %s", job.query.query_id, error)
        job.record.failed, job.record.error = True, str(error)

    def _likelihoods(self, batch: list[_Job], generations: list[Generation],
                     parsed: list[ParsedAnswer]) -> list[list[float] | None]:
        """Label log-probabilities for the malformed answers (``likelihood`` fallback), ``None`` for the rest."""
        malformed = [i for i, answer in enumerate(parsed) if not answer.valid]
        out: list[list[float] | None] = [None] * len(batch)
        if self.settings.fallback != "likelihood" or not malformed:
            return out
        counts = [len(batch[i].sort.pending or ()) for i in malformed]
        if self.settings.permutations == 1:
            scores = self.backend.label_logprobs([batch[i].messages() for i in malformed],  # type: ignore[attr-defined]
                                                 [generations[i].text for i in malformed], counts)
        else:
            scores = self._debiased([batch[i] for i in malformed], counts)
        for i, row in zip(malformed, scores):
            out[i] = row
        return out

    def _debiased(self, jobs: list[_Job], counts: list[int]) -> list[list[float]]:
        """Each candidate's label log-probability averaged over ``permutations`` cyclic orders of its set (without
        the reasoning, which names labels of one order): the label a position bias favours changes with the order,
        the candidate the model prefers does not."""
        shifts = [list(range(min(self.settings.permutations, n))) for n in counts]
        conversations = [job.messages(s) for job, row in zip(jobs, shifts) for s in row]
        flat = self.backend.label_logprobs(conversations, [""] * len(conversations),  # type: ignore[attr-defined]
                                           [n for n, row in zip(counts, shifts) for _ in row])
        out, at = [], 0
        for n, row in zip(counts, shifts):
            total = np.zeros(n)
            for shift in row:
                total += np.roll(np.asarray(flat[at], dtype=np.float64), shift)   # label j showed candidate (j+shift)%n
                at += 1
            out.append((total / len(row)).tolist())
        return out

    def _constrained(self, batch: list[_Job], generations: list[Generation],
                     parsed: list[ParsedAnswer]) -> list[ParsedAnswer | None]:
        """Answers generated under the label constraint for the malformed ones (``constrained`` fallback)."""
        malformed = [i for i, answer in enumerate(parsed) if not answer.valid]
        out: list[ParsedAnswer | None] = [None] * len(batch)
        if self.settings.fallback != "constrained" or not malformed:
            return out
        counts = [len(batch[i].sort.pending or ()) for i in malformed]
        texts = self.backend.constrained_answers([batch[i].messages() for i in malformed],  # type: ignore[attr-defined]
                                                 [generations[i].text for i in malformed], counts)
        for i, text, n in zip(malformed, texts, counts):
            answer = parse_answer(text, n)
            if not answer.valid:  # cannot happen by construction; say so loudly rather than guess
                raise RuntimeError(f"rank-r1: a constrained answer did not parse ({answer.error}): {text[-80:]!r}")
            out[i] = answer
        return out

    def _answer(self, job: _Job, generation: Generation, parsed: ParsedAnswer, label_scores: list[float] | None,
                constrained: ParsedAnswer | None = None) -> None:
        pending = job.sort.pending or ()
        fallback = parsed.index is None
        if not fallback:
            position = parsed.index
        elif constrained is not None and constrained.index is not None:
            position = constrained.index
        elif label_scores is not None:
            position = int(np.argmax(label_scores))  # ties: the first label
        else:
            position = pending.index(min(pending))
        record = job.record
        record.choices.append((position, len(pending)))
        record.calls += 1
        record.malformed += fallback
        record.prompt_tokens += generation.prompt_tokens or 0
        record.completion_tokens += generation.completion_tokens or 0
        if self.settings.traces:
            record.trace.append({
                "call": record.calls, "doc_ids": [str(job.head.doc_ids[i]) for i in pending],
                "completion": generation.text, "reasoning": parsed.reasoning, "label": parsed.label,
                "malformed_reason": parsed.error, "fallback": fallback,
                "fallback_choice": None if not fallback else "constrained" if constrained is not None
                else "likelihood" if label_scores is not None else "first-stage",
                "label_logprobs": label_scores, "constrained_label": constrained.label if constrained else None,
                "chosen": str(job.head.doc_ids[pending[position]]),
                "prompt_tokens": generation.prompt_tokens, "completion_tokens": generation.completion_tokens,
            })
        job.sort.answer(position)

    def statistics(self) -> dict[str, Any]:
        """Totals and per-query means over every query reranked since the last :meth:`reset`
        (:meth:`summarize` of :meth:`traces`)."""
        return self.summarize(self.traces())

    @staticmethod
    def summarize(traces: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Totals and per-query means over per-query traces (:meth:`traces`, also pooled from several processes
        when a run resumed).

        Returns:
            ``queries``, ``calls``, ``prompt_tokens``, ``completion_tokens``, ``malformed``, ``failed``;
            ``calls_per_query``, ``prompt_tokens_per_query``, ``completion_tokens_per_query``,
            ``tokens_per_query``, ``malformed_rate`` (malformed answers per call), ``failed_query_ids`` and
            ``label_choice_rate`` (per label, the share of the calls that showed it in which it was chosen).
        """
        totals = {name: sum(t[name] for t in traces) for name in ("calls", "prompt_tokens", "completion_tokens", "malformed")}
        n = max(len(traces), 1)
        return {
            "queries": len(traces), **totals, "failed": sum(bool(t["failed"]) for t in traces),
            "calls_per_query": totals["calls"] / n,
            "prompt_tokens_per_query": totals["prompt_tokens"] / n,
            "completion_tokens_per_query": totals["completion_tokens"] / n,
            "tokens_per_query": (totals["prompt_tokens"] + totals["completion_tokens"]) / n,
            "malformed_rate": totals["malformed"] / max(totals["calls"], 1),
            "failed_query_ids": [t["query_id"] for t in traces if t["failed"]],
            "label_choice_rate": _label_rates([tuple(c) for t in traces for c in t.get("choices", ())]),
        }

    def traces(self) -> list[dict[str, Any]]:
        """One dict per reranked query: its text and statistics, the top ``k`` doc ids, each call's
        ``[chosen position, set size]`` (``choices``), and its calls (when kept)."""
        return [{
            "query_id": r.query_id, "query": r.query, "candidates": r.candidates, "calls": r.calls,
            "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens, "malformed": r.malformed,
            "failed": r.failed, "error": r.error, "top": list(r.top), "choices": [list(c) for c in r.choices],
            "trace": [dict(c) for c in r.trace],
        } for r in self._records]

    def write_traces(self, path: str | Path) -> Path:
        """Write :meth:`traces` as JSON lines (one query per line), atomically; returns the path."""
        with atomic_write(path) as handle:
            for trace in self.traces():
                handle.write(json.dumps(trace, ensure_ascii=False) + "\n")
        return Path(path)

    def reset(self) -> None:
        """Forget the statistics and traces gathered so far."""
        self._records = []

    def __repr__(self) -> str:
        s = self.settings
        return f"SetwiseReasoningReranker({s.method}, num_child={s.num_child}, k={s.k}, window={s.window})"


#: What a setting's value needs from the backend: (setting, value) -> (protocol, what it gives).
_NEEDS = {
    ("fallback", "likelihood"): (LabelScorer, "label probabilities"),
    ("fallback", "constrained"): (ConstrainedAnswerer, "constrained decoding"),
    ("answer", "constrained"): (ConstrainedGenerator, "constrained decoding"),
    ("answer", "label"): (ConstrainedGenerator, "constrained decoding"),
}


def _check_backend(backend: Backend, settings: SetwiseSettings) -> None:
    """Refuse settings whose ``fallback`` or ``answer`` the backend cannot give, naming the way out."""
    for (name, value), (protocol, gives) in _NEEDS.items():
        if getattr(settings, name) == value and not isinstance(backend, protocol):
            default = SetwiseSettings.__dataclass_fields__[name].default
            raise ConfigError(f"rank-r1: {name} {value!r} needs {gives}, which the {type(backend).__name__} backend "
                              f"cannot give; use the transformers backend, or {name} {default!r}")


def _label_rates(choices: Sequence[tuple[int, int]]) -> dict[str, float]:
    """How often each label was chosen when it was shown: ``{"1": rate, ...}`` (a position bias shows as rates far
    from ``1 / set size``)."""
    shown: dict[int, int] = {}
    chosen: dict[int, int] = {}
    for position, size in choices:
        for label in range(size):
            shown[label] = shown.get(label, 0) + 1
        chosen[position] = chosen.get(position, 0) + 1
    return {str(label + 1): chosen.get(label, 0) / count for label, count in sorted(shown.items())}


def _reordered(ranking: Ranking, order: Sequence[int]) -> Ranking:
    """``ranking`` with its first ``len(order)`` documents in ``order``, scores from ``len(ranking)`` down to 1."""
    positions = np.concatenate([np.asarray(order, dtype=np.int64), np.arange(len(order), len(ranking))])
    scores = np.arange(len(ranking), 0, -1, dtype=np.float32)
    texts = None if ranking.texts is None else tuple(ranking.texts[i] for i in positions)
    return Ranking(ranking.query_id, ranking.doc_ids[positions], scores, texts)
