"""A search's ``_source`` filter: widened for the fields rankkit scores, then applied as the client asked.

A rescored search needs the text fields in every hit, whatever the client's
``_source`` says, so the proxy asks ES for a wider ``_source`` and filters each
hit back to the client's request afterwards, with Elasticsearch's semantics:
patterns with ``*`` wildcards, dotted paths into objects (and arrays of objects),
excludes applied after includes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from rankkit_elasticsearch.errors import RescoreError


@dataclass(frozen=True)
class SourceFilter:
    """A parsed ``_source`` request.

    Attributes:
        enabled: ``False`` for ``"_source": false``.
        includes: Include patterns (empty: everything).
        excludes: Exclude patterns.
    """

    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, source: Any) -> SourceFilter:
        """Read ``_source`` as ES takes it: a boolean, a pattern, a list of them, or ``{includes, excludes}``.

        Raises:
            RescoreError: (400) for any other shape.
        """
        if source is None or source is True:
            return cls()
        if source is False:
            return cls(enabled=False)
        if isinstance(source, (str, list)):
            return cls(includes=_patterns(source, "_source"))
        if isinstance(source, Mapping) and set(source) <= {"includes", "include", "excludes", "exclude"}:
            return cls(includes=_patterns(source.get("includes", source.get("include", [])), "_source.includes"),
                       excludes=_patterns(source.get("excludes", source.get("exclude", [])), "_source.excludes"))
        raise RescoreError("[_source] must be true, false, a field pattern, a list of them, or {\"includes\", \"excludes\"}")

    def widened(self, fields: set[str]) -> Any:
        """The ``_source`` to ask ES for, so that ``fields`` are in every hit."""
        if not self.enabled:
            return sorted(fields)
        includes = sorted(set(self.includes) | fields) if self.includes else []
        excludes = [e for e in self.excludes if not any(fnmatchcase(f, e) for f in fields)]
        if not excludes:
            return includes or True
        return {"includes": includes, "excludes": excludes}

    def apply(self, hit: dict[str, Any]) -> dict[str, Any]:
        """``hit`` with its ``_source`` filtered as the client asked (removed for ``_source: false``)."""
        if not self.enabled:
            hit.pop("_source", None)
        elif isinstance(hit.get("_source"), Mapping) and (self.includes or self.excludes):
            hit["_source"] = _filter(hit["_source"], self.includes, self.excludes, "")
        return hit


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RescoreError(f"[{where}] must be a field pattern or a list of them")
    return tuple(values)


def _filter(doc: Mapping[str, Any], includes: tuple[str, ...], excludes: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Keep the paths that match an include (or lie under one) and no exclude, like ES's source filtering."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if any(fnmatchcase(path, e) for e in excludes):
            continue
        included = not includes or any(fnmatchcase(path, i) for i in includes)
        rest = () if included else includes  # below an included path, everything is included
        if isinstance(value, Mapping):
            inner = _filter(value, rest, excludes, path + ".")
            if included or inner:
                out[key] = inner
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            items = [_filter(v, rest, excludes, path + ".") if isinstance(v, Mapping) else v for v in value]
            items = [v for v in items if included or (isinstance(v, dict) and v)]
            if included or items:
                out[key] = items
        elif included:
            out[key] = value
    return out
