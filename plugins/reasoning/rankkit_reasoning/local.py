"""The local backend: a Hugging Face causal LM (a folder, a hub id, or a GGUF file) generating with its chat template.

Optionally with a LoRA adapter from the ``rank-r1-grpo`` trainer applied on top
(:mod:`rankkit_reasoning.adapters`). torch, transformers and peft load on the
first truncation or generation, never on import.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rankkit.errors import ConfigError
from rankkit.models import ModelRef, check_device, resolve_device, torch_dtype
from rankkit_reasoning.adapters import adapter_folder, check_adapter_base
from rankkit_reasoning.generation import Generation
from rankkit_reasoning.parsing import forced_answer
from rankkit_reasoning.prompts import Message, render_chat, truncate_passage
from rankkit_reasoning.settings import GenerationSettings, LocalSettings

logger = logging.getLogger(__name__)


def locate_model(model: str, gguf_file: str = "") -> ModelRef:
    """The model (folder or hub id, and GGUF file) that ``model`` and ``gguf_file`` stand for.

    ``model`` may be a folder, ``package:PKG/folder``, ``rankkit:NAME``, a hub id,
    or the path of a ``.gguf`` file (:meth:`rankkit.models.ModelRef.resolve`). With
    no ``gguf_file``, a local folder that has no ``config.json`` and exactly one
    ``.gguf`` file is read from that file.

    Returns:
        The resolved model: ``path`` the folder (``None`` for a hub id), ``file`` the GGUF file (empty: none).

    Raises:
        ConfigError: For a folder with several GGUF files and none chosen, a GGUF file that is missing, a folder
            that is neither a transformers model nor holds a GGUF file, or a file that is not a ``.gguf``.
    """
    ref = ModelRef.resolve(model, file=gguf_file)
    path = ref.path
    if path is None:
        return ref
    if ref.file:
        if ref.file != gguf_file and not ref.file.endswith(".gguf"):  # ``model`` named another kind of file
            raise ConfigError(f"model {model!r}: {path / ref.file} is a file but no .gguf file; give a model folder, "
                              "a .gguf file or a hub id")
        if not (path / ref.file).is_file():
            found = sorted(p.name for p in path.glob("*.gguf")) or ["none"]
            raise ConfigError(f"model {model!r}: no GGUF file {ref.file!r} in {path}; it has: {', '.join(found)}")
        return ref
    if (path / "config.json").is_file():
        return ref
    found = sorted(p.name for p in path.glob("*.gguf"))
    if len(found) == 1:
        return replace(ref, file=found[0])
    if found:
        raise ConfigError(f"model {model!r}: {path} holds several GGUF files ({', '.join(found)}); choose one "
                          "with gguf_file")
    raise ConfigError(f"model {model!r}: {path} is neither a transformers model folder (no config.json) nor "
                      "holds a .gguf file")


class TransformersBackend:
    """A local Hugging Face causal LM that generates with its chat template.

    The tokenizer loads on the first truncation and the model on the first
    generation. Prompts are generated in batches of ``batch_size``, left-padded.
    Greedy decoding (``temperature = 0``) is deterministic; sampling is seeded
    from ``seed`` and the batch's prompts, so the same input samples the same way.

    Args:
        settings: The model (a folder, ``package:PKG/folder``, ``rankkit:NAME``, a hub id, or a ``.gguf`` file) and
            the GGUF file inside it (empty: the folder's only one, if it is no transformers folder); the device
            (``auto``: CUDA, MPS, CPU; :func:`rankkit.models.resolve_device`); conversations per forward pass
            (``batch_size``); a LoRA adapter folder written by the ``rank-r1-grpo`` trainer, applied on the model
            with peft (empty: none); the weights' type (``dtype``: ``bfloat16`` also halves generation time on CPUs
            with AVX512-BF16 or AMX, at slightly different completions than float32); and decoding
            (:class:`~rankkit_reasoning.settings.LocalSettings`).

    Raises:
        ConfigError: For an unknown device, a model that cannot be located, an adapter folder without an adapter,
            or one trained on another base model (naming both).
    """

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.model_name, self.device, self.batch_size, self.dtype = (settings.model, settings.device,
                                                                     settings.batch_size, settings.dtype)
        check_device(self.device, f"model {self.model_name!r}")
        self.ref = locate_model(settings.model, settings.gguf_file)
        self.path, self.gguf_file = self.ref.load_name, self.ref.file
        self.adapter = adapter_folder(settings.adapter) if settings.adapter else None
        if self.adapter is not None:
            check_adapter_base(self.adapter, self.model_name, self.path, self.gguf_file, self.ref.fingerprint())
        self._tokenizer: Any = None
        self._model: Any = None
        self._tags: list[int] | None = None

    def describe(self) -> dict[str, Any]:
        """The model's content (and the adapter's, when one is applied) and the decoding settings."""
        adapter = {"adapter": ModelRef.resolve(str(self.adapter)).fingerprint()} if self.adapter is not None else {}
        dtype = {} if self.dtype == "auto" else {"dtype": self.dtype}  # auto: the device decides, as before
        return {"backend": "transformers", "content": self.ref.fingerprint(),
                "gguf_file": self.gguf_file, **adapter, **dtype, **self.settings.decoding()}

    def load_kwargs(self, dense: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``from_pretrained`` of the model and tokenizer (GGUF file, local files only).

        Args:
            dense: For the model, when its linear layers must be plain ``torch.nn.Linear`` (LoRA): a GGUF file is
                de-quantised at load time even where transformers could keep its blocks packed.
        """
        kwargs: dict[str, Any] = {"gguf_file": self.gguf_file} if self.gguf_file else {}
        if os.environ.get("HF_HUB_OFFLINE") == "1" or not self.ref.hub:
            kwargs["local_files_only"] = True
        if dense and self.gguf_file:
            import transformers

            if hasattr(transformers, "GgufConfig"):  # transformers 5 may keep GGUF blocks packed; older ones unpack
                kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
        return kwargs

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loaded on first access, padding on the left)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.path, **self.load_kwargs())
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            if tokenizer.pad_token is None:
                raise ConfigError(f"model {self.model_name!r}: the tokenizer has neither a pad nor an eos token; "
                                  "set one in its tokenizer_config.json")
            self._tokenizer = tokenizer
        return self._tokenizer

    @property
    def model(self) -> Any:
        """The causal LM (loaded on first access, with the adapter if any, in eval mode on the chosen device)."""
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM

            device = resolve_device(self.device, where=f"model {self.model_name!r}")
            if self.dtype == "auto":
                bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
                dtype = torch.bfloat16 if bf16 else torch.float32
            else:
                dtype = torch_dtype(self.dtype, device, f"model {self.model_name!r}")
            dense = self.adapter is not None
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype, **self.load_kwargs(dense))
            if self.adapter is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(unquantized(model), str(self.adapter), is_trainable=False)
            self._model = model.to(device).eval()
            logger.info("rank-r1 model %s%s%s loaded on %s", self.model_name,
                        f" ({self.gguf_file})" if self.gguf_file else "",
                        f" with adapter {self.adapter}" if self.adapter is not None else "", device)
        return self._model

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to ``max_tokens`` tokens of the model's tokenizer."""
        return truncate_passage(text, max_tokens, self.tokenizer)

    def render(self, conversation: Sequence[Message]) -> str:
        """The prompt text of one conversation under the model's chat template."""
        return render_chat(self.tokenizer, conversation, where=f"model {self.model_name!r}")

    def generate(self, conversations: Sequence[Sequence[Message]]) -> list[Generation]:
        """One completion per conversation, generated ``batch_size`` at a time."""
        prompts = [self.render(c) for c in conversations]
        out: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self.generate_text(prompts[start : start + self.batch_size]))
        return out

    def generate_constrained(self, conversations: Sequence[Sequence[Message]], counts: Sequence[int],
                             reasoning: bool = True) -> list[Generation]:
        """One completion per conversation in a single pass under
        :class:`~rankkit_reasoning.constrained.AnswerConstraint` (``batch_size`` at a time): the reasoning within
        ``max_new_tokens`` (none when ``reasoning`` is false), then ``<answer>[k]</answer>`` with ``k`` in 1..n.

        Raises:
            ConfigError: When ``max_new_tokens`` leaves no room for the forced answer (and the reasoning).
        """
        from rankkit_reasoning.constrained import AnswerConstraint, end_token, tag_tokens

        if self._tags is None:
            self._tags = tag_tokens(self.tokenizer)
        first = end_token(self.model, self.tokenizer)
        ends = [first] + sorted(_stop_ids(self.model, self.tokenizer) - {first})
        out: list[Generation] = []
        for start in range(0, len(conversations), self.batch_size):
            part = slice(start, start + self.batch_size)
            try:
                constraint = AnswerConstraint(self.tokenizer, counts[part], self.settings.max_new_tokens, ends,
                                              self._tags, reasoning=reasoning)
            except ValueError as error:
                raise ConfigError(f"rank-r1: {error}; raise max_new_tokens") from error
            out.extend(self.generate_text([self.render(c) for c in conversations[part]], processors=[constraint]))
        return out

    def generate_text(self, prompts: Sequence[str], settings: GenerationSettings | None = None,
                      processors: Sequence[Any] = ()) -> list[Generation]:
        """Completions of already-rendered prompts, as one batch (``settings`` overrides the backend's;
        ``processors`` are transformers logits processors applied while decoding)."""
        import torch
        from transformers import LogitsProcessorList

        if not prompts:
            return []
        tokenizer, model, s = self.tokenizer, self.model, settings or self.settings
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
        options: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
        if processors:
            options["logits_processor"] = LogitsProcessorList(list(processors))
        if s.temperature > 0:
            digest = hashlib.sha256("\x00".join(prompts).encode()).digest()
            torch.manual_seed((s.seed + int.from_bytes(digest[:4], "little")) % 2**31)
            options.update(do_sample=True, temperature=s.temperature, top_k=0, top_p=1.0)
        else:
            options.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        with torch.inference_mode():
            output = model.generate(**batch, **options)
        new = output[:, batch["input_ids"].shape[1]:]
        stops = _stop_ids(model, tokenizer)
        generations = []
        for row, mask in zip(new.tolist(), batch["attention_mask"].tolist()):
            length = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            text = tokenizer.decode(row[:length], skip_special_tokens=True)
            generations.append(Generation(text.strip(), int(sum(mask)), length))
        return generations

    def constrained_answers(self, conversations: Sequence[Sequence[Message]], completions: Sequence[str],
                            counts: Sequence[int]) -> list[str]:
        """Each completion's reasoning, closed, and an answer generated under a constraint that allows only
        ``[1]``..``[n]`` (:func:`rankkit_reasoning.constrained.constrained_answers`), ``batch_size`` at a time."""
        from rankkit_reasoning.constrained import constrained_answers

        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            end = start + self.batch_size
            out.extend(constrained_answers(self, conversations[start:end], completions[start:end], counts[start:end]))
        return out

    def label_logprobs(self, conversations: Sequence[Sequence[Message]], completions: Sequence[str],
                       counts: Sequence[int]) -> list[list[float]]:
        """For each conversation, the log-probability of each label ``[1]``..``[n]`` as the answer.

        The prompt is followed by the completion's reasoning, closed, and an opened answer
        (:func:`~rankkit_reasoning.parsing.forced_answer`); a label's log-probability is
        that of its tokens and the closing ``]``. One forward pass over the prompt; each label
        then continues from a copy of its cache.

        Args:
            conversations: The prompts' messages.
            completions: What the model generated for each (malformed, typically).
            counts: How many passages each prompt showed.
        """
        import torch

        tokenizer, model = self.tokenizer, self.model
        cache_argument = _cache_argument(model)
        out: list[list[float]] = []
        for conversation, completion, n in zip(conversations, completions, counts):
            text = self.render(conversation) + forced_answer(completion)
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
            scores = []
            with torch.inference_mode():
                first = model(input_ids=ids, use_cache=True)
                cache = getattr(first, "cache", None) or first.past_key_values  # transformers >= 5.2x: `cache`
                head = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
                for label in range(1, n + 1):
                    tokens = tokenizer.encode(f"{label}]", add_special_tokens=False)
                    score = float(head[tokens[0]])
                    if len(tokens) > 1:
                        rest = model(input_ids=torch.tensor([tokens[:-1]], dtype=torch.long, device=model.device),
                                     use_cache=True, **{cache_argument: copy.deepcopy(cache)})
                        logp = torch.log_softmax(rest.logits[0].float(), dim=-1)
                        score += sum(float(logp[i, t]) for i, t in enumerate(tokens[1:]))
                    scores.append(score)
            out.append(scores)
        return out


def unquantized(model: Any) -> Any:
    """``model`` without the GGUF quantization marks it keeps after a de-quantising load (weights already dense).

    transformers refuses to train, and PEFT to adapt, a model it believes quantized;
    loaded with ``GgufConfig(dequantize=True)``, a GGUF model is plain float weights.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    config = getattr(quantizer, "quantization_config", None)
    dense_gguf = getattr(config, "quant_method", None) == "gguf" and getattr(config, "dequantize", False)
    if quantizer is not None and dense_gguf:
        quantizer.remove_quantization_config(model)
    return model


def _cache_argument(model: Any) -> str:
    """The forward keyword of the key/value cache: ``cache`` in newer transformers, ``past_key_values`` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a completion (the generation config's eos ids and the tokenizer's)."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    stops = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
    if tokenizer.eos_token_id is not None:
        stops.add(tokenizer.eos_token_id)
    return stops
