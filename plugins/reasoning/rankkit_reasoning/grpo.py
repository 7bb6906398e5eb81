"""The ``rank-r1-grpo`` trainer: Rank-R1's reinforcement learning of a setwise reasoning reranker with TRL's GRPO.

After Zhuang et al., "Rank-R1: Enhancing Reasoning in LLM-based Document
Rerankers via Reinforcement Learning" (2025). Each prompt shows a query with one
relevant passage and ``negatives`` non-relevant ones, shuffled
(:mod:`rankkit_reasoning.grpo_data`); the model samples ``num_generations``
completions per prompt, and a completion earns 1 when its format is valid and
the passage it names is relevant, else 0
(:func:`rankkit_reasoning.parsing.relevance_reward`). No reasoning is
supervised. TRL's ``GRPOTrainer`` normalises the rewards within each group and
trains a LoRA adapter (PEFT) on the base model's attention and MLP projections.

With ``constrained``, every completion is sampled under
:class:`~rankkit_reasoning.constrained.AnswerConstraint` (free reasoning, then
a forced ``<answer>[i]</answer>`` with a label of the prompt), so every
completion parses and the reward varies within a group even for a model that
never writes the format; TRL's transformers generation is replaced for that by
an override of ``GRPOTrainer._generate_single_turn``. With ``held_out``, that
many prompts are set aside and the model's greedy, constrained choices on them
are measured before and after training (:mod:`rankkit_reasoning.choice`).

The format-valid rate (:func:`rankkit_reasoning.parsing.format_reward`) is
computed as a second reward function, logged as ``rewards/format_valid/mean``.
Its weight is ``format_weight``: 0 by default (Rank-R1's own reward); a small
positive weight adds a format term, so that a model that never writes the
format still sees rewards that differ within a group (a documented departure
from the paper, off unless set).

The trainer offers :class:`rankkit.components.ResumableTrainer`: given a
checkpoint folder (an experiment's training section gets one), it saves TRL
checkpoints every ``save_steps`` steps (LoRA weights, optimiser, scheduler and
random states) and resumes from the latest complete one.

The trainer offers :class:`rankkit.components.WeightableTrainer`: a
:class:`~rankkit.components.SampleWeighter`'s weight for a prompt multiplies the
GRPO advantages of that prompt's completions. For the clipped surrogate loss
(``loss_type`` grpo, dapo, dr_grpo, bnpo) ``-min(r·wA, clip(r)·wA) =
w·(-min(r·A, clip(r)·A))`` for ``w >= 0``, so this scales each prompt's
per-token policy loss by ``w`` exactly; with ``beta > 0`` the KL penalty is not
weighted. Scaling the rewards instead would do nothing: GRPO normalises them
within each group.

torch, transformers, trl and peft load when :meth:`RankR1GRPOTrainer.train` runs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.checkpoints import latest_checkpoint
from rankkit.components import SampleWeighter, TrainingProgress
from rankkit.errors import ConfigError
from rankkit.files import atomic_write
from rankkit.models import resolve_device
from rankkit.progress import progress_enabled
from rankkit_reasoning.adapters import AdapterBase, write_adapter_info
from rankkit_reasoning.choice import Choices, choice_summary, choose, compare_choices, split_held_out
from rankkit_reasoning.curves import (FORMAT_KEY, LENGTH_KEY, RELEVANCE_KEY, REWARD_KEY, WEIGHT_KEY, last, learning_test,
                                     save_curves, series)
from rankkit_reasoning.grpo_data import PromptSet, build_prompts, training_sample
from rankkit_reasoning.parsing import format_reward, relevance_reward
from rankkit_reasoning.settings import TRAINER, GRPOSettings, LocalSettings

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or (conversational) the assistant messages' contents."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content") or "") for m in completion if m.get("role", "assistant") == "assistant")


def relevance(completions: Sequence[Any], n: Sequence[int], relevant: Sequence[Sequence[int]],
              **_: Any) -> list[float]:
    """Rank-R1's reward for TRL: 1.0 when the format is valid and the chosen passage relevant, else 0.0."""
    return [relevance_reward(completion_text(c), int(k), set(r)) for c, k, r in zip(completions, n, relevant)]


def format_valid(completions: Sequence[Any], n: Sequence[int], **_: Any) -> list[float]:
    """1.0 for a well-formed completion, else 0.0 (logged with weight 0: the format-valid rate)."""
    return [format_reward(completion_text(c), int(k)) for c, k in zip(completions, n)]


