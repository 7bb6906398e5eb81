"""``rankkit serve``: an Elasticsearch proxy that runs rankkit scorer and reranker profiles on search hits, and ``/rerank``.

* ``GET|POST /{index}/_search`` (and ``/_search``): a body with a ``rankkit``
  rescore entry, or a ``text_similarity_reranker`` retriever whose
  ``inference_id`` is a profile, is planned (:mod:`rankkit_elasticsearch.plan`),
  sent upstream and rescored (or, for a reranker profile, reordered:
  :mod:`rankkit_elasticsearch.reranking`); any other search goes upstream untouched.
* Reads (``GET``, ``HEAD``, read-only ``POST`` such as ``_count`` or ``_mget``)
  go upstream untouched; writes and admin (``DELETE``, ``PUT``, ``_bulk``, ...)
  only when the operator allows them (403 otherwise).
* ``POST /rerank``: Cohere's, TEI's and ES ``custom`` inference's request and
  response shapes (:mod:`rankkit_elasticsearch.rerank_api`).
* ``GET /_rankkit/health``: 200 when the upstream answers, 503 when it does not;
  profiles and load only for authenticated callers.

Every request is treated as hostile: the raw path is checked and forwarded as
received (:mod:`rankkit_elasticsearch.routes`), bodies, windows and rescorers
are bounded, scoring runs on a bounded pool within the request's deadline
(:mod:`rankkit_elasticsearch.scoring`), and errors have Elasticsearch's shape.
One access log line per request (logger ``rankkit_elasticsearch.access``).

Upstream calls go through one pooled :class:`aiohttp.ClientSession`: side by side
against the same Elasticsearch (window 100, SciFact) it was about 3 ms faster per
request than ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rankkit.errors import ConfigError

from rankkit_elasticsearch.errors import RescoreError, es_error
from rankkit_elasticsearch.plan import RescorePlan, apply_plan, es_order, find_profile, plan_search, score_texts
from rankkit_elasticsearch.profiles import Limits, RerankerProfile
from rankkit_elasticsearch.rerank_api import parse_rerank, rerank_response
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.reranking import rank_texts
from rankkit_elasticsearch.routes import Target, parse_target, printable_path
from rankkit_elasticsearch.scorers import ScorerPool
from rankkit_elasticsearch.scoring import ScoringGate, by_deadline
from rankkit_elasticsearch.upstream import Upstream

_HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                "transfer-encoding", "upgrade", "host", "content-length", "authorization", "cookie"}
#: Client headers forwarded upstream; any other (``es-security-runas-user``, ``expect``, ...) is dropped.
_FORWARDED_HEADERS = {"content-type", "accept", "content-encoding", "accept-encoding", "x-opaque-id", "traceparent",
                      "tracestate", "user-agent", "x-elastic-client-meta", "elastic-api-version"}
_NON_JSON = ("smile", "cbor", "yaml")
HEALTH_PATH = "/_rankkit/health"
PROFILE_SCOPE_KEY = "rankkit.profiles"
access_log = logging.getLogger("rankkit_elasticsearch.access")


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs.

    Attributes:
        upstream: The Elasticsearch server and rankkit's credentials for it (a URL string is taken as one without).
        token: Bearer token required on every route but health; empty: none (loopback only, see the CLI).
        limits: Request, scoring and forwarding limits.
        default_profile: The profile ``/rerank`` uses when a request names none.
    """

    upstream: Upstream | str = field(default_factory=Upstream)
    token: str = field(default="", repr=False)
    limits: Limits = field(default_factory=Limits)
    default_profile: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.upstream, str):
            object.__setattr__(self, "upstream", Upstream(url=self.upstream.rstrip("/")))


@dataclass(frozen=True)
class _Answer:
    """An upstream response, read whole (status, headers, body)."""

    status: int
    headers: Mapping[str, str]
    content: bytes


