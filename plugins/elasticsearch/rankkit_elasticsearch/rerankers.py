"""Rerankers for rescoring requests: the operator's reranker profiles, built once, called one request at a time.

A reranker profile names a registered reranker (``rank-r1``, ``random``, ...)
and its parameters; :meth:`RerankerPool.check` validates them against the
registry's schema without building anything (the service does so when it starts),
and :meth:`RerankerPool.get` builds a profile's reranker on first use and keeps it.

A reranker keeps state across calls (a reasoning reranker's statistics and
traces), so each profile serves one call at a time: the pool reads the call's
trace (``traces()``, when the reranker keeps them) and then forgets it
(``reset()``), so a long-running service holds no traces but the current one.
The query id a reranker sees is derived from the query text, so a reranker whose
order depends on it (``random``) orders the same query the same way every time,
and the pages of a reranked search are slices of one ranking.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.errors import ConfigError, RankkitError

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.profiles import RerankerProfile
from rankkit_elasticsearch.scoring import ScoringTimeout

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.components import Reranker
    from rankkit.registry import Registry
    from rankkit.types import Ranking


@dataclass(frozen=True)
class Reranked:
    """One reranker call's result.

    Attributes:
        order: Positions of the input documents, best first (every input once).
        trace: The reranker's trace of the call's query (``None`` when it keeps none).
    """

    order: list[int]
    trace: Mapping[str, Any] | None


class RerankerPool:
    """Builds each reranker profile's reranker once, on first use, and calls it one request at a time.

    Args:
        registry: Where rerankers come from (``rankkit serve`` passes the CLI's registry).
        profiles: The reranker profiles requests may use.
    """

    def __init__(self, registry: Registry, profiles: Iterable[RerankerProfile] = ()) -> None:
        self.registry = registry
        self._profiles = {p.name: p for p in profiles}
        self._built: dict[str, Reranker] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._calls = {name: threading.Lock() for name in self._profiles}

    @property
    def profiles(self) -> dict[str, RerankerProfile]:
        """The declared reranker profiles, by name."""
        return dict(self._profiles)

    def add(self, name: str, reranker: Reranker, **options: Any) -> RerankerProfile:
        """Declare a profile ``name`` served by an already built ``reranker`` (``options``: :class:`RerankerProfile` fields)."""
        profile = RerankerProfile(name=name, reranker=options.pop("reranker", name), **options)
        with self._lock:
            self._profiles[name] = profile
            self._calls.setdefault(name, threading.Lock())
            self._built[name] = reranker
        return profile

    def loaded(self) -> list[str]:
        """Names of the profiles built so far."""
        return sorted(self._built)

    def check(self) -> None:
        """Validate every profile's parameters against its reranker's schema in the registry (builds nothing).

        Raises:
            ConfigError: Naming the profile, for an unknown reranker or a bad parameter.
        """
        from rankkit.registry import validate_params

        for name, profile in sorted(self._profiles.items()):
            if name in self._built:
                continue
            try:
                spec = self.registry.get("reranker", profile.reranker).spec
            except ConfigError as error:
                raise ConfigError(f"profile {name!r}: {error}") from None
            validate_params(spec, profile.params, where=f"profile {name!r} (reranker {profile.reranker!r})")

    def get(self, profile: RerankerProfile | str) -> Reranker:
        """The reranker of ``profile``, built on first use.

        Raises:
            RescoreError: (400) for an undeclared profile; (500) when it cannot be built, or (``expose_reasoning``)
                keeps no traces; the failure is not kept, the next call tries again.
        """
        name = profile if isinstance(profile, str) else profile.name
        if name not in self._profiles:
            raise RescoreError(f"unknown reranker profile {name!r}; this service offers: "
                               f"{', '.join(sorted(self._profiles)) or 'none'}", es_type="resource_not_found_exception")
        profile = self._profiles[name]
        reranker = self._built.get(name)
        if reranker is not None:
            return reranker
        with self._lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            if name in self._built:
                return self._built[name]
            where = f"reranker profile {name!r} (reranker {profile.reranker!r}) cannot be loaded"
            try:
                reranker = self.registry.build("reranker", profile.reranker, **dict(profile.params))
            except RankkitError as error:
                raise RescoreError(f"{where}: {error}", status=500, es_type="rankkit_profile_load_exception") from None
            except Exception as error:  # a model that fails to load: any library's error
                raise RescoreError(f"{where}: {type(error).__name__}: {error}", status=500,
                                   es_type="rankkit_profile_load_exception") from None
            if profile.expose_reasoning and not callable(getattr(reranker, "traces", None)):
                raise RescoreError(f"{where}: expose_reasoning needs a reranker that keeps traces (traces()); "
                                   f"{type(reranker).__name__} keeps none", status=500,
                                   es_type="rankkit_profile_load_exception")
            with self._lock:
                self._built[name] = reranker
            return reranker

    def rerank(self, profile: RerankerProfile, query: str, window: Ranking, until: float | None = None) -> Reranked:
        """Reorder ``window`` (a ranking that carries its texts) for ``query`` with the profile's reranker.

        Args:
            profile: The reranker profile.
            query: The query text.
            window: The documents, in their current order, with texts.
            until: ``time.monotonic()`` by which the call must start (the request's deadline); ``None``: no limit.

        Raises:
            RescoreError: 504 when the profile is still busy at ``until``; 500 when the reranker fails, returns
                documents it was not given, or reports that this query failed (a backend that did not answer).
        """
        from rankkit.types import Query, Ranking

        reranker = self.get(profile)
        wait = -1 if until is None else max(until - time.monotonic(), 0.0)
        lock = self._calls[profile.name]
        if not lock.acquire(timeout=wait):
            raise ScoringTimeout(f"reranker profile {profile.name!r} was busy until the request's deadline")
        query_id = "rankkit-serve-" + hashlib.sha256(query.encode("utf-8", "replace")).hexdigest()[:16]
        try:
            ranking = Ranking(query_id, window.doc_ids, window.scores, window.texts)
            try:
                [out] = reranker.rerank([Query(query_id, query)], [ranking])
            except Exception as error:  # a reranker's failure is the service's, not the client's
                raise _failed(profile, f"{type(error).__name__}: {error}") from None
            trace = _trace_of(reranker, query_id)
        finally:
            reset = getattr(reranker, "reset", None)
            if callable(reset):
                reset()
            lock.release()
        if trace is not None and trace.get("failed"):
            raise _failed(profile, str(trace.get("error") or "the reranker marked the query failed"))
        return Reranked(_order(profile, window.doc_ids.tolist(), out), trace)


def _trace_of(reranker: Any, query_id: str) -> Mapping[str, Any] | None:
    """The reranker's trace of ``query_id`` (``None`` when it keeps no traces or none for that query)."""
    traces = getattr(reranker, "traces", None)
    if not callable(traces):
        return None
    found = [t for t in traces() if isinstance(t, Mapping) and t.get("query_id") == query_id]
    return found[-1] if found else None


def _order(profile: RerankerProfile, doc_ids: Sequence[str], out: Any) -> list[int]:
    """Positions of ``doc_ids`` in the reranker's output; documents it left out follow in their input order.

    Raises:
        RescoreError: (500) for an output that is no ranking, or holds a document twice or one it was not given.
    """
    returned = getattr(out, "doc_ids", None)
    if returned is None:
        raise _failed(profile, f"returned {type(out).__name__}, not a Ranking")
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    order = [position.get(str(d), -1) for d in np.asarray(returned).tolist()]
    if -1 in order or len(set(order)) != len(order):
        raise _failed(profile, "returned documents it was not given, or one twice")
    seen = set(order)
    return order + [i for i in range(len(doc_ids)) if i not in seen]


def _failed(profile: RerankerProfile, reason: str) -> RescoreError:
    return RescoreError(f"reranker profile {profile.name!r} failed: {reason}", status=500,
                        es_type="rankkit_reranker_exception")