def rank_r1_rewards(format_weight: float = 0.0) -> list[tuple[Any, float]]:
    """The reward functions and their weights: the relevance reward (weight 1) and the format-valid rate
    (weight ``format_weight``: 0, logged only, is Rank-R1's own reward)."""
    return [(relevance, 1.0), (format_valid, format_weight)]


class RankR1GRPOTrainer:
    """Trains a LoRA adapter on a causal LM with GRPO so that it reasons and names the relevant passage.

    Args:
        settings: The training parameters (:class:`~rankkit_reasoning.settings.GRPOSettings`).
        weighter: Optional per-prompt loss weights (see :meth:`with_sample_weighter`).
    """

    def __init__(self, settings: GRPOSettings, weighter: SampleWeighter | None = None) -> None:
        self.settings = settings
        self.weighter = weighter
        self.checkpoints: Path | None = None

    def with_checkpoints(self, folder: Path) -> RankR1GRPOTrainer:
        """A trainer like this one that saves a checkpoint into ``folder`` every ``save_steps`` steps and, when
        ``folder`` already holds one, resumes from the latest complete checkpoint."""
        clone = copy.copy(self)
        clone.checkpoints = Path(folder)
        return clone

    def with_sample_weighter(self, weighter: SampleWeighter) -> RankR1GRPOTrainer:
        """A trainer like this one whose per-prompt policy loss is multiplied by ``weighter``'s weights.

        The weight of a prompt (a :class:`~rankkit.components.TrainingSample` with
        its relevant document first, then the negatives) multiplies the advantages
        of its completions, which scales its clipped-surrogate loss exactly; the KL
        penalty (``beta > 0``) is not weighted.
        """
        clone = copy.copy(self)
        clone.weighter = weighter
        return clone

    def train(self, dataset: Dataset, output: Path, candidates: Run | None = None) -> dict[str, Any]:
        """Train on ``dataset``'s qrels with negatives from ``candidates``; save the adapter into ``output``.

        Writes ``adapter_config.json`` and ``adapter_model.safetensors`` (PEFT),
        ``rankkit-reasoning-adapter.json`` (the base model, settings, statistics),
        ``training-log.json`` and ``training-curves.png``.

        Returns:
            ``steps``, ``prompts`` (trained on), ``held_out_prompts``, ``queries`` (considered), ``skipped`` and
            ``skipped_examples`` (by reason), ``final_reward`` and ``final_relevance_reward`` (the same unless the
            reward functions change), ``final_format_valid_rate``, ``mean_completion_length`` (over the logged
            steps), ``final_completion_length``, ``train_loss``, ``seconds``, ``weighting`` (the weighter's
            ``prepare`` statistics, ``None`` without one), ``learning``
            (:func:`~rankkit_reasoning.curves.learning_test`), ``constrained``, with ``held_out`` the ``held_out``
            choices before and after (summaries and their comparison), and, with a weighter, ``final_mean_weight``.
            "final" values are the last logged ones (averaged over the last ``logging_steps`` steps).

        Raises:
            ConfigError: For unusable data, parameters, or a model whose modules LoRA cannot target.
        """
        from rankkit_reasoning.local import TransformersBackend

        s = self.settings
        started = time.time()
        backend = TransformersBackend(LocalSettings(model=s.model, gguf_file=s.gguf_file, device=s.device))
        prompts = build_prompts(dataset, candidates, backend.tokenizer, s.negatives, s.passage_tokens, s.seed)
        if s.constrained or s.held_out:
            from rankkit_reasoning.constrained import AnswerConstraint

            try:   # the forced answer must fit in max_completion_length (the tokenizer says how many tokens it takes)
                AnswerConstraint(backend.tokenizer, [r["n"] for r in prompts.rows], s.max_completion_length,
                                 [backend.tokenizer.eos_token_id], reasoning=s.reasoning)
            except ValueError as error:
                raise ConfigError(f"trainer {TRAINER!r}: {error}; raise max_completion_length") from error
        rows, held = split_held_out(prompts.rows, s.held_out, s.seed)
        if s.held_out and len(held) < s.held_out:
            raise ConfigError(f"trainer {TRAINER!r}: held_out {s.held_out} needs more prompts than the "
                              f"{len(prompts.rows)} the dataset gives (skipped: {prompts.skipped})")
        prompts = dataclasses.replace(prompts, rows=rows)
        if len(prompts.rows) < s.batch_size:
            raise ConfigError(f"trainer {TRAINER!r}: only {len(prompts.rows)} prompts (skipped: {prompts.skipped}) "
                              f"for batch_size {s.batch_size}; lower batch_size or give more training queries")
        weighting = self.weighter.prepare(dataset, candidates) if self.weighter is not None else None
        folder = self.checkpoints or Path(tempfile.mkdtemp(prefix="rankkit-grpo-"))  # else: a scratch folder
        folder.mkdir(parents=True, exist_ok=True)
        try:
            trainer = self.trl_trainer(prompts, backend, folder)
            resume = latest_checkpoint(folder) if self.checkpoints is not None else None
            before = self.held_out_choices(trainer, held, folder / "held-out-before.json") if held else None
            logger.info("rank-r1 GRPO: %d prompts (1 positive + %d negatives), %d steps of %d prompts x %d "
                        "completions%s%s", len(prompts.rows), s.negatives, s.max_steps, s.batch_size,
                        s.num_generations, ", weighted" if self.weighter else "",
                        f", resuming from {resume}" if resume else "")
            result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            history = list(trainer.state.log_history)
            after = self.held_out_choices(trainer, held) if held else None
            # only the LoRA weights: the embeddings are not trained (and a GGUF base has no config.json to compare)
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(output), save_embedding_layers=False)
            steps = int(trainer.state.global_step)
        finally:
            if self.checkpoints is None:
                shutil.rmtree(folder, ignore_errors=True)
        save_curves(output, history)
        lengths = [v for _, v in series(history, LENGTH_KEY)]
        queries = len(prompts.rows) + len(held) + sum(prompts.skipped.values())
        stats = {
            "steps": steps, "prompts": len(prompts.rows), "held_out_prompts": len(held), "queries": queries,
            "skipped": prompts.skipped, "skipped_examples": prompts.examples,
            "final_reward": last(history, REWARD_KEY), "final_relevance_reward": last(history, RELEVANCE_KEY),
            "final_format_valid_rate": last(history, FORMAT_KEY),
            "mean_completion_length": round(float(np.mean(lengths)), 3) if lengths else None,
            "final_completion_length": last(history, LENGTH_KEY),
            "train_loss": round(float(result.training_loss), 6),
            "seconds": round(time.time() - started, 2), "weighting": weighting,
            "learning": learning_test(history), "constrained": s.constrained,
        }
        if before is not None and after is not None:
            stats["held_out"] = {"before": choice_summary(before), "after": choice_summary(after),
                                 "after_vs_before": compare_choices(before, after)}
            (output / "held-out-choices.json").write_text(json.dumps(
                {"before": dataclasses.asdict(before), "after": dataclasses.asdict(after),
                 "queries": [r["query_id"] for r in held]}, indent=1))
        if self.weighter is not None:
            stats["final_mean_weight"] = last(history, WEIGHT_KEY)
        base = AdapterBase(s.model, backend.path, backend.gguf_file, backend.ref.fingerprint())
        write_adapter_info(output, base, TRAINER, {"settings": asdict(s), "stats": stats})
        return stats

    def held_out_choices(self, trainer: Any, rows: list[dict[str, Any]], saved: Path | None = None) -> Choices:
        """The current model's greedy, constrained choices on the held-out ``rows`` (read from ``saved`` when an
        interrupted training measured them before, written there otherwise)."""
        if saved is not None and saved.is_file():
            return Choices(**json.loads(saved.read_text()))
        s = self.settings
        model = trainer.accelerator.unwrap_model(trainer.model)
        mode = model.training
        model.eval()
        try:   # in the weights' own type: autocast would cast every weight at every decoding step (5x slower on CPU)
            choices = choose(model, trainer.processing_class, rows, s.max_completion_length,
                             s.batch_size * s.num_generations, trainer.eos_token_ids, s.reasoning)
        finally:
            model.train(mode)
        if saved is not None:
            with atomic_write(saved) as handle:   # a training killed while writing it measures again on resume
                json.dump(dataclasses.asdict(choices), handle)
        logger.info("rank-r1 GRPO: held-out choice accuracy %s", choice_summary(choices).get("accuracy"))
        return choices

    def load_model(self, backend: Any) -> Any:
        """The base model in float32, a GGUF file de-quantised (the trainer moves it to the device; mixed precision
        on CUDA)."""
        import torch
        from transformers import AutoModelForCausalLM, set_seed

        from rankkit_reasoning.local import unquantized

        set_seed(self.settings.seed)
        kwargs = backend.load_kwargs(dense=True)
        model = AutoModelForCausalLM.from_pretrained(backend.path, dtype=torch.float32, **kwargs)
        return unquantized(model)  # a GGUF file is read de-quantised: dense float32 weights LoRA can adapt

    def trl_trainer(self, prompts: PromptSet, backend: Any, scratch: Path) -> Any:
        """TRL's ``GRPOTrainer`` (with the weighting hook) over ``prompts``, the model from ``backend``'s files.

        Args:
            prompts: The training prompts.
            backend: A :class:`~rankkit_reasoning.local.TransformersBackend` naming the base model (its
                tokenizer is used, padding on the left).
            scratch: The trainer's output folder: checkpoints go there every ``save_steps`` steps when the
                trainer was given a checkpoint folder (:meth:`with_checkpoints`), else none are saved.
        """
        import torch
        from datasets import Dataset as HFDataset
        from peft import LoraConfig
        from trl import GRPOConfig

        from rankkit_reasoning.prompts import build_messages, render_chat

        s = self.settings
        tokenizer = backend.tokenizer
        render_chat(tokenizer, build_messages("query", ["passage"]), where=f"model {s.model!r}")  # has a template
        device = resolve_device(s.device, where=f"trainer {TRAINER!r}")
        if s.mixed_precision == "auto":
            bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        else:
            bf16 = s.mixed_precision == "bf16"
        checkpoint = device != "cpu" if s.activation_checkpointing == "auto" else s.activation_checkpointing == "on"
        rewards = rank_r1_rewards(s.format_weight)
        # transformers 5 renamed gradient_checkpointing (a deprecated alias there) to activation_checkpointing
        names = {f.name for f in dataclasses.fields(GRPOConfig)}
        checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
        args = GRPOConfig(
            output_dir=str(scratch), max_steps=s.max_steps, learning_rate=s.learning_rate,
            per_device_train_batch_size=s.batch_size * s.num_generations, num_generations=s.num_generations,
            max_completion_length=s.max_completion_length, temperature=s.temperature, top_p=1.0, top_k=0,
            beta=s.beta, loss_type=s.loss_type, reward_weights=[w for _, w in rewards], seed=s.seed,
            data_seed=s.seed, logging_steps=s.logging_steps, logging_first_step=True,
            save_strategy="steps" if self.checkpoints is not None and s.save_steps else "no",
            save_steps=max(s.save_steps, 1), save_total_limit=2,
            report_to="none", disable_tqdm=not progress_enabled(), use_cpu=device == "cpu", bf16=bf16,
            dataloader_num_workers=0, remove_unused_columns=False, log_completions=False, **{checkpointing: checkpoint},
        )
        lora = LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                          target_modules=list(s.target_modules), task_type="CAUSAL_LM")
        data = HFDataset.from_list(prompts.rows)
        model = self.load_model(backend)
        steps_per_epoch = max(1, len(prompts.rows) // s.batch_size)
        weigh = None if self.weighter is None else _Weigh(self.weighter, steps_per_epoch)
        try:
            return _trainer_class()(model=model, reward_funcs=[f for f, _ in rewards], args=args, train_dataset=data,
                                    processing_class=tokenizer, peft_config=lora, weigh=weigh,
                                    constrained=s.constrained, reasoning=s.reasoning)
        except ValueError as error:
            if "target modules" in str(error).lower() or "target_modules" in str(error):
                raise ConfigError(f"trainer {TRAINER!r}: model {s.model!r}: LoRA cannot target "
                                  f"{list(s.target_modules)} ({error}); set target_modules to the names of the "
                                  "model's attention and MLP linear layers") from error
            raise


class _Weigh:
    """One weight per completion row: the sample weighter's weight of the prompt the row belongs to.

    TRL repeats each prompt's row once per completion; the weighter is asked
    once per distinct prompt of the batch.
    """

    def __init__(self, weighter: SampleWeighter, steps_per_epoch: int) -> None:
        self.weighter = weighter
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, rows: Sequence[dict[str, Any]], step: int, total: int) -> np.ndarray:
        keys = [(str(r["query_id"]), tuple(r["doc_ids"])) for r in rows]
        first = {key: row for key, row in zip(keys, rows)}
        samples = [training_sample(row) for row in first.values()]
        progress = TrainingProgress(step, total, self.steps_per_epoch)
        values = np.asarray(self.weighter.weights(samples, progress), dtype=np.float32)
        if values.shape != (len(samples),) or not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"sample weighter {self.weighter!r} returned invalid weights {values!r} "
                             f"(need {len(samples)} finite, non-negative values)")
        weight = dict(zip(first, values.tolist()))
        return np.asarray([weight[key] for key in keys], dtype=np.float32)


