"""The OpenAI-compatible backend against real local HTTP servers: one that serves the tiny model, and ones that fail.

Every server is a real uvicorn on a free 127.0.0.1 port (rankkit_reasoning.testing.serve);
retries, timeouts and backoff are kept tiny so that the failures are quick.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import numpy as np
import pytest

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from rankkit.types import Query, Ranking
from rankkit_reasoning.backends import (
    BackendError,
    EndpointSettings,
    LocalSettings,
    OpenAIBackend,
    RetryPolicy,
    TransformersBackend,
)
from rankkit_reasoning.prompts import build_messages
from rankkit_reasoning.testing import chat_completion, free_port, openai_app, serve

pytestmark = pytest.mark.timeout(180)

FAST = {"backend": "openai", "api_model": "tiny", "timeout": 0.5, "retries": 2, "backoff": 0.01, "num_child": 2,
        "k": 2, "window": 4, "max_new_tokens": 8, "passage_tokens": 8}
TEXTS = ("glacier ice cave report", "neural ranking model details", "river delta sediment", "protein folding energy",
         "vitamin bone density")


def _rankings(queries):
    ids = [f"d{i}" for i in range(len(TEXTS))]
    return [Ranking(q.query_id, ids, np.arange(len(ids), 0, -1), TEXTS) for q in queries]


@pytest.fixture(scope="module")
def tiny_backend(tiny_model):
    return TransformersBackend(LocalSettings(model=str(tiny_model), max_new_tokens=8, device="cpu", batch_size=1))


def test_endpoint_serving_the_tiny_model_reranks_like_the_local_backend(registry, tiny_backend):
    queries = [Query("q1", "glacier ice cave"), Query("q2", "bone density")]
    settings = {**FAST, "passage_tokens": 64}  # no passage is cut: words (remote) and tokens (local) agree
    with serve(openai_app(tiny_backend, model="tiny")) as base_url:
        remote = registry.build("reranker", "rank-r1", base_url=base_url, **settings)
        out = remote.rerank(queries, _rankings(queries))
        direct = OpenAIBackend(EndpointSettings(base_url=base_url, api_model="tiny", max_new_tokens=5)).generate(
            [build_messages("glacier", ["a b c", "d e f"])])
    endpoint_only = ("backend", "api_model", "timeout", "retries", "backoff")
    local = registry.build("reranker", "rank-r1", model=tiny_backend.path, device="cpu", batch_size=1,
                           **{k: v for k, v in settings.items() if k not in endpoint_only})
    assert [r.doc_ids.tolist() for r in out] == [r.doc_ids.tolist() for r in local.rerank(queries, _rankings(queries))]
    stats = remote.statistics()
    assert stats["failed"] == 0 and stats["calls"] > 0 and stats["malformed"] == stats["calls"]
    assert stats == local.statistics()  # same calls, same completions, same token counts from the server's usage
    assert [c["completion"] for t in remote.traces() for c in t["trace"]] == \
           [c["completion"] for t in local.traces() for c in t["trace"]]
    assert direct[0].completion_tokens == 5 and direct[0].prompt_tokens > 0  # max_tokens reaches the server


def test_a_server_that_is_down_fails_every_query_after_retries(registry):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    reranker = registry.build("reranker", "rank-r1", base_url=url, **FAST)
    queries = [Query("q1", "glacier"), Query("q2", "bone")]
    rankings = _rankings(queries)
    out = reranker.rerank(queries, rankings)
    assert [r.doc_ids.tolist() for r in out] == [r.doc_ids.tolist() for r in rankings]  # first-stage order kept
    stats = reranker.statistics()
    assert stats["failed"] == 2 and stats["failed_query_ids"] == ["q1", "q2"] and stats["calls"] == 0
    error = reranker.traces()[0]["error"]
    assert f"{url}/chat/completions gave no completion after 3 attempt(s)" in error and "ConnectError" in error


def _faulty_app(backend, attempts: Counter, hold: threading.Event):
    """A chat endpoint that misbehaves when the user turn names a fault, and serves the model otherwise."""
    app = FastAPI()
    lock = threading.Lock()

    @app.post("/v1/chat/completions")
    def completions(body: dict = Body(...)):  # noqa: B008
        user = body["messages"][-1]["content"]
        fault = next((f for f in ("SLOW", "GARBAGE", "NOCHOICES", "BROKEN", "UNAUTHORIZED") if f in user), "OK")
        attempts[fault] += 1
        if fault == "SLOW":
            hold.wait(2.0)  # past the client's timeout; released when the test ends
            return JSONResponse({"choices": []})
        if fault == "GARBAGE":
            return PlainTextResponse("<html>upstream overloaded</html>")
        if fault == "NOCHOICES":
            return JSONResponse({"object": "error", "message": "model is loading"})
        if fault == "BROKEN":
            return JSONResponse({"error": "internal"}, status_code=503)
        if fault == "UNAUTHORIZED":
            return JSONResponse({"error": "bad key"}, status_code=401)
        with lock:
            return chat_completion(backend, body)

    return app


def test_misbehaving_endpoints_are_retried_then_their_queries_fail(registry, tiny_backend):
    attempts: Counter = Counter()
    hold = threading.Event()
    names = ("OK", "SLOW", "GARBAGE", "NOCHOICES", "BROKEN", "UNAUTHORIZED")
    queries = [Query(f"q-{name.lower()}", f"glacier {name}") for name in names]
    try:
        with serve(_faulty_app(tiny_backend, attempts, hold)) as base_url:
            reranker = registry.build("reranker", "rank-r1", base_url=base_url, **FAST)
            started = time.monotonic()
            out = reranker.rerank(queries, _rankings(queries))
            elapsed = time.monotonic() - started
            hold.set()
    finally:
        hold.set()
    assert len(out) == len(queries)
    stats = reranker.statistics()
    assert stats["failed_query_ids"] == ["q-slow", "q-garbage", "q-nochoices", "q-broken", "q-unauthorized"]
    assert attempts["OK"] == stats["calls"] > 0  # the healthy query completed its sort
    for fault in ("SLOW", "GARBAGE", "NOCHOICES", "BROKEN"):
        assert attempts[fault] == 3, fault  # 1 + retries
    assert attempts["UNAUTHORIZED"] == 1  # a client error is not retried
    errors = {t["query_id"]: t["error"] for t in reranker.traces()}
    assert "timed out after 0.5s" in errors["q-slow"]
    assert "unusable response" in errors["q-garbage"]
    assert "no choices[0].message.content" in errors["q-nochoices"]
    assert "HTTP 503" in errors["q-broken"]
    assert "HTTP 401" in errors["q-unauthorized"] and "API key in $OPENAI_API_KEY" in errors["q-unauthorized"]
    assert elapsed < 30


def test_backoff_grows_and_jitters():
    policy = RetryPolicy(timeout=1.0, retries=3, backoff=0.1)
    rng = random.Random(0)
    delays = [policy.delay(attempt, rng) for attempt in (1, 2, 3)]
    assert 0.05 <= delays[0] <= 0.15 and 0.1 <= delays[1] <= 0.3 and 0.2 <= delays[2] <= 0.6


def test_the_api_key_is_sent_from_the_named_variable(monkeypatch, tiny_backend):
    seen = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        seen.append(request.headers.get("authorization"))
        return {"choices": [{"message": {"content": "<think>x</think><answer>[1]</answer>"}}]}

    monkeypatch.setenv("RANKKIT_TEST_KEY", "sk-test")
    with serve(app) as base_url:
        hi = [[{"role": "user", "content": "hi"}]]
        generation = OpenAIBackend(EndpointSettings(base_url=base_url, api_model="m",
                                                    api_key_env="RANKKIT_TEST_KEY")).generate(hi)[0]
        OpenAIBackend(EndpointSettings(base_url=base_url, api_model="m", api_key_env="RANKKIT_UNSET_KEY")).generate(hi)
    assert seen == ["Bearer sk-test", None]
    assert generation.text.endswith("[1]</answer>") and generation.prompt_tokens is None  # no usage reported


def test_backend_errors_are_rankkit_errors():
    from rankkit.errors import RankkitError

    assert issubclass(BackendError, RankkitError)


def _constraint(body: dict, kind: str):  # noqa: ANN202
    return {"vllm": lambda: body.get("structured_outputs", {}).get("regex"), "vllm-legacy": lambda: body.get("guided_regex"),
            "sglang": lambda: body.get("regex"), "llama.cpp": lambda: body.get("grammar")}[kind]()


def _honouring_app(kind: str, seen: list):  # noqa: ANN202
    """A stand-in server of ``kind``: it answers in format (the last label, as a guided server might) only when the
    request carries its constraint, and babbles otherwise; it records what each request asked for."""
    import re

    app = FastAPI()

    @app.post("/v1/chat/completions")
    def completions(body: dict = Body(...)) -> dict:  # noqa: B008
        count = int(re.search(r"Which of the following (\d+) passages", body["messages"][-1]["content"]).group(1))
        constraint = _constraint(body, kind)
        seen.append((count, constraint))
        text = f"<think>all {count} read</think> <answer>[{count}]</answer>" if constraint else "Passage two, probably."
        if constraint and kind != "llama.cpp":
            assert re.fullmatch(constraint, text), (constraint, text)   # the regex accepts a well-formed answer...
            assert not re.fullmatch(constraint, text.replace(f"[{count}]", f"[{count + 1}]"))   # ...and no other label
        return {"choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5}}

    return app


@pytest.mark.parametrize("kind", ["vllm", "vllm-legacy", "sglang", "llama.cpp"])
def test_structured_outputs_ask_the_server_for_the_labels_of_each_prompt(registry, kind):
    queries = [Query("q1", "glacier ice cave"), Query("q2", "bone density")]
    seen: list = []
    with serve(_honouring_app(kind, seen)) as base_url:
        plain = registry.build("reranker", "rank-r1", base_url=base_url, **FAST)
        plain.rerank(queries, _rankings(queries))
        assert all(c is None for _, c in seen) and plain.statistics()["malformed_rate"] == 1.0
        seen.clear()
        guided = registry.build("reranker", "rank-r1", base_url=base_url, structured=kind, **FAST)
        guided.rerank(queries, _rankings(queries))
    stats = guided.statistics()
    assert stats["calls"] == len(seen) > 0 and stats["malformed"] == 0   # every answer parses
    for count, constraint in seen:
        labels = " | ".join(f'"{i}"' for i in range(count, 0, -1)) if kind == "llama.cpp" else \
            "(" + "|".join(str(i) for i in range(count, 0, -1)) + ")"
        assert constraint and labels in constraint   # exactly this prompt's labels
    assert guided.fingerprint != plain.fingerprint


def test_structured_outputs_belong_to_the_openai_backend(registry):
    from rankkit.errors import ConfigError

    with pytest.raises(ConfigError, match="structured applies to the openai backend"):
        registry.build("reranker", "rank-r1", structured="vllm")
