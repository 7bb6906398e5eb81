"""What the operator of ``rankkit serve`` allows: scorer and reranker profiles, limits and the upstream, from one TOML file.

A client never names a scorer's or reranker's parameters: it picks a *profile*
the operator declared, and may set only the rescore weights, ``score_mode``, the
window (up to the limit), the text fields and (reranker profiles that expose it)
whether hits carry the reasoning that placed them::

    # serve.toml
    default_profile = "ce"            # what /rerank uses when the request names none

    [limits]
    max_body_bytes = 1048576          # 413 above
    max_window = 1000                 # window_size / rank_window_size / /rerank documents (400 above)
    max_rescorers = 4                 # rankkit rescore entries per request (400 above)
    max_concurrent_scoring = 2        # scoring jobs running at once; the rest wait in line
    max_queued_scoring = 64           # jobs waiting beyond that get 429 at once
    timeout = 30.0                    # seconds per request: body, upstream call + scoring (504 after)
    allow_writes = false              # forward DELETE/PUT/_bulk/index admin (403 otherwise)
    max_response_bytes = 268435456    # largest upstream answer relayed (502 above)
    max_connections = 512             # client connections at once (503 beyond)
    max_reasoning_chars = 2000        # longest reasoning a hit's _rankkit.reasoning carries (cut beyond)

    [upstream]                        # or $RANKKIT_ES_URL, $RANKKIT_ES_API_KEY, ... (see rankkit_elasticsearch.upstream)
    url = "https://es.internal:9200"
    ca_certs = "/etc/rankkit/http_ca.crt"

    [profiles.ce]
    scorer = "cross-encoder"
    params = {model = "/models/scifact-ce", max_length = 256}
    fields = ["title", "text"]        # default text fields (a request may name others)
    allow_rerank_failures = false     # true: on a scoring failure or timeout, answer with ES's own ranking
    passage_words = 0                 # > 0: score a document as the max over passages of this many words (MaxP)
    passage_stride = 0                # words between passage starts (default: passage_words / 2)

    [profiles.r1]                     # a reranker profile: `reranker` instead of `scorer`
    reranker = "rank-r1"
    params = {backend = "openai", base_url = "http://127.0.0.1:8080/v1", api_model = "rank-r1", k = 10, window = 20}
    fields = ["title", "text"]
    allow_rerank_failures = false
    expose_reasoning = true           # requests may ask for each hit's reasoning ("reasoning": true)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rankkit.config import load_toml
from rankkit.errors import ConfigError

DEFAULT_FIELDS = ("title", "text")


@dataclass(frozen=True)
class ScorerProfile:
    """A scorer a client may use, by name, with parameters only the operator sets.

    Attributes:
        name: What clients send (``"profile": name``, ``inference_id``, ``/rerank``'s ``model``).
        scorer: Registry name of the scorer.
        params: Its parameters, fixed.
        fields: Default ``_source`` fields whose texts, joined, are the document text.
        allow_rerank_failures: On a scoring failure or timeout, answer with Elasticsearch's own ranking
            (a ``Warning`` header and a ``rankkit`` field say so) instead of an error.
        passage_words: When positive, a document's score is the maximum over its passages of this many
            whitespace-separated words (MaxP), for scorers with a short maximum length.
        passage_stride: Words between the starts of consecutive passages (0: half of ``passage_words``).
    """

    name: str
    scorer: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = DEFAULT_FIELDS
    allow_rerank_failures: bool = False
    passage_words: int = 0
    passage_stride: int = 0

    def __post_init__(self) -> None:
        where = check_profile("scorer", self.name, self.params, self.fields)
        if not isinstance(self.scorer, str) or not self.scorer:
            raise ConfigError(f"{where}: `scorer` must name an installed rankkit scorer (a reranker profile gives `reranker`)")
        for key in ("passage_words", "passage_stride"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: `{key}` must be a non-negative integer, got {value!r}")
        if self.passage_stride > self.passage_words:
            raise ConfigError(f"{where}: passage_stride ({self.passage_stride}) is larger than passage_words "
                              f"({self.passage_words}); words between passages would never be scored")

    @property
    def stride(self) -> int:
        """Words between passage starts (``passage_stride``, else half a passage, at least 1)."""
        return self.passage_stride or max(1, self.passage_words // 2)

    @property
    def key(self) -> str:
        """Identity of the scorer this profile builds (scorer name and parameters)."""
        return f"{self.scorer}{json.dumps(dict(self.params), sort_keys=True, default=str)}"


@dataclass(frozen=True)
class RerankerProfile:
    """A reranker a client may use, by name, with parameters only the operator sets.

    A reranker orders a list as a whole (setwise, listwise): a rescore window that names its profile is
    reordered as the reranker decides, above the hits below the window.

    Attributes:
        name: What clients send (``"profile": name``, ``inference_id``, ``/rerank``'s ``model``).
        reranker: Registry name of the reranker.
        params: Its parameters, fixed (checked against the registry's schema when the service starts).
        fields: Default ``_source`` fields whose texts, joined, are the document text.
        allow_rerank_failures: On a reranker failure or timeout, answer with Elasticsearch's own ranking
            (a ``Warning`` header and a ``rankkit`` field say so) instead of an error.
        expose_reasoning: Requests may ask (``"reasoning": true``) for each reordered hit's ``_rankkit`` field: the
            reasoning of the reranker's call that placed it (the reranker must keep traces).
    """

    name: str
    reranker: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = DEFAULT_FIELDS
    allow_rerank_failures: bool = False
    expose_reasoning: bool = False

    def __post_init__(self) -> None:
        where = check_profile("reranker", self.name, self.params, self.fields)
        if not isinstance(self.reranker, str) or not self.reranker:
            raise ConfigError(f"{where}: `reranker` must name an installed rankkit reranker")
        for key in ("allow_rerank_failures", "expose_reasoning"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{where}: `{key}` must be true or false, got {getattr(self, key)!r}")


Profile = ScorerProfile | RerankerProfile


@dataclass(frozen=True)
class Limits:
    """What one request, and all of them together, may cost.

    Attributes:
        max_body_bytes: Largest request body (413 above).
        max_window: Largest rescoring window, ``rank_window_size`` and ``/rerank`` input (400 above).
        max_rescorers: Most ``rankkit`` rescore entries in one request (400 above).
        max_concurrent_scoring: Scoring jobs that run at once.
        max_queued_scoring: Scoring jobs that may wait for a slot; more get 429 at once.
        timeout: Seconds a request may take, reading its body, the upstream call and scoring together (504 after).
        allow_writes: Forward requests that change data or settings (DELETE, PUT, ``_bulk``, index admin).
        max_response_bytes: Largest upstream answer relayed (502 above).
        max_connections: Open client connections served at once (uvicorn answers 503 beyond).
        max_reasoning_chars: Most characters of reasoning a hit's ``_rankkit.reasoning`` carries (cut beyond,
            with ``"truncated": true``).
    """

    max_body_bytes: int = 1 << 20
    max_window: int = 1000
    max_rescorers: int = 4
    max_concurrent_scoring: int = 2
    max_queued_scoring: int = 64
    timeout: float = 30.0
    allow_writes: bool = False
    max_response_bytes: int = 256 << 20
    max_connections: int = 512
    max_reasoning_chars: int = 2000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise ConfigError(f"limits.{f.name} must be true or false, got {value!r}")
                continue
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not numeric or not value > 0 or value == float("inf") or (f.type == "int" and not isinstance(value, int)):
                raise ConfigError(f"limits.{f.name} must be a positive {'integer' if f.type == 'int' else 'number'}, got {value!r}")


@dataclass(frozen=True)
class ServeConfig:
    """A parsed ``rankkit serve`` configuration file.

    Attributes:
        profiles: Scorer profiles by name.
        default_profile: The profile ``/rerank`` uses when a request names none ("" for none).
        limits: Request and scoring limits.
        upstream: The ``[upstream]`` table as written (URL and credentials; see :mod:`rankkit_elasticsearch.upstream`).
        rerankers: Reranker profiles by name (``[profiles.NAME]`` tables with ``reranker``).
    """

    profiles: Mapping[str, ScorerProfile] = field(default_factory=dict)
    default_profile: str = ""
    limits: Limits = field(default_factory=Limits)
    upstream: Mapping[str, Any] = field(default_factory=dict, repr=False)
    rerankers: Mapping[str, RerankerProfile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {*self.profiles, *self.rerankers}
        if self.default_profile and self.default_profile not in names:
            raise ConfigError(f"default_profile {self.default_profile!r} is not a declared profile "
                              f"({', '.join(sorted(names)) or 'none declared'})")


_TOP_KEYS = {"default_profile", "limits", "upstream", "profiles"}
_PROFILE_KEYS = {f.name for f in fields(ScorerProfile)} - {"name"}
_RERANKER_KEYS = {f.name for f in fields(RerankerProfile)} - {"name"}
_LIMIT_KEYS = {f.name for f in fields(Limits)}


def load_config(path: str | Path) -> ServeConfig:
    """Read a ``rankkit serve`` configuration file (TOML).

    Raises:
        ConfigError: Naming the file and the key that is wrong.
    """
    data = load_toml(path)
    try:
        return config_from_mapping(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_from_mapping(data: Mapping[str, Any]) -> ServeConfig:
    """A :class:`ServeConfig` from a parsed TOML document.

    Raises:
        ConfigError: For an unknown key or a bad value, naming it.
    """
    _known(data, _TOP_KEYS, "")
    profiles: dict[str, ScorerProfile] = {}
    rerankers: dict[str, RerankerProfile] = {}
    tables = data.get("profiles", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("[profiles] must be a table of tables ([profiles.NAME])")
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[profiles.{name}] must be a table")
        reranks = "reranker" in table
        if reranks and "scorer" in table:
            raise ConfigError(f"[profiles.{name}] names both a `scorer` and a `reranker`; a profile serves one")
        _known(table, _RERANKER_KEYS if reranks else _PROFILE_KEYS, f"profiles.{name}.")
        values = dict(table)
        if "fields" in values:
            values["fields"] = tuple([values["fields"]] if isinstance(values["fields"], str) else values["fields"])
        if reranks:
            rerankers[name] = RerankerProfile(name=name, **values)
            continue
        values.setdefault("scorer", "")
        profiles[name] = ScorerProfile(name=name, **values)
    limits = data.get("limits", {})
    if not isinstance(limits, Mapping):
        raise ConfigError("[limits] must be a table")
    _known(limits, _LIMIT_KEYS, "limits.")
    upstream = data.get("upstream", {})
    if not isinstance(upstream, Mapping):
        raise ConfigError("[upstream] must be a table")
    default = data.get("default_profile", "")
    if not isinstance(default, str):
        raise ConfigError(f"default_profile must be a profile name, got {default!r}")
    return ServeConfig(profiles, default, Limits(**limits), dict(upstream), rerankers)


def profile_from_spec(spec: str) -> ScorerProfile:
    """A profile from the command line's ``--scorer NAME`` or ``--scorer NAME:{json params}`` (named NAME).

    Raises:
        ConfigError: For parameters that are not a JSON object.
    """
    name, _, text = spec.partition(":")
    try:
        params = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"--scorer {spec!r}: parameters after ':' must be JSON ({error})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"--scorer {spec!r}: parameters after ':' must be a JSON object")
    return ScorerProfile(name=name, scorer=name, params=params)


def _known(table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; valid: "
                          f"{', '.join(prefix + k for k in sorted(allowed))}")


def check_profile(kind: str, name: Any, params: Any, fields: Any) -> str:
    """The checks every profile shares: a name, a ``params`` table and a non-empty ``fields`` list.

    Args:
        kind: ``"scorer"`` or ``"reranker"`` (for the messages).
        name: The profile's name.
        params: Its component parameters.
        fields: The hit fields whose text it reads.

    Returns:
        ``profile 'NAME'``, the prefix of the profile's other messages.

    Raises:
        ConfigError: Naming the profile and the key.
    """
    if not name or not isinstance(name, str):
        raise ConfigError(f"a {kind} profile needs a non-empty name")
    where = f"profile {name!r}"
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: `params` must be a table")
    if not fields or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"{where}: `fields` must be a non-empty list of field names")
    return where
