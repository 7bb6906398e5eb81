"""Scorers for rescoring requests: declared profiles (the proxy) or scorers named by the caller (the client API).

``rankkit serve`` builds a :class:`ScorerPool` over the operator's profiles:
a request can only pick one by name, and a request that names a scorer or its
parameters is refused. The in-process client API, whose caller is trusted,
uses a pool without profiles, where an entry names ``scorer`` and ``params``
itself (at most ``max_scorers`` distinct ones are kept).

A scorer that fails to load is not kept: the error names the profile, and the
next request tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rankkit.errors import ConfigError, RankkitError

from rankkit_elasticsearch.errors import RescoreError
from rankkit_elasticsearch.profiles import ScorerProfile

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.components import Scorer
    from rankkit.registry import Registry


class ScorerPool:
    """Builds each profile's scorer once, on first use, and keeps it.

    Args:
        registry: Where scorers come from: the one registry of the caller (``rankkit serve`` passes the
            CLI's, so ``--disable-plugin`` and ``--strict`` apply; a library caller passes its own).
        profiles: The profiles requests may use. ``None``: no profiles, and entries name
            ``scorer`` and ``params`` themselves (for trusted, in-process callers only).
        max_scorers: Without profiles, how many distinct (scorer, parameters) pairs may be built.
    """

    def __init__(self, registry: Registry, profiles: Iterable[ScorerProfile] | None = None,
                 max_scorers: int = 8) -> None:
        if registry is None:
            raise ConfigError("ScorerPool needs the plugin registry its scorers come from: ScorerPool(registry, ...) "
                              "with the Registry of the caller (rankkit serve passes the CLI's)")
        self.registry = registry
        self.adhoc = profiles is None
        self._profiles: dict[str, ScorerProfile] = {p.name: p for p in profiles or ()}
        self.max_scorers = max_scorers
        self._built: dict[str, Scorer] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    @property
    def profiles(self) -> dict[str, ScorerProfile]:
        """The declared profiles, by name."""
        return dict(self._profiles)

    def add(self, name: str, scorer: Scorer, **options: Any) -> ScorerProfile:
        """Declare a profile ``name`` served by an already built ``scorer`` (``options``: :class:`ScorerProfile` fields)."""
        profile = ScorerProfile(name=name, scorer=options.pop("scorer", name), **options)
        with self._lock:
            self._profiles[name] = profile
            self._built[name] = _with_passages(profile, scorer)
        return profile

    def loaded(self) -> list[str]:
        """Names of the profiles (or ad hoc scorer keys) built so far."""
        return sorted(self._built)

    def profile(self, name: Any) -> ScorerProfile:
        """The declared profile ``name``.

        Raises:
            RescoreError: (400) naming the declared profiles.
        """
        if not isinstance(name, str) or name not in self._profiles:
            declared = ", ".join(sorted(self._profiles)) or "none"
            raise RescoreError(f"unknown scorer profile {name!r}; this service offers: {declared}",
                               es_type="resource_not_found_exception" if isinstance(name, str) else "illegal_argument_exception")
        return self._profiles[name]

    def resolve(self, spec: Mapping[str, Any], where: str) -> ScorerProfile:
        """The profile a rescore entry asks for: ``profile`` by name, or (without profiles) ``scorer`` and ``params``.

        Raises:
            RescoreError: (400) for an unknown profile, or scorer parameters sent to a service with profiles.
        """
        if "profile" in spec:
            if "scorer" in spec or "params" in spec:
                raise RescoreError(f"{where}: give `profile` alone; its scorer and parameters are fixed")
            return self.profile(spec["profile"])
        if not self.adhoc:
            raise RescoreError(f"{where}: name a scorer profile (`\"profile\": NAME`); this service does not take scorer "
                               f"names or parameters from requests. Profiles: {', '.join(sorted(self._profiles)) or 'none'}")
        scorer, params = spec.get("scorer"), spec.get("params", {})
        if not isinstance(scorer, str) or not scorer:
            raise RescoreError(f"{where}.scorer must name an installed rankkit scorer (or give `profile`)")
        if not isinstance(params, Mapping):
            raise RescoreError(f"{where}.params must be an object")
        profile = ScorerProfile(name=scorer, scorer=scorer, params=dict(params))
        return replace(profile, name=profile.key) if params else profile

    def get(self, profile: ScorerProfile | str) -> Scorer:
        """The scorer of ``profile`` (a profile or a declared profile's name), built on first use.

        Raises:
            RescoreError: (400) for an unknown profile or, without profiles, one scorer too many; (500) when the
                scorer cannot be built, naming the profile (the failure is not kept: the next call tries again).
        """
        if isinstance(profile, str):
            profile = self.profile(profile)
        scorer = self._built.get(profile.name)
        if scorer is not None:
            return scorer
        with self._lock:
            if self.adhoc and len(self._built) >= self.max_scorers and profile.name not in self._built:
                raise RescoreError(f"rankkit rescorer: at most {self.max_scorers} scorers are kept loaded; "
                                   f"reuse one of: {', '.join(sorted(self._built))}")
            loading = self._loading.setdefault(profile.name, threading.Lock())
        with loading:  # one load per profile at a time; others wait for it
            if profile.name in self._built:
                return self._built[profile.name]
            try:
                scorer = self.registry.build("scorer", profile.scorer, **dict(profile.params))
            except RankkitError as error:
                status, kind = (400, "illegal_argument_exception") if self.adhoc else (500, "rankkit_profile_load_exception")
                raise RescoreError(f"scorer profile {profile.name!r} (scorer {profile.scorer!r}) cannot be loaded: {error}",
                                   status=status, es_type=kind) from None
            except Exception as error:  # a model file that fails to load: any library's error
                raise RescoreError(f"scorer profile {profile.name!r} (scorer {profile.scorer!r}) cannot be loaded: "
                                   f"{type(error).__name__}: {error}", status=500, es_type="rankkit_profile_load_exception") from None
            scorer = _with_passages(profile, scorer)
            with self._lock:
                self._built[profile.name] = scorer
            return scorer


def _with_passages(profile: ScorerProfile, scorer: Scorer) -> Scorer:
    """``scorer``, scoring each document by its best passage when the profile asks for MaxP."""
    if not profile.passage_words:
        return scorer
    from rankkit_elasticsearch.scoring import MaxPassageScorer

    return MaxPassageScorer(scorer, profile.passage_words, profile.stride)