def create_app(settings: ServeSettings, scorers: ScorerPool, rerankers: RerankerPool | None = None) -> FastAPI:
    """The ASGI application (serve it with uvicorn).

    Args:
        settings: How the service runs.
        scorers: The scorer profiles.
        rerankers: The reranker profiles (``None``: none); their parameters are checked against the registry here.

    Raises:
        ConfigError: For a pool without declared profiles (it would let clients pick any scorer and parameters),
            a default profile that is not declared, a profile name declared twice, or reranker parameters the
            registry's schema refuses.
    """
    if scorers.adhoc:
        raise ConfigError("rankkit serve needs a ScorerPool of declared profiles (ScorerPool(registry, profiles=[...])); "
                          "a pool without profiles takes scorer names and parameters from requests")
    rerankers = rerankers if rerankers is not None else RerankerPool(scorers.registry)
    rerankers.check()
    twice = sorted(set(scorers.profiles) & set(rerankers.profiles))
    if twice:
        raise ConfigError(f"profile name(s) {twice} are declared both as scorer and as reranker profiles")
    if settings.default_profile:
        try:
            find_profile(settings.default_profile, scorers, rerankers)
        except RescoreError as error:
            raise ConfigError(f"default_profile: {error}") from None
    limits = settings.limits
    upstream_conf: Upstream = settings.upstream  # type: ignore[assignment]
    base = upstream_conf.url.rstrip("/")
    state: dict[str, Any] = {}
    gate = ScoringGate(limits.max_concurrent_scoring, limits.max_queued_scoring)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        gate.close()
        if "client" in state:
            await state["client"].close()

    app = FastAPI(title="rankkit rescoring proxy", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def client() -> aiohttp.ClientSession:
        if "client" not in state:  # created inside the server's event loop, on the first request
            connector = aiohttp.TCPConnector(limit=64, ssl=upstream_conf.aiohttp_ssl())
            state["client"] = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
        return state["client"]

    def headers_for_upstream(request: Request | None) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS} if request else {}
        if upstream_conf.authorization:
            headers["Authorization"] = upstream_conf.authorization
        return headers

    async def fetch(method: str, target: str, deadline: float, request: Request | None = None, data: bytes | None = None,
                    headers: dict[str, str] | None = None) -> _Answer:
        """One upstream call of ``target`` (raw path and query, sent as they are) by ``deadline``, read whole.

        Raises:
            RescoreError: 504 past the deadline, 502 when the upstream cannot be reached.
        """
        import yarl

        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            async with client().request(method, yarl.URL(base + target, encoded=True), data=data or None,
                                        headers=headers if headers is not None else headers_for_upstream(request),
                                        timeout=aiohttp.ClientTimeout(total=remaining), allow_redirects=False) as answer:
                chunks, size = [], 0
                async for chunk in answer.content.iter_any():
                    size += len(chunk)
                    if size > limits.max_response_bytes:
                        raise RescoreError(f"upstream Elasticsearch answered with more than {limits.max_response_bytes} "
                                           "bytes; this service relays at most that (limits.max_response_bytes)",
                                           status=502, es_type="content_too_long_exception")
                    chunks.append(chunk)
                return _Answer(answer.status, answer.headers, b"".join(chunks))
        except asyncio.TimeoutError:  # aiohttp's timeouts subclass it
            raise RescoreError(f"upstream Elasticsearch {base} did not answer within {limits.timeout:g} s",
                               status=504, es_type="upstream_timeout_exception") from None
        except aiohttp.ClientError as error:
            raise RescoreError(f"upstream Elasticsearch {base} is unreachable ({type(error).__name__})",
                               status=502, es_type="upstream_unavailable_exception") from None

    @app.exception_handler(RescoreError)
    async def _rescore_error(request: Request, error: RescoreError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="rankkit"'} if error.status == 401 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logging.getLogger("rankkit_elasticsearch.serve").exception("unexpected error")
        return JSONResponse(es_error("rankkit_internal_exception", f"{type(error).__name__}: {error}", 500), status_code=500)

    app.add_middleware(_Guard, settings=settings)

    async def read_body(request: Request, deadline: float) -> bytes:
        """The body, at most ``max_body_bytes`` (413), by the request's deadline (408: a body sent too slowly)."""
        async def read() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise RescoreError(_too_large_reason(limits), status=413, es_type="content_too_long_exception")
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            return await by_deadline(read(), deadline)
        except asyncio.TimeoutError:
            raise RescoreError(f"the request body did not arrive within {limits.timeout:g} s", status=408,
                               es_type="request_timeout_exception") from None

    def relay(response: _Answer, content: bytes | None = None, extra: Mapping[str, str] | None = None) -> Response:
        """The upstream's response (or ``content`` in its place) with the upstream's headers, e.g. the
        ``X-Elastic-Product`` header that Elasticsearch clients check."""
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS | {"content-encoding"}}
        return Response(response.content if content is None else content, status_code=response.status,
                        headers={**headers, **(extra or {})})


    @app.get(HEALTH_PATH)
    async def health(request: Request) -> JSONResponse:
        deadline = asyncio.get_running_loop().time() + min(limits.timeout, 5.0)
        upstream: dict[str, Any] = {}
        try:
            answer = await fetch("GET", "/_cluster/health", deadline)
            upstream = {"reachable": answer.status == 200, "status": orjson.loads(answer.content).get("status", f"http {answer.status}")}
        except RescoreError as error:
            upstream = {"reachable": False, "status": error.es_type}
        except (ValueError, AttributeError):
            upstream = {"reachable": False, "status": "invalid answer"}
        body: dict[str, Any] = {"status": "ok" if upstream["reachable"] else "upstream_unavailable", "upstream": upstream}
        if _bearer_ok(settings.token, request.headers.get("authorization", "").encode()):
            upstream["url"] = base
            loaded = set(scorers.loaded()) | set(rerankers.loaded())
            kinds = {**{n: {"scorer": p.scorer} for n, p in scorers.profiles.items()},
                     **{n: {"reranker": p.reranker} for n, p in rerankers.profiles.items()}}
            body["profiles"] = {n: {**kind, "loaded": n in loaded} for n, kind in sorted(kinds.items())}
            body["scoring"] = {"in_flight": gate.in_flight, "concurrency": limits.max_concurrent_scoring}
        return JSONResponse(body, status_code=200 if upstream["reachable"] else 503)

    @app.post("/rerank")
    async def rerank(request: Request) -> JSONResponse:
        deadline = asyncio.get_running_loop().time() + limits.timeout
        body = _parse_json(await read_body(request, deadline))
        call = parse_rerank(body, settings.default_profile, limits.max_window)
        profile = find_profile(call.profile, scorers, rerankers)
        request.scope[PROFILE_SCOPE_KEY] = profile.name
        if isinstance(profile, RerankerProfile):
            scores = await gate.run(rank_texts, rerankers, profile, call.query, call.documents, _monotonic(deadline),
                                    deadline=deadline)
        else:
            scores = (await gate.run(score_texts, scorers, profile, call.query, call.documents, deadline=deadline)).tolist()
        return JSONResponse(rerank_response(call, scores, profile.name))

    async def search(request: Request, target: Target, deadline: float) -> Response:
        raw = await read_body(request, deadline)
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding not in ("identity", "gzip") or any(k in request.headers.get("content-type", "") for k in _NON_JSON):
            return relay(await fetch(request.method, target.upstream, deadline, request, raw))  # not JSON: ES's to read
        text = _gunzip(raw, limits.max_body_bytes) if encoding == "gzip" else raw
        body = _parse_json(text) if text.strip() else {}
        plan = plan_search(body, scorers, limits.max_window, limits.max_rescorers, rerankers)
        if plan is None:
            return relay(await fetch(request.method, target.upstream, deadline, request, raw))
        request.scope[PROFILE_SCOPE_KEY] = ",".join(plan.profiles)
        for key in ("size", "from", "scroll", "search_after", "filter_path", "format", "rest_total_hits_as_int", "typed_keys"):
            if key in request.query_params:
                raise RescoreError(f"with rankkit rescoring, `{key}` cannot be a URL parameter: give `from` and `size` in "
                                   "the body; cursors (scroll, search_after) would page in Elasticsearch's order, and "
                                   "the answer must keep Elasticsearch's default JSON shape for rankkit to rescore it")
        if any(k in request.headers.get("accept", "") for k in _NON_JSON):
            raise RescoreError("rankkit rescoring answers JSON only; accept application/json")
        headers = {k: v for k, v in headers_for_upstream(request).items() if k.lower() != "content-encoding"}
        answer = await fetch("POST", target.upstream, deadline, request, orjson.dumps(plan.upstream_body), headers)
        if answer.status != 200:
            return relay(answer)
        try:
            response = orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            raise RescoreError("upstream Elasticsearch answered the search with invalid JSON", status=502,
                               es_type="upstream_unavailable_exception") from None
        try:
            job = functools.partial(apply_plan, until=_monotonic(deadline), max_reasoning_chars=limits.max_reasoning_chars)
            result = await gate.run(job, plan, response, scorers, rerankers, deadline=deadline)
            extra = None
        except RescoreError as error:
            if error.status < 500 and error.status != 429 or not plan.fail_open:
                raise
            result, extra = _fail_open(plan, response, error)
        return relay(answer, orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY), extra)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"])
    async def forward(path: str, request: Request) -> Response:
        raw_path = request.scope.get("raw_path")
        if not raw_path:  # never rebuild a path from its decoded form
            raise RescoreError("the server gave no raw request path; rankkit serve refuses to guess it",
                               es_type="rankkit_bad_path_exception")
        target = parse_target(raw_path, request.scope.get("query_string", b""))
        kind = target.kind(request.method)
        deadline = asyncio.get_running_loop().time() + limits.timeout
        if kind == "search":
            return await search(request, target, deadline)
        if kind == "write" and not limits.allow_writes:
            raise RescoreError(f"rankkit serve forwards searches and reads only; {request.method} {target.printable(80)} "
                               "changes data or settings. The operator can allow it with --allow-writes "
                               "(limits.allow_writes = true)", status=403, es_type="security_exception")
        return relay(await fetch(request.method, target.upstream, deadline, request, await read_body(request, deadline)))

    app.state.started = time.time()
    app.state.gate = gate
    return app


