"""Scorers built on demand for rescoring requests, by registry name and parameters."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rankkit.errors import RankkitError

from rankkit_elasticsearch.errors import RescoreError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.components import Scorer
    from rankkit.registry import Registry


class ScorerPool:
    """Builds each (scorer, parameters) once and keeps it for later requests.

    Args:
        registry: Where scorers come from; default: every installed plugin.
        allowed: Scorer names requests may use; ``None``: any installed scorer.
        max_scorers: How many distinct (name, parameters) pairs may be built (models cost memory).
    """

    def __init__(self, registry: Registry | None = None, allowed: tuple[str, ...] | None = None, max_scorers: int = 8) -> None:
        self._registry = registry
        self.allowed = allowed
        self.max_scorers = max_scorers
        self._built: dict[str, Scorer] = {}
        self._lock = threading.Lock()

    @property
    def registry(self) -> Registry:
        """The registry (loaded on first use)."""
        if self._registry is None:
            from rankkit.registry import Registry

            self._registry = Registry.load()
        return self._registry

    def add(self, name: str, scorer: Scorer, params: Mapping[str, Any] | None = None) -> None:
        """Register an already built scorer under ``name`` (e.g. one built in Python)."""
        with self._lock:
            self._built[_key(name, params or {})] = scorer

    def loaded(self) -> list[str]:
        """Keys of the scorers built so far."""
        return sorted(self._built)

    def get(self, name: str, params: Mapping[str, Any] | None = None) -> Scorer:
        """The scorer ``name`` with ``params``.

        Raises:
            RescoreError: (400) for a scorer that is unknown, not allowed, mis-parameterised, or one too many.
        """
        if not isinstance(name, str) or not name:
            raise RescoreError("rankkit rescorer: `scorer` must be a non-empty string naming an installed rankkit scorer")
        if not isinstance(params or {}, Mapping):
            raise RescoreError(f"rankkit rescorer: `params` of scorer {name!r} must be an object")
        key = _key(name, params or {})
        scorer = self._built.get(key)
        if scorer is not None:
            return scorer
        if self.allowed is not None and name not in self.allowed:
            raise RescoreError(f"rankkit rescorer: scorer {name!r} is not enabled on this service; enabled: {', '.join(self.allowed)}")
        with self._lock:
            if key in self._built:
                return self._built[key]
            if len(self._built) >= self.max_scorers:
                raise RescoreError(f"rankkit rescorer: this service keeps at most {self.max_scorers} scorers loaded; "
                                   f"reuse one of: {', '.join(sorted(self._built))}")
            try:
                scorer = self.registry.build("scorer", name, **dict(params or {}))
            except RankkitError as error:
                raise RescoreError(f"rankkit rescorer: {error}") from None
            self._built[key] = scorer
            return scorer


def _key(name: str, params: Mapping[str, Any]) -> str:
    return f"{name}{json.dumps(dict(params), sort_keys=True, default=str)}" if params else name
