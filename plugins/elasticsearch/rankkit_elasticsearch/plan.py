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
The windows apply to the *global* top hits, after ES merged the shards. An entry
(or a reranker retriever) that names a *reranker* profile reorders its window with
the reranker instead (:mod:`rankkit_elasticsearch.reranking`), and with
``"reasoning": true`` each hit of that window carries the ``_rankkit`` field of
the call that placed it (:mod:`rankkit_elasticsearch.reasoning`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankkit.errors import ConfigError
from rankkit.rescore import RescoreSettings, apply_rescore
from rankkit.types import SCORE_DTYPE, Ranking

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.profiles import Limits, Profile, RerankerProfile, ScorerProfile
from rankkit_elasticsearch.query_text import query_text_of
from rankkit_elasticsearch.reranking import check_entry, rerank_window, wants_reasoning
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.source_filter import SourceFilter

#: ES's default ``window_size`` (and ``rank_window_size`` of ``text_similarity_reranker``).
DEFAULT_WINDOW = 10
_ENTRY_KEYS = {"profile", "scorer", "params", "query", "fields", "query_weight", "rescore_query_weight", "score_mode",
               "min_score", "reasoning"}
_RERANKER_KEYS = {"retriever", "field", "inference_id", "inference_text", "rank_window_size", "min_score", "rankkit"}


@dataclass(frozen=True)
class RankkitRescorer:
    """One ``rankkit`` rescore entry (or the ``text_similarity_reranker`` a rankkit profile serves).

    Attributes:
        profile: The scorer or reranker profile.
        settings: Window and score combination (ES semantics; a reranker profile uses only the window).
        query: Text the scorer scores documents against.
        fields: ``_source`` fields whose texts, joined, are the document text.
        min_score: Hits scoring below it after this entry are dropped (``None``: keep all).
        reasoning: Whether the window's hits carry the ``_rankkit`` field of the reranker call that placed them.
    """

    profile: Profile
    settings: RescoreSettings
    query: str
    fields: tuple[str, ...]
    min_score: float | None = None
    reasoning: bool = False


@dataclass(frozen=True)
class RescorePlan:
    """What to ask ES, and what to do with its answer.

    Attributes:
        upstream_body: The body sent to ES (native rescorers kept, ``rankkit`` ones removed).
        rescorers: The ``rankkit`` entries, in order.
        offset: The request's ``from``.
        size: The request's ``size``.
        source: The request's ``_source`` filter (applied to the hits returned).
        limit: Hits kept after rescoring before ``from``/``size`` apply (the reranker retriever's
            ``rank_window_size``); ``None``: all.
    """

    upstream_body: dict[str, Any]
    rescorers: tuple[RankkitRescorer, ...]
    offset: int
    size: int
    source: SourceFilter = SourceFilter()
    limit: int | None = None

    @property
    def fail_open(self) -> bool:
        """Whether every profile in the plan allows answering with ES's own ranking when scoring fails."""
        return all(r.profile.allow_rerank_failures for r in self.rescorers)

    @property
    def profiles(self) -> list[str]:
        """Names of the profiles the plan uses, in order, once each."""
        return list(dict.fromkeys(r.profile.name for r in self.rescorers))


def plan_search(body: Any, scorers: ScorerPool, max_window: int | None = None,
                max_rescorers: int | None = None, rerankers: RerankerPool | None = None) -> RescorePlan | None:
    """Parse ``body``; ``None`` when it holds no ``rankkit`` rescorer (send it to ES untouched).

    Args:
        body: The ``_search`` body.
        scorers: Where profiles come from (a pool without profiles: entries name scorers).
        max_window: Largest window a request may ask for.
        max_rescorers: Most ``rankkit`` entries a request may hold.
        rerankers: Where reranker profiles come from (``None``: none).

    Raises:
        RescoreError: (400) naming what is wrong in the body.
    """
    if not isinstance(body, Mapping):
        raise RescoreError(f"the search body must be a JSON object, got {type(body).__name__}", es_type="parse_exception")
    reranker = _reranker_retriever(body, scorers, rerankers)
    if reranker is not None:
        return _plan_reranker(body, reranker, find_profile(reranker["inference_id"], scorers, rerankers), max_window)
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
    if max_rescorers is not None and len(entries) - first > max_rescorers:
        raise RescoreError(f"this request has {len(entries) - first} rankkit rescorers; this service takes at most {max_rescorers}")
    _check_paging(body)
    if "sort" in body and not _score_first(body["sort"]):
        raise RescoreError("a rankkit rescorer needs hits sorted by _score first (tie-breakers after it are fine): "
                           "cannot use this [sort] in conjunction with rescore")
    offset, size = _paging(body, max_window)
    query_text = query_text_of(body.get("query"))
    rescorers = tuple(_entry(e, i, query_text, max_window, scorers, rerankers)
                      for i, e in enumerate(entries[first:], start=first))
    upstream = {k: v for k, v in body.items() if k not in ("rescore", "from", "size")}
    if first:
        upstream["rescore"] = list(entries[:first])
    upstream["from"] = 0
    upstream["size"] = max(offset + size, *(r.settings.window_size for r in rescorers))
    if "sort" in body:
        upstream["track_scores"] = True
    source = SourceFilter.parse(body.get("_source"))
    if "_source" in body:
        upstream["_source"] = source.widened({f for r in rescorers for f in r.fields})
    return RescorePlan(upstream, rescorers, offset, size, source)


def _check_paging(body: Mapping[str, Any]) -> None:
    """Refuse cursors: ``search_after`` pages in ES's order, which rescoring changes."""
    if "search_after" in body:
        raise RescoreError("`search_after` cannot page a rankkit-rescored search: its cursors follow Elasticsearch's "
                           "order before rescoring, so pages would skip and repeat hits. Page with `from` and `size` "
                           "inside the rescore window instead")


def find_profile(name: Any, scorers: ScorerPool, rerankers: RerankerPool | None) -> Profile:
    """The scorer or reranker profile ``name``.

    Raises:
        RescoreError: (400) naming the declared profiles.
    """
    if rerankers is not None and isinstance(name, str) and name in rerankers.profiles:
        return rerankers.profiles[name]
    if rerankers is not None and rerankers.profiles and not (isinstance(name, str) and name in scorers.profiles):
        declared = ", ".join(sorted({*scorers.profiles, *rerankers.profiles}))
        raise RescoreError(f"unknown profile {name!r}; this service offers: {declared}",
                           es_type="resource_not_found_exception" if isinstance(name, str) else "illegal_argument_exception")
    return scorers.profile(name)


def _reranker_retriever(body: Mapping[str, Any], scorers: ScorerPool,
                        rerankers: RerankerPool | None) -> Mapping[str, Any] | None:
    """The top-level ``text_similarity_reranker`` whose ``inference_id`` is a rankkit profile, if any."""
    retriever = body.get("retriever")
    if not isinstance(retriever, Mapping) or list(retriever) != ["text_similarity_reranker"]:
        return None
    node = retriever["text_similarity_reranker"]
    names = {*scorers.profiles, *(rerankers.profiles if rerankers is not None else ())}
    if not isinstance(node, Mapping) or not isinstance(node.get("inference_id"), str) or node["inference_id"] not in names:
        return None  # ES's own inference endpoint: ES serves it
    return node


def _plan_reranker(body: Mapping[str, Any], node: Mapping[str, Any], profile: Profile, max_window: int | None) -> RescorePlan:
    """A plan for ES 9's ``text_similarity_reranker`` retriever served by a rankkit profile.

    The inner retriever runs in ES for the top ``rank_window_size`` hits; the profile's
    scores replace ES's (as ES's reranker does; a reranker profile's are rank-based);
    hits below ``min_score`` are dropped. ``"rankkit": {"reasoning": true}`` in the
    node asks for each hit's ``_rankkit`` field (reranker profiles that expose it).
    """
    where = "retriever.text_similarity_reranker"
    unknown = set(node) - _RERANKER_KEYS
    if unknown:
        raise RescoreError(f"{where}: unsupported key(s) {sorted(unknown)} for a rankkit profile; supported: {sorted(_RERANKER_KEYS)}")
    inner = node.get("retriever")
    if not isinstance(inner, Mapping) or not inner:
        raise RescoreError(f"{where}.retriever must be a retriever object, e.g. {{\"standard\": {{\"query\": ...}}}}")
    for key in ("rescore", "search_after", "sort"):
        if key in body:
            raise RescoreError(f"[{key}] cannot be used with a text_similarity_reranker retriever; "
                               "give it to the inner retriever or page with from and size")
    window = _window(node, "rank_window_size", where, max_window)
    field = node.get("field")
    text = node.get("inference_text")
    if not isinstance(field, str) or not field:
        raise RescoreError(f"{where}.field must name the document field to rerank on")
    if not isinstance(text, str) or not text:
        raise RescoreError(f"{where}.inference_text must be the query text")
    options = node.get("rankkit", {})
    if not isinstance(options, Mapping) or set(options) - {"reasoning"}:
        raise RescoreError(f"{where}.rankkit must be an object with only `reasoning` (true or false)")
    reasoning = wants_reasoning(options.get("reasoning", False), f"{where}.rankkit.reasoning", profile)
    if isinstance(profile, RerankerProfile) and node.get("min_score") is not None:
        raise RescoreError(f"{where}.min_score: profile {profile.name!r} is a reranker, whose scores only give the order")
    rescorer = RankkitRescorer(profile, RescoreSettings(window, 0.0, 1.0, "total"), text, (field,),
                               _number(node, "min_score", where, None), reasoning)
    offset, size = _paging(body, max_window)
    upstream = {k: v for k, v in body.items() if k not in ("retriever", "from", "size")}
    upstream.update(retriever=dict(inner), size=window, **{"from": 0})
    source = SourceFilter.parse(body.get("_source"))
    if "_source" in body:
        upstream["_source"] = source.widened({field})
    return RescorePlan(upstream, (rescorer,), offset, size, source, limit=window)


def _score_first(sort: Any) -> bool:
    first = sort[0] if isinstance(sort, list) and sort else sort
    if first == "_score":
        return True
    if isinstance(first, Mapping) and list(first) == ["_score"]:
        order = first["_score"]
        return order == "desc" or (isinstance(order, Mapping) and order.get("order", "desc") == "desc")
    return False


def _paging(body: Mapping[str, Any], max_window: int | None) -> tuple[int, int]:
    """``from`` and ``size``, checked (``from + size`` at most ``max_window``)."""
    offset, size = _int(body, "from", 0), _int(body, "size", 10)
    if max_window is not None and offset + size > max_window:
        raise RescoreError(f"from + size ({offset + size}) is larger than this service allows with rankkit rescoring ({max_window})")
    return offset, size


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RescoreError(f"[{key}] must be a non-negative integer, got {value!r}")
    return value


def _entry(entry: Mapping[str, Any], position: int, query_text: str | None, max_window: int | None,
           scorers: ScorerPool, rerankers: RerankerPool | None) -> RankkitRescorer:
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
    window = _window(entry, "window_size", where, max_window)
    inner = f"{where}.rankkit"
    mode = spec.get("score_mode", "total")
    try:
        settings = RescoreSettings(window, _number(spec, "query_weight", inner, 1.0),
                                   _number(spec, "rescore_query_weight", inner, 1.0), mode)
    except ConfigError as error:
        raise RescoreError(f"{inner}: {error}") from None
    query = spec.get("query", query_text)
    if not isinstance(query, str) or not query:
        raise RescoreError(f"{inner}: give the scorer's `query` text (the search query has no match/multi_match text to take it from)")
    by_name = "profile" in spec and rerankers is not None and not {"scorer", "params"} & set(spec)
    profile = find_profile(spec["profile"], scorers, rerankers) if by_name else scorers.resolve(spec, inner)
    reasoning = check_entry(spec, inner, profile)
    fields = spec.get("fields", list(profile.fields))
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise RescoreError(f"{inner}.fields must be a non-empty list of field names")
    return RankkitRescorer(profile, settings, query, tuple(fields), _number(spec, "min_score", inner, None), reasoning)


def _window(entry: Mapping[str, Any], key: str, where: str, max_window: int | None) -> int:
    window = entry.get(key, DEFAULT_WINDOW)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise RescoreError(f"{where}.{key} must be a positive integer, got {window!r}")
    if max_window is not None and window > max_window:
        raise RescoreError(f"{where}.{key} {window} is larger than this service allows ({max_window})")
    return window


def _number(spec: Mapping[str, Any], key: str, where: str, default: float | None) -> Any:
    """A finite JSON number (not a string, not a boolean): weights and thresholds."""
    if key not in spec:
        return default
    value = spec[key]
    if value is None and default is None:  # an explicit null threshold: none
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise RescoreError(f"{where}.{key} must be a finite number, got {value!r}")
    return float(value)


def document_text(source: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    """The texts of ``fields`` joined like :attr:`rankkit.types.Document.full_text` (``None`` when all are missing)."""
    values = [source.get(f) for f in fields]
    if all(v is None for v in values):
        return None
    texts = [v if isinstance(v, str) else " ".join(map(str, v)) if isinstance(v, list) else "" if v is None else str(v) for v in values]
    head = " ".join(t for t in texts[:-1] if t)
    return f"{head} {texts[-1]}" if head else texts[-1]


def apply_plan(plan: RescorePlan, response: Mapping[str, Any], scorers: ScorerPool, rerankers: RerankerPool | None = None,
               until: float | None = None, max_reasoning_chars: int = Limits.max_reasoning_chars) -> dict[str, Any]:
    """Rescore an ES response to ``plan.upstream_body`` and return the response the user asked for.

    Args:
        plan: The plan.
        response: ES's answer to ``plan.upstream_body``.
        scorers: Where scorer profiles come from.
        rerankers: Where reranker profiles come from (``None``: the plan names none).
        until: ``time.monotonic()`` by which a reranker call must start (``None``: no limit).
        max_reasoning_chars: Most characters of reasoning in a hit's ``_rankkit`` field.

    Raises:
        RescoreError: (400) for hits without scores or without text in the chosen fields; (500) for a
            scorer that fails or returns the wrong number of scores, or non-finite ones, or a reranker that fails.
    """
    by_id, ranking = _hits(response)
    notes: dict[str, Any] = {}
    for rescorer in plan.rescorers:
        window = ranking.top(rescorer.settings.window_size)
        texts = []
        for doc_id in window.doc_ids.tolist():
            text = document_text(by_id[doc_id].get("_source") or {}, rescorer.fields)
            if text is None:
                raise RescoreError(f"hit {doc_id!r} has none of the fields {list(rescorer.fields)} in _source; set "
                                   "`fields` in the rankkit rescorer to the document's text fields", es_type="rankkit_missing_text_exception")
            texts.append(text)
        if isinstance(rescorer.profile, RerankerProfile):
            if rerankers is None:
                raise RescoreError(f"profile {rescorer.profile.name!r} is a reranker, and no reranker pool was given")
            ranking, placed = rerank_window(ranking, texts, rescorer.profile, rescorer.query, rerankers,
                                            rescorer.reasoning, until, max_reasoning_chars)
            notes.update(placed)
            continue
        new = score_texts(scorers, rescorer.profile, rescorer.query, texts)
        ranking = apply_rescore(ranking, new, rescorer.settings)
        if not np.isfinite(ranking.scores).all():
            raise RescoreError(f"the weights of rescorer {rescorer.profile.name!r} overflow the scores (not finite); use smaller weights")
        if rescorer.min_score is not None:
            keep = ranking.scores >= rescorer.min_score
            ranking = Ranking(ranking.query_id, ranking.doc_ids[keep], ranking.scores[keep])
    if plan.limit is not None:
        ranking = ranking.top(plan.limit)
    return _answer(plan, response, by_id, ranking, notes=notes)


def es_order(plan: RescorePlan, response: Mapping[str, Any]) -> dict[str, Any]:
    """The response the user asked for, in Elasticsearch's own order (fail-open: no rankkit rescoring)."""
    by_id, ranking = _hits(response)
    if plan.limit is not None:
        ranking = ranking.top(plan.limit)
    return _answer(plan, response, by_id, ranking, rescored=False)


def _hits(response: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], Ranking]:
    """ES's hits by id (``index/id`` when ids repeat across indices) and their ranking."""
    hits = list((response.get("hits") or {}).get("hits") or [])
    ids = [str(h.get("_id")) for h in hits]
    if len(set(ids)) != len(ids):
        ids = [f"{h.get('_index')}/{h.get('_id')}" for h in hits]
    if any(not isinstance(h.get("_score"), (int, float)) for h in hits):
        raise RescoreError("ES returned hits without _score; a rankkit rescorer needs scored hits (no sort, no score-less query)")
    return dict(zip(ids, hits)), Ranking("rescore", np.array(ids, dtype=str), np.array([h["_score"] for h in hits], dtype=SCORE_DTYPE))


def score_texts(scorers: ScorerPool, profile: ScorerProfile, query: str, texts: Sequence[str]) -> np.ndarray:
    """The profile's scores of ``texts`` against ``query``, one finite float each.

    Raises:
        RescoreError: (500) naming the profile, when its scorer cannot load, fails or returns bad scores.
    """
    if not texts:
        return np.empty(0)
    scorer = scorers.get(profile)
    name = profile.name
    try:
        new = np.asarray(scorer.score(query, list(texts)), dtype=np.float64)
    except Exception as error:  # a scorer's failure is the service's, not the client's
        raise RescoreError(f"scorer profile {name!r} failed: {type(error).__name__}: {error}", status=500,
                           es_type="rankkit_scorer_exception") from None
    if new.shape != (len(texts),) or not np.isfinite(new).all():
        raise RescoreError(f"scorer profile {name!r} returned {new.shape} scores for {len(texts)} documents, or non-finite ones",
                           status=500, es_type="rankkit_scorer_exception")
    return new


def _answer(plan: RescorePlan, response: Mapping[str, Any], by_id: dict[str, dict[str, Any]], ranking: Ranking,
            rescored: bool = True, notes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ES's response with ``ranking``'s ``from``/``size`` slice as its hits (scores and ``sort`` values updated, and
    ``notes``, the ``_rankkit`` fields by doc id, added)."""
    out = copy.copy(dict(response))
    hits_section = dict(response.get("hits") or {})
    chosen = ranking.doc_ids.tolist()[plan.offset : plan.offset + plan.size]
    scores = ranking.scores.tolist()[plan.offset : plan.offset + plan.size]
    hits = []
    for doc_id, score in zip(chosen, scores):
        hit = {**by_id[doc_id], "_score": score}
        if notes and doc_id in notes:
            hit["_rankkit"] = notes[doc_id]
        if rescored and isinstance(hit.get("sort"), list) and hit["sort"]:
            hit["sort"] = [score, *hit["sort"][1:]]  # the _score sort value is the rescored score
        hits.append(plan.source.apply(hit))
    hits_section["hits"] = hits
    hits_section["max_score"] = float(ranking.scores[0]) if len(ranking) else None
    out["hits"] = hits_section
    return out
