"""Which reranker call placed each document, read from the reranker's trace, as a hit's ``_rankkit`` field.

A reasoning reranker (``rank-r1``: :mod:`rankkit_reasoning.reranker`) keeps one
trace per query (the core's ``RunReporter.traces()``): ``top``, the doc ids its
calls sorted into place, and ``trace``, one dict per LLM call with the call's
number (``call``), its candidates (``doc_ids``, in label order), the ``reasoning``
it parsed, the ``chosen`` doc id and, when the answer was malformed, the
``fallback_choice`` that chose instead (``first-stage``, ``likelihood`` or
``constrained``). The call that *placed* a document of ``top`` is the last call
that chose it: in a heapsort, the comparison that lifted it to the root before
it was extracted; in a bubblesort, the last window that carried it up. Documents
outside ``top`` keep their place by the first stage's order, not by a call.

Everything read from a trace is treated as untrusted model output: the reasoning
becomes a plain string (lone surrogates replaced, control characters other than
newline and tab removed) of at most ``limit`` characters, and every other value
is checked for its type; anything of another shape reads as "no call".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FALLBACKS = ("first-stage", "likelihood", "constrained")


def placements(trace: Any, doc_ids: Sequence[str], profile: str, limit: int) -> dict[str, dict[str, Any]]:
    """The ``_rankkit`` field of each of ``doc_ids`` (a reranked window), from the reranker's trace of that query.

    Args:
        trace: The reranker's trace of the query (one item of its ``traces()``), or ``None`` when it keeps none.
        doc_ids: The window's doc ids.
        profile: The reranker profile's name (each field names it).
        limit: Most characters of reasoning per field.

    Returns:
        For every doc id: ``{"profile", "call", "reasoning", "answer", "fallback", "constrained", "truncated"}``, with
        ``call``, ``reasoning``, ``answer`` and ``fallback`` null for a document no call placed.
    """
    placed = _placing_calls(trace)
    return {doc_id: note(placed.get(doc_id), doc_id, profile, limit) for doc_id in doc_ids}


def _placing_calls(trace: Any) -> dict[str, Mapping[str, Any]]:
    """The last call that chose each document of the trace's ``top``."""
    if not isinstance(trace, Mapping):
        return {}
    top, calls = trace.get("top"), trace.get("trace")
    if not isinstance(top, list) or not isinstance(calls, list):
        return {}
    last: dict[str, Mapping[str, Any]] = {}
    for call in calls:
        if isinstance(call, Mapping) and isinstance(call.get("chosen"), str):
            last[call["chosen"]] = call
    return {doc_id: last[doc_id] for doc_id in top if isinstance(doc_id, str) and doc_id in last}


def note(call: Mapping[str, Any] | None, doc_id: str, profile: str, limit: int) -> dict[str, Any]:
    """One hit's ``_rankkit`` field: what ``call`` (the call that placed ``doc_id``; ``None``: none did) said."""
    if call is None:
        return {"profile": profile, "call": None, "reasoning": None, "answer": None, "fallback": None,
                "constrained": False, "truncated": False}
    number = call.get("call")
    candidates = call.get("doc_ids")
    answer = candidates.index(doc_id) + 1 if isinstance(candidates, list) and doc_id in candidates else None
    fallback = call.get("fallback_choice") if call.get("fallback") is True else None
    fallback = fallback if fallback in _FALLBACKS else None
    reasoning, truncated = safe_text(call.get("reasoning"), limit)
    return {"profile": profile, "call": number if isinstance(number, int) and not isinstance(number, bool) else None,
            "reasoning": reasoning, "answer": answer, "fallback": fallback, "constrained": fallback == "constrained",
            "truncated": truncated}


def safe_text(value: Any, limit: int) -> tuple[str | None, bool]:
    """``value`` as text a JSON encoder and a search UI take safely, cut to ``limit`` characters.

    Returns:
        The text (``None`` for a value that is not a string) and whether it was cut.
    """
    if not isinstance(value, str):
        return None, False
    text = _CONTROLS.sub("", _SURROGATES.sub("\ufffd", value))
    return (text, False) if len(text) <= limit else (text[:limit], True)