_CLASS: list[Any] = []


def _trainer_class() -> Any:
    """TRL's ``GRPOTrainer`` with a hook that multiplies each completion's advantage by its prompt's weight."""
    if _CLASS:
        return _CLASS[0]
    import torch
    from trl import GRPOTrainer

    class WeightedGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` whose advantages are scaled by a sample weighter's weight of each completion's prompt."""

        def __init__(self, *args: Any, weigh: _Weigh | None = None, constrained: bool = False,
                     reasoning: bool = True, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.weigh = weigh
            self.constrained = constrained
            self.reasoning = reasoning
            self.counts: list[int] = []
            self.tags: list[int] | None = None   # the tokenizer's tag tokens, found at the first constrained step

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            self.counts = [int(x["n"]) for x in inputs]   # the rows' labels, in the order they are generated
            output = super()._generate_and_score_completions(inputs)
            if self.weigh is not None and self.model.training:
                weights = self.weigh(inputs, int(self.state.global_step), int(self.state.max_steps))
                advantages = output["advantages"]
                output["advantages"] = advantages * torch.from_numpy(weights).to(advantages.device, advantages.dtype)
                self._metrics["train"][WEIGHT_KEY].append(float(weights.mean()))
            return output

        def _generate_single_turn(self, prompt_ids: list[list[int]], *args: Any, **kwargs: Any) -> Any:
            """TRL's generation, or (``constrained``) sampling under the answer constraint: every completion
            parses (see :class:`~rankkit_reasoning.constrained.AnswerConstraint`)."""
            if not self.constrained:
                return super()._generate_single_turn(prompt_ids, *args, **kwargs)
            if self.tags is None:
                from rankkit_reasoning.constrained import tag_tokens

                self.tags = tag_tokens(self.processing_class)
            return constrained_completions(self, prompt_ids, self.counts, self.tags, self.reasoning)

    _CLASS.append(WeightedGRPOTrainer)
    return WeightedGRPOTrainer


def constrained_completions(trainer: Any, prompt_ids: list[list[int]], counts: list[int],
                            tags: list[int] | None = None, reasoning: bool = True) -> tuple[list[list[int]], None]:
    """Sample one completion per prompt with ``trainer``'s generation settings under the answer constraint
    (without reasoning: the label alone).

    The prompts are left-padded as TRL pads them and generated by the policy
    (TRL's ``unwrap_model_for_generation``, as its own transformers path does);
    each completion is cut after its end token.

    Returns:
        The completion token ids and ``None`` (no sampling log-probabilities: the loss recomputes them).
    """
    import torch
    from transformers import LogitsProcessorList
    from trl.models import unwrap_model_for_generation

    from rankkit_reasoning.constrained import AnswerConstraint, end_index

    if len(counts) != len(prompt_ids):
        raise RuntimeError(f"constrained GRPO: {len(prompt_ids)} prompts but {len(counts)} label counts")
    pad = trainer.processing_class.pad_token_id
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + list(ids) for ids in prompt_ids])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids])
    device = trainer.accelerator.device
    ends = list(trainer.eos_token_ids)
    constraint = AnswerConstraint(trainer.processing_class, counts, trainer.max_completion_length, ends, tags,
                                  reasoning=reasoning)
    with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                     generation_kwargs=trainer.generation_kwargs) as model, torch.no_grad():
        output = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                generation_config=trainer.generation_config,
                                logits_processor=LogitsProcessorList([constraint]))
    return [row[:end_index(row, ends, len(row) - 1) + 1] for row in output[:, width:].tolist()], None