def _fail_open(plan: RescorePlan, response: Mapping[str, Any], error: RescoreError) -> tuple[dict[str, Any], dict[str, str]]:
    """Elasticsearch's own ranking, marked as not rescored (the profiles allow rerank failures)."""
    result = es_order(plan, response)
    reason = str(error)
    result["rankkit"] = {"rescored": False, "error": {"type": error.es_type, "reason": reason}}
    warning = re.sub(r"[\x00-\x1f\x7f]", " ", reason).replace("\\", "\\\\").replace('"', '\\"')
    warning = warning.encode("ascii", "replace").decode()[:300]
    access_log.warning("fail-open (%s): %s", ",".join(plan.profiles), reason)
    return result, {"Warning": f'299 rankkit "rescoring failed, Elasticsearch\'s ranking returned: {warning}"'}


class _Guard:
    """Bearer token and body-size checks and the access log, as plain ASGI middleware.

    Args:
        app: The application behind it.
        settings: The service's settings (token, body limit).
    """

    def __init__(self, app: Any, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            access_log.info("%s %s %d %.1fms profile=%s", scope.get("method"), printable_path(raw), status[0],
                            (time.perf_counter() - started) * 1000, scope.get(PROFILE_SCOPE_KEY, "-"))

    def _refusal(self, scope: dict[str, Any]) -> JSONResponse | None:
        headers = dict(scope["headers"])
        health = scope.get("method") == "GET" and scope.get("raw_path") == HEALTH_PATH.encode()
        if not health and not _bearer_ok(self.settings.token, headers.get(b"authorization", b"")):
            return JSONResponse(es_error("security_exception", "missing or wrong bearer token", 401),
                                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="rankkit"'})
        length = headers.get(b"content-length")
        if length is not None and (len(length) > 20 or not length.isdigit() or int(length) > self.settings.limits.max_body_bytes):
            return JSONResponse(es_error("content_too_long_exception", _too_large_reason(self.settings.limits), 413), status_code=413)
        return None


def _monotonic(deadline: float) -> float:
    """The event loop's ``deadline`` on the ``time.monotonic()`` clock (what a scoring thread can read)."""
    return time.monotonic() + deadline - asyncio.get_running_loop().time()


def _bearer_ok(token: str, authorization: bytes) -> bool:
    """Whether an ``Authorization`` header carries the service's bearer token (always, when it has none)."""
    return not token or hmac.compare_digest(authorization, f"Bearer {token}".encode())


def _parse_json(raw: bytes) -> Any:
    """A request body parsed (orjson: the proxy's JSON work is part of every request's latency).

    Raises:
        RescoreError: A 400 naming the problem, for a body that is not JSON.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RescoreError(f"request body is not valid JSON: {error}", es_type="parse_exception") from None


def _gunzip(raw: bytes, limit: int) -> bytes:
    """A gzip request body, inflated to at most ``limit`` bytes (413 above, 400 when it is not gzip)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as error:
        raise RescoreError(f"the request body is not valid gzip ({error})", es_type="parse_exception") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RescoreError(f"the inflated request body is larger than this service allows ({limit} bytes)", status=413,
                           es_type="content_too_long_exception")
    return out


def _too_large_reason(limits: Limits) -> str:
    return f"request body is larger than this service allows ({limits.max_body_bytes} bytes)"
