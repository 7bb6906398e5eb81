"""The endpoint backend: an OpenAI-compatible ``/chat/completions`` server, over httpx, with retries.

httpx loads on the first request, never on import.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from rankkit_reasoning.generation import BackendError, Generation
from rankkit_reasoning.prompts import Message, truncate_passage
from rankkit_reasoning.settings import EndpointSettings

logger = logging.getLogger(__name__)

#: Characters of reasoning the constraint allows per token of ``max_new_tokens`` (the rest is left for the answer).
CHARS_PER_TOKEN = 3


def answer_regex(n: int, max_new_tokens: int) -> str:
    """A regular expression for a completion that reasons (without ``<``, bounded in length) and then names one of
    the labels ``[1]``..``[n]``."""
    labels = "|".join(str(i) for i in range(n, 0, -1))   # longest first: "10" before "1"
    bound = max(16, CHARS_PER_TOKEN * max(max_new_tokens - 16, 1))
    return rf"<think>[^<]{{0,{bound}}}</think>\s?<answer>\[({labels})\]</answer>"


def answer_grammar(n: int, max_new_tokens: int) -> str:
    """The same constraint as :func:`answer_regex` as a llama.cpp GBNF grammar (its reasoning is not bounded in
    length: llama.cpp's grammars have no counted repetition we can rely on; ``max_tokens`` bounds it)."""
    labels = " | ".join(f'"{i}"' for i in range(n, 0, -1))
    return ('root ::= "<think>" think "</think>" " "? "<answer>[" label "]</answer>"\n'
            'think ::= [^<]*\n'
            f"label ::= {labels}\n")


def structured_fields(kind: str, n: int, max_new_tokens: int) -> dict[str, Any]:
    """The request fields that ask server ``kind`` for the constraint (empty for ``none``).

    * ``vllm`` (0.12 and later): ``structured_outputs.regex``;
    * ``vllm-legacy`` (before 0.12): ``guided_regex``;
    * ``sglang``: ``regex``;
    * ``llama.cpp`` (llama-server): ``grammar`` (GBNF).
    """
    if kind == "none":
        return {}
    if kind == "llama.cpp":
        return {"grammar": answer_grammar(n, max_new_tokens)}
    regex = answer_regex(n, max_new_tokens)
    return {"vllm": {"structured_outputs": {"regex": regex}}, "vllm-legacy": {"guided_regex": regex},
            "sglang": {"regex": regex}}[kind]


class OpenAIBackend:
    """An OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, SGLang, OpenAI...).

    Conversations are sent one request each. A connection failure, a timeout,
    an HTTP 429 or 5xx, a body that is not JSON or has no ``choices`` is retried
    ``retries`` times with exponential backoff and jitter; then
    :class:`BackendError` names the endpoint and the last failure. Other HTTP
    errors (a wrong key or model) fail at once. Passages are truncated by
    whitespace-separated words, as the endpoint's tokenizer is not at hand.

    Args:
        settings: The API root (``base_url``, e.g. ``http://127.0.0.1:8000/v1``), the model name it serves
            (``api_model``), the environment variable holding the API key (``api_key_env``; unset: no key sent),
            the server's constraint (``structured``: ask it to constrain each completion to the Rank-R1 format
            with a label of the prompt, see :data:`~rankkit_reasoning.settings.STRUCTURED`), the timeout, retries
            and backoff, and decoding (:class:`~rankkit_reasoning.settings.EndpointSettings`).

    Raises:
        ConfigError: For a ``base_url`` that is no http(s) URL, or no ``api_model``.
    """

    batch_size = 1

    def __init__(self, settings: EndpointSettings) -> None:
        settings.check_endpoint()
        self.settings = settings
        self.structured = settings.structured
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.model = settings.api_model
        self.api_key_env = settings.api_key_env
        self._client: Any = None
        self._random = random.Random(settings.seed)

    def describe(self) -> dict[str, Any]:
        """The endpoint's model and the decoding settings."""
        structured = {"structured": self.structured} if self.structured != "none" else {}
        return {"backend": "openai", "url": self.url, "model": self.model, **self.settings.decoding(), **structured}

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to ``max_tokens`` whitespace-separated words."""
        return truncate_passage(text, max_tokens, None)

    def generate(self, conversations: Sequence[Sequence[Message]], counts: Sequence[int] | None = None) -> list[Generation]:
        """One completion per conversation, one request each; with ``counts`` (labels per prompt) and ``structured``
        set, each request carries the server's constraint for its labels."""
        counts = counts if counts is not None and self.structured != "none" else [0] * len(conversations)
        return [self._complete(list(c), n) for c, n in zip(conversations, counts)]

    def _payload(self, messages: list[Message], n: int = 0) -> dict[str, Any]:
        s = self.settings
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": s.max_new_tokens,
                                   "temperature": s.temperature}
        if s.temperature > 0:
            payload["seed"] = s.seed
        if n:
            payload.update(structured_fields(self.structured, n, s.max_new_tokens))
        return payload

    def _complete(self, messages: list[Message], n: int = 0) -> Generation:
        import httpx

        if self._client is None:
            key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._client = httpx.Client(timeout=self.settings.timeout, headers=headers)
        payload, retries = self._payload(messages, n), self.settings.retries
        failure = ""
        for attempt in range(retries + 1):
            if attempt:
                delay = self.settings.delay(attempt, self._random)
                logger.warning("rank-r1: %s failed (%s); retry %d/%d in %.2fs", self.url, failure, attempt,
                               retries, delay)
                time.sleep(delay)
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TimeoutException:
                failure = f"timed out after {self.settings.timeout}s"
                continue
            except httpx.TransportError as error:
                failure = f"{type(error).__name__}: {error}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failure = f"HTTP {response.status_code}: {response.text[:200]!r}"
                continue
            if response.status_code >= 400:
                raise BackendError(f"{self.url} refused the request with HTTP {response.status_code}: "
                                   f"{response.text[:300]!r}; check api_model ({self.model!r}), base_url, and the "
                                   f"API key in ${self.api_key_env}")
            try:
                return _parse_completion(response.json())
            except (json.JSONDecodeError, ValueError) as error:
                failure = f"unusable response: {error}"
        raise BackendError(f"{self.url} gave no completion after {retries + 1} attempt(s); last failure: "
                           f"{failure}. Check that an OpenAI-compatible server runs there (base_url) and serves "
                           f"{self.model!r}, or raise timeout/retries")

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _parse_completion(body: Any) -> Generation:
    """The text and usage of a chat-completions body.

    Raises:
        ValueError: When the body has no ``choices[0].message.content``.
    """
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        shown = json.dumps(body)[:200] if not isinstance(body, str) else body[:200]
        raise ValueError(f"no choices[0].message.content in {shown}") from None
    if not isinstance(text, str):
        raise ValueError(f"choices[0].message.content is {type(text).__name__}, not text")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Generation(text.strip(), prompt if isinstance(prompt, int) else None,
                      completion if isinstance(completion, int) else None)
