"""``rankkit`` rescorers inside an Elasticsearch ``_search`` body: parsing, and applying them to the response.

A ``rescore`` entry of type ``rankkit`` sits beside ES's own ``query`` rescorers::

    "rescore": [
      {"window_size": 100,
       "rankkit": {"scorer": "cross-encoder", "params": {"model": "..."},
                   "query": "text for the scorer (default: the text of the search's match query)",
                   "fields": ["title", "text"],
                   "query_weight": 1.0, "rescore_query_weight": 1.0, "score_mode": "total"}}
    ]

Native entries run in ES first (they must come before any ``rankkit`` entry);
the search then asks ES for ``max(from + size, largest rankkit window)`` hits,
and the ``rankkit`` entries rescore them in order with
:func:`rankkit.rescore.apply_rescore`, each on the previous one's output, the
exact function behind the offline :class:`~rankkit.pipeline.ScorerReranker`.
The windows apply to the *global* top hits, after ES merged the shards.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankkit.errors import ConfigError
from rankkit.rescore import RescoreSettings, apply_rescore
from rankkit.types import SCORE_DTYPE, Ranking

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.scorers import ScorerPool

DEFAULT_FIELDS = ("title", "text")
#: ES's default ``window_size``.
DEFAULT_WINDOW = 10
_ENTRY_KEYS = {"scorer", "params", "query", "fields", "query_weight", "rescore_query_weight", "score_mode"}
_TEXT_QUERIES = ("match", "match_phrase", "multi_match", "query_string", "simple_query_string", "combined_fields")
_MISSING = object()


@dataclass(frozen=True)
class RankkitRescorer:
    """One ``rankkit`` rescore entry.

    Attributes:
        scorer: Registry name of the scorer.
        params: Its parameters.
        settings: Window and score combination (ES semantics).
        query: Text the scorer scores documents against.
        fields: ``_source`` fields whose texts, joined, are the document text.
    """

    scorer: str
    params: Mapping[str, Any]
    settings: RescoreSettings
    query: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RescorePlan:
    """What to ask ES, and what to do with its answer.

    Attributes:
        upstream_body: The body sent to ES (native rescorers kept, ``rankkit`` ones removed).
        rescorers: The ``rankkit`` entries, in order.
        offset: The request's ``from``.
        size: The request's ``size``.
        source: The request's ``_source`` (restored on the hits), or a sentinel when absent.
    """

    upstream_body: dict[str, Any]
    rescorers: tuple[RankkitRescorer, ...]
    offset: int
    size: int
    source: Any = _MISSING


def plan_search(body: Any, max_window: int | None = None) -> RescorePlan | None:
    """Parse ``body``; ``None`` when it holds no ``rankkit`` rescorer (send it to ES untouched).

    Raises:
        RescoreError: (400) naming what is wrong in the body.
    """
    if not isinstance(body, Mapping):
        raise RescoreError(f"the search body must be a JSON object, got {type(body).__name__}", es_type="parse_exception")
    entries = body.get("rescore")
    if entries is None:
        return None
    entries = [entries] if isinstance(entries, Mapping) else entries
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise RescoreError("`rescore` must be an object or a list of objects")
    kinds = ["rankkit" in e for e in entries]
    if not any(kinds):
        return None
    first = kinds.index(True)
    if not all(kinds[first:]):
        raise RescoreError("native rescorers must come before every `rankkit` rescorer: ES runs them per shard, before rankkit sees the hits")
    if "sort" in body and not _score_first(body["sort"]):
        raise RescoreError("a rankkit rescorer needs hits sorted by _score first (tie-breakers after it are fine): "
                           "cannot use this [sort] in conjunction with rescore")
    offset, size = _int(body, "from", 0), _int(body, "size", 10)
    query_text = _query_text(body.get("query"))
    rescorers = tuple(_entry(e, i, query_text, max_window) for i, e in enumerate(entries[first:], start=first))
    upstream = {k: v for k, v in body.items() if k not in ("rescore", "from", "size")}
    if first:
        upstream["rescore"] = list(entries[:first])
    upstream["from"] = 0
    upstream["size"] = max(offset + size, *(r.settings.window_size for r in rescorers))
    if "sort" in body:
        upstream["track_scores"] = True
    source = body.get("_source", _MISSING)
    if source is not _MISSING:
        upstream["_source"] = _with_fields(source, {f for r in rescorers for f in r.fields})
    return RescorePlan(upstream, rescorers, offset, size, source)


def _score_first(sort: Any) -> bool:
    first = sort[0] if isinstance(sort, list) and sort else sort
    if first == "_score":
        return True
    if isinstance(first, Mapping) and list(first) == ["_score"]:
        order = first["_score"]
        return order == "desc" or (isinstance(order, Mapping) and order.get("order", "desc") == "desc")
    return False


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RescoreError(f"[{key}] must be a non-negative integer, got {value!r}")
    return value


def _entry(entry: Mapping[str, Any], position: int, query_text: str | None, max_window: int | None) -> RankkitRescorer:
    where = f"rescore[{position}]"
    extra = set(entry) - {"rankkit", "window_size"}
    if extra:
        raise RescoreError(f"{where}: a rankkit rescorer takes only `window_size` and `rankkit`, got {sorted(extra)}")
    spec = entry["rankkit"]
    if not isinstance(spec, Mapping):
        raise RescoreError(f"{where}.rankkit must be an object")
    unknown = set(spec) - _ENTRY_KEYS
    if unknown:
        raise RescoreError(f"{where}.rankkit: unknown key(s) {sorted(unknown)}; valid: {sorted(_ENTRY_KEYS)}")
    window = entry.get("window_size", DEFAULT_WINDOW)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise RescoreError(f"{where}.window_size must be a positive integer, got {window!r}")
    if max_window is not None and window > max_window:
        raise RescoreError(f"{where}.window_size {window} is larger than this service allows ({max_window})")
    try:
        settings = RescoreSettings(window, float(spec.get("query_weight", 1.0)),
                                   float(spec.get("rescore_query_weight", 1.0)), spec.get("score_mode", "total"))
    except (ConfigError, TypeError, ValueError) as error:
        raise RescoreError(f"{where}.rankkit: {error}") from None
    query = spec.get("query", query_text)
    if not isinstance(query, str) or not query:
        raise RescoreError(f"{where}.rankkit: give the scorer's `query` text (the search query has no match/multi_match text to take it from)")
    fields = spec.get("fields", list(DEFAULT_FIELDS))
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise RescoreError(f"{where}.rankkit.fields must be a non-empty list of field names")
    params = spec.get("params", {})
    if not isinstance(params, Mapping):
        raise RescoreError(f"{where}.rankkit.params must be an object")
    scorer = spec.get("scorer")
    if not isinstance(scorer, str) or not scorer:
        raise RescoreError(f"{where}.rankkit.scorer must name an installed rankkit scorer")
    return RankkitRescorer(scorer, dict(params), settings, query, tuple(fields))


def _query_text(query: Any) -> str | None:
    """The text of the first full-text query in ``query`` (depth first)."""
    if isinstance(query, Mapping):
        for kind in _TEXT_QUERIES:
            if kind in query and isinstance(query[kind], Mapping):
                inner = query[kind]
                if isinstance(inner.get("query"), str):
                    return inner["query"]
                for value in inner.values():
                    if isinstance(value, str):
                        return value
                    if isinstance(value, Mapping) and isinstance(value.get("query"), str):
                        return value["query"]
        for value in query.values():
            found = _query_text(value)
            if found:
                return found
    elif isinstance(query, list):
        for value in query:
            found = _query_text(value)
            if found:
                return found
    return None


def _with_fields(source: Any, fields: set[str]) -> Any:
    if source is True or source is None:
        return source
    if source is False:
        return sorted(fields)
    if isinstance(source, str):
        return sorted({source} | fields)
    if isinstance(source, list):
        return sorted(set(source) | fields)
    if isinstance(source, Mapping) and isinstance(source.get("includes", source.get("include")), (list, str)):
        key = "includes" if "includes" in source else "include"
        inc = source[key]
        return {**source, key: sorted(({inc} if isinstance(inc, str) else set(inc)) | fields)}
    if isinstance(source, Mapping):
        return {**source, "excludes": [e for e in source.get("excludes", []) if e not in fields]}
    return source


def document_text(source: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    """The texts of ``fields`` joined like :attr:`rankkit.types.Document.full_text` (``None`` when all are missing)."""
    values = [source.get(f) for f in fields]
    if all(v is None for v in values):
        return None
    texts = [v if isinstance(v, str) else " ".join(map(str, v)) if isinstance(v, list) else "" if v is None else str(v) for v in values]
    head = " ".join(t for t in texts[:-1] if t)
    return f"{head} {texts[-1]}" if head else texts[-1]


def apply_plan(plan: RescorePlan, response: Mapping[str, Any], scorers: ScorerPool) -> dict[str, Any]:
    """Rescore an ES response to ``plan.upstream_body`` and return the response the user asked for.

    Raises:
        RescoreError: (400) for hits without scores or without text in the chosen fields.
    """
    out = copy.copy(dict(response))
    hits_section = dict(response.get("hits") or {})
    hits = list(hits_section.get("hits") or [])
    ids = [str(h.get("_id")) for h in hits]
    if len(set(ids)) != len(ids):
        ids = [f"{h.get('_index')}/{h.get('_id')}" for h in hits]
    if any(h.get("_score") is None for h in hits):
        raise RescoreError("ES returned hits without _score; a rankkit rescorer needs scored hits (no sort, no score-less query)")
    by_id = dict(zip(ids, hits))
    ranking = Ranking("rescore", np.array(ids, dtype=str), np.array([h["_score"] for h in hits], dtype=SCORE_DTYPE))
    for rescorer in plan.rescorers:
        window = ranking.top(rescorer.settings.window_size)
        texts = []
        for doc_id in window.doc_ids.tolist():
            text = document_text(by_id[doc_id].get("_source") or {}, rescorer.fields)
            if text is None:
                raise RescoreError(f"hit {doc_id!r} has none of the fields {list(rescorer.fields)} in _source; set "
                                   "`fields` in the rankkit rescorer to the document's text fields", es_type="rankkit_missing_text_exception")
            texts.append(text)
        scorer = scorers.get(rescorer.scorer, rescorer.params)
        new = np.asarray(scorer.score(rescorer.query, texts), dtype=np.float64) if texts else np.empty(0)
        if new.shape != (len(texts),) or not np.isfinite(new).all():
            raise RescoreError(f"scorer {rescorer.scorer!r} returned {new.shape} scores for {len(texts)} documents, or non-finite ones",
                               status=500, es_type="rankkit_scorer_exception")
        ranking = apply_rescore(ranking, new, rescorer.settings)
    chosen = ranking.doc_ids.tolist()[plan.offset : plan.offset + plan.size]
    scores = ranking.scores.tolist()[plan.offset : plan.offset + plan.size]
    hits_section["hits"] = [_restore_source({**by_id[d], "_score": s}, plan.source) for d, s in zip(chosen, scores)]
    hits_section["max_score"] = float(ranking.scores[0]) if len(ranking) else None
    out["hits"] = hits_section
    return out


def _restore_source(hit: dict[str, Any], source: Any) -> dict[str, Any]:
    if source is _MISSING or source is True or source is None:
        return hit
    if source is False:
        hit.pop("_source", None)
        return hit
    includes = source if isinstance(source, (list, str)) else source.get("includes", source.get("include")) if isinstance(source, Mapping) else None
    doc = hit.get("_source")
    if isinstance(doc, Mapping):
        if includes is not None:
            keep = {includes} if isinstance(includes, str) else set(includes)
            hit["_source"] = {k: v for k, v in doc.items() if k in keep}
        elif isinstance(source, Mapping):
            drop = set(source.get("excludes", []))
            hit["_source"] = {k: v for k, v in doc.items() if k not in drop}
    return hit
