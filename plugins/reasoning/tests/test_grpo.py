"""The rank-r1-grpo trainer: prompts from qrels and a first-stage run, the rewards, a few real GRPO steps on a tiny
random chat model, the adapter in the reranker, and sample weights that scale the policy loss."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from rankkit.components import TrainingSample, WeightableTrainer
from rankkit.errors import ConfigError
from rankkit.types import Ranking, Run
from rankkit_reasoning.grpo import RankR1GRPOTrainer
from rankkit_reasoning.grpo_data import build_prompts, training_sample
from rankkit_reasoning.settings import GRPOSettings, LocalSettings

#: A few tiny GRPO steps: 2 prompts x 2 completions of 8 tokens, 3 negatives of 8 tokens each.
TINY = {"device": "cpu", "max_steps": 2, "batch_size": 2, "num_generations": 2, "max_completion_length": 8,
        "negatives": 3, "passage_tokens": 8, "logging_steps": 1, "lora_dropout": 0.0}


def scattered(completions, **_):  # noqa: ANN001, ANN201
    """A reward that differs between (almost) any two texts, so a random model gets non-zero advantages."""
    from rankkit_reasoning.grpo import completion_text

    return [int(hashlib.sha256(completion_text(c).encode()).hexdigest()[:6], 16) / 0xFFFFFF for c in completions]


def with_scattered_reward():  # noqa: ANN201
    """rank_r1_rewards plus :func:`scattered` (weight 1): a random model never earns Rank-R1's reward."""
    from rankkit_reasoning import grpo

    rewards = grpo.rank_r1_rewards
    return lambda *args: [*rewards(*args), (scattered, 1.0)]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Six topics x five documents, five queries with one relevant document, and a 7-document candidates run."""
    from rankkit_crossencoder.testing import tiny_training_data

    return tiny_training_data(tmp_path_factory.mktemp("tiny-data"))


@pytest.fixture(scope="module")
def tokenizer(tiny_model):  # noqa: ANN001, ANN201
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


def _train(registry, model: Path, data, output: Path, weighter=None, **params) -> dict:  # noqa: ANN001
    with pytest.MonkeyPatch.context() as patch:
        from rankkit_reasoning import grpo

        patch.setattr(grpo, "rank_r1_rewards", with_scattered_reward())
        trainer = registry.build("trainer", "rank-r1-grpo", model=str(model), **{**TINY, **params})
        if weighter is not None:
            trainer = trainer.with_sample_weighter(weighter)
        output.mkdir(parents=True)
        dataset, candidates = data
        return trainer.train(dataset, output, candidates)


@pytest.fixture(scope="module")
def trained(registry, tiny_model, tiny_data, tmp_path_factory):  # noqa: ANN001, ANN201
    """An adapter after 2 steps with a large learning rate (so it visibly changes the model)."""
    output = tmp_path_factory.mktemp("grpo") / "adapter"
    return output, _train(registry, tiny_model, tiny_data, output, learning_rate=0.05)


def _lora_tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


# ---- prompts ---------------------------------------------------------------------------------------------------


def test_prompts_hold_one_positive_and_n_shuffled_negatives(tiny_data, tokenizer):
    dataset, candidates = tiny_data
    prompts = build_prompts(dataset, candidates, tokenizer, negatives=3, passage_tokens=8, seed=42)
    assert prompts.skipped == {"no_positive": 1} and prompts.examples == {"no_positive": ["q5"]}
    assert [r["query_id"] for r in prompts.rows] == ["q0", "q1", "q2", "q3", "q4"]
    positions = set()
    for row in prompts.rows:
        t = row["query_id"][1:]
        pool = [d for d in candidates[row["query_id"]].doc_ids.tolist() if d != f"d{t}-0"]
        assert row["n"] == 4 and len(set(row["doc_ids"])) == 4
        assert f"d{t}-0" in row["doc_ids"] and set(row["doc_ids"]) - {f"d{t}-0"} <= set(pool)
        label = row["doc_ids"].index(f"d{t}-0") + 1
        assert row["relevant"] == [label] and row["grades"] == [int(i == label) for i in range(1, 5)]
        positions.add(label)
        system, user = row["prompt"]
        assert system["role"] == "system" and user["role"] == "user" and "<answer>" in system["content"]
        assert f"Query: {dataset.queries()[int(t)].text}" in user["content"]
        passages = re.findall(r"^\[\d\] (.*)$", user["content"], re.M)
        assert len(passages) == 4 and all(len(tokenizer.encode(p, add_special_tokens=False)) <= 8 for p in passages)
        sample = training_sample(row)
        assert sample.doc_ids[0] == f"d{t}-0" and sample.labels == (1, 0, 0, 0) and sample.query_id == row["query_id"]
    assert len(positions) > 1  # shuffled: the relevant passage does not always get the same label
    again = build_prompts(dataset, candidates, tokenizer, negatives=3, passage_tokens=8, seed=42)
    other = build_prompts(dataset, candidates, tokenizer, negatives=3, passage_tokens=8, seed=7)
    assert again.rows == prompts.rows and other.rows != prompts.rows


def test_skipped_queries_are_counted_by_reason(tiny_data, tokenizer):
    dataset, candidates = tiny_data
    prompts = build_prompts(dataset, candidates, tokenizer, negatives=6, passage_tokens=8, seed=0)
    assert len(prompts.rows) == 5  # 7 candidates, one relevant: exactly 6 negatives
    partial = Run([r if r.query_id != "q1" else Ranking("q1", ["d1-0", "d1-1"], np.array([2.0, 1.0]))
                   for r in candidates.values() if r.query_id != "q2"])
    prompts = build_prompts(dataset, partial, tokenizer, negatives=3, passage_tokens=8, seed=0)
    assert prompts.skipped == {"no_positive": 1, "too_few_negatives": 1, "not_in_candidates": 1}
    assert [r["query_id"] for r in prompts.rows] == ["q0", "q3", "q4"]
    with pytest.raises(ConfigError, match=r"no GRPO prompts \(skipped: .*'too_few_negatives': 5.*at least 7 non-rel"):
        build_prompts(dataset, candidates, tokenizer, negatives=7, passage_tokens=8, seed=0)
    judged = build_prompts(dataset, None, tokenizer, negatives=1, passage_tokens=8, seed=0)  # qrels' non-relevant
    assert [sorted(r["doc_ids"]) for r in judged.rows][:2] == [["d0-0", "d0-4"], ["d1-0", "d1-4"]]


# ---- rewards ---------------------------------------------------------------------------------------------------


def test_rewards_on_hand_written_completions():
    from rankkit_reasoning.grpo import format_valid, rank_r1_rewards, relevance

    texts = ["<think>[2] names the glacier</think> <answer>[2]</answer>", "<think>hm</think><answer>[1]</answer>",
             "<answer>[2]</answer>", "<think>x</think><answer>[5]</answer>", "<think>x</think><answer>[2]</answer>!"]
    completions = [[{"role": "assistant", "content": t}] for t in texts]  # TRL's conversational completions
    n, relevant = [4] * 5, [[2]] * 5
    assert relevance(completions, n=n, relevant=relevant, prompts=None, trainer_state=None) == [1, 0, 0, 0, 0]
    assert format_valid(completions, n=n, relevant=relevant) == [1, 1, 0, 0, 0]
    assert relevance(texts, n=n, relevant=[[1, 2]] * 5) == [1, 1, 0, 0, 0]  # plain-text completions too
    assert [(f.__name__, w) for f, w in rank_r1_rewards()] == [("relevance", 1.0), ("format_valid", 0.0)]
    assert [w for _, w in rank_r1_rewards(0.1)] == [1.0, 0.1]   # the documented, switched format term


# ---- training --------------------------------------------------------------------------------------------------


def test_grpo_trains_an_adapter_with_curves_and_stats(trained):
    output, stats = trained
    assert {p.name for p in output.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors",
                                                  "rankkit-reasoning-adapter.json", "training-curves.png",
                                                  "training-log.json"}
    assert stats["steps"] == 2 and stats["prompts"] == 5 and stats["queries"] == 6
    assert stats["skipped"] == {"no_positive": 1} and stats["weighting"] is None
    assert stats["final_reward"] is not None and stats["final_format_valid_rate"] == 0.0  # a random model babbles
    assert stats["final_relevance_reward"] == 0.0 and 0 < stats["mean_completion_length"] <= 8
    assert stats["seconds"] > 0 and isinstance(stats["train_loss"], float)
    config = json.loads((output / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 32
    assert set(config["target_modules"]) == {f"{m}_proj" for m in ("q", "k", "v", "o", "gate", "up", "down")}
    info = json.loads((output / "rankkit-reasoning-adapter.json").read_text())
    assert info["trainer"] == "rank-r1-grpo" and info["base"]["gguf_file"] == "" and info["stats"] == stats
    history = json.loads((output / "training-log.json").read_text())["log_history"]
    steps = [h for h in history if "rewards/format_valid/mean" in h]
    assert [h["step"] for h in steps] == [1, 2] and all("completions/mean_length" in h and "reward" in h for h in steps)
    tensors = _lora_tensors(output)
    assert any("lora_B" in k and np.abs(v).max() > 0 for k, v in tensors.items())  # it learnt something
    assert (output / "training-curves.png").read_bytes()[:4] == b"\x89PNG"


def test_mixed_precision_and_activation_checkpointing_reach_trl(registry, tiny_model, tiny_data, tmp_path):
    from rankkit_reasoning.local import TransformersBackend

    backend = TransformersBackend(LocalSettings(model=str(tiny_model), device="cpu"))
    prompts = build_prompts(tiny_data[0], tiny_data[1], backend.tokenizer, 3, 8, 42)
    for precision, switch, expected in (("auto", "auto", False), ("bf16", "on", True), ("no", "off", False)):
        settings = GRPOSettings(model=str(tiny_model), mixed_precision=precision, activation_checkpointing=switch,
                                **TINY)
        args = RankR1GRPOTrainer(settings).trl_trainer(prompts, backend, tmp_path / f"scratch-{precision}").args
        checkpointing = getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing
        assert (args.bf16, bool(checkpointing)) == (expected, expected)  # on CPU, auto means neither
    stats = _train(registry, tiny_model, tiny_data, tmp_path / "bf16", max_steps=1, mixed_precision="bf16",
                   activation_checkpointing="on")
    assert stats["steps"] == 1 and (tmp_path / "bf16" / "adapter_model.safetensors").is_file()


def test_an_interrupted_training_resumes_from_its_last_checkpoint(registry, tiny_model, tiny_data, trained, tmp_path):
    from rankkit.components import ResumableTrainer
    from rankkit_reasoning import grpo

    calls: list[int] = []
    dying = [True]

    def dies_at_step_2(completions, **_):  # noqa: ANN001, ANN202
        calls.append(len(completions))
        if dying[0] and len(calls) == 2:
            raise KeyboardInterrupt  # the process dies while step 2 scores its completions
        return [0.0] * len(completions)

    folder = tmp_path / "checkpoints"
    trainer = registry.build("trainer", "rank-r1-grpo", model=str(tiny_model), learning_rate=0.05, save_steps=1,
                             **TINY)
    assert isinstance(trainer, ResumableTrainer)
    rewards = with_scattered_reward()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grpo, "rank_r1_rewards", lambda *args: [*rewards(*args), (dies_at_step_2, 0.0)])
        with pytest.raises(KeyboardInterrupt):
            trainer.with_checkpoints(folder).train(tiny_data[0], tmp_path / "first", tiny_data[1])
        assert grpo.latest_checkpoint(folder) == folder / "checkpoint-1"
        (folder / "checkpoint-2").mkdir()  # a save cut short: no trainer state, never resumed from
        calls.clear()
        dying[0] = False  # a restarted process
        stats = trainer.with_checkpoints(folder).train(tiny_data[0], tmp_path / "again", tiny_data[1])
    assert stats["steps"] == 2 and len(calls) == 1  # only step 2 was scored again: step 1 came from the checkpoint
    first, resumed = _lora_tensors(trained[0]), _lora_tensors(tmp_path / "again")
    assert first.keys() == resumed.keys()
    assert all(np.allclose(first[k], resumed[k], atol=1e-6) for k in first)  # as if never interrupted


def test_seeded_reruns_give_the_same_adapter(registry, tiny_model, tiny_data, trained, tmp_path):
    again = tmp_path / "again"
    _train(registry, tiny_model, tiny_data, again, learning_rate=0.05)
    first, second = _lora_tensors(trained[0]), _lora_tensors(again)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)  # CPU, one thread: bit for bit
    _train(registry, tiny_model, tiny_data, tmp_path / "seed", learning_rate=0.05, seed=43)
    third = _lora_tensors(tmp_path / "seed")
    assert not all(np.array_equal(first[k], third[k]) for k in first)


# ---- the adapter in the reranker ---------------------------------------------------------------------------------


def test_the_reranker_applies_the_adapter(registry, tiny_model, trained):
    import torch

    output, _ = trained
    base = registry.build("reranker", "rank-r1", model=str(tiny_model), device="cpu")
    tuned = registry.build("reranker", "rank-r1", model=str(tiny_model), device="cpu", adapter=str(output))
    assert tuned.fingerprint != base.fingerprint
    model = tuned.backend.model
    assert model.active_adapters == ["default"] and model.peft_config["default"].inference_mode is True
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b)
    backend = tuned.backend
    batch = backend.tokenizer([backend.render([{"role": "user", "content": "glacier ice cave"}])], return_tensors="pt",
                              add_special_tokens=False)
    with torch.inference_mode():
        with_adapter = model(**batch).logits
        with model.disable_adapter():
            without = model(**batch).logits
        plain = base.backend.model(**batch).logits
    assert torch.allclose(without, plain, atol=1e-5) and not torch.allclose(with_adapter, plain, atol=1e-3)
    [out] = tuned.rerank([_query()], [_ranking()])
    assert sorted(out.doc_ids.tolist()) == [f"d{i}" for i in range(4)]


def _query():  # noqa: ANN202
    from rankkit.types import Query

    return Query("q", "glacier ice cave")


def _ranking() -> Ranking:
    texts = tuple(f"report {i} on glacier ice" for i in range(4))
    return Ranking("q", [f"d{i}" for i in range(4)], np.arange(4, 0, -1), texts)


def test_an_adapter_for_another_base_model_is_refused(registry, trained, tmp_path):
    from rankkit_reasoning.testing import tiny_chat_model

    output, _ = trained
    other = tiny_chat_model(tmp_path / "other", seed=1)
    with pytest.raises(ConfigError, match=r"adapter .* was trained on base model '.*' \(content \w+\), but the "
                                          r"reranker's model is '.*other' \(content \w+\); set model"):
        registry.build("reranker", "rank-r1", model=str(other), device="cpu", adapter=str(output))
    with pytest.raises(ConfigError, match="holds no LoRA adapter .*train:NAME"):
        registry.build("reranker", "rank-r1", model=str(other), adapter=str(tmp_path))
    with pytest.raises(ConfigError, match="adapter applies to the transformers backend only"):
        registry.build("reranker", "rank-r1", backend="openai", api_model="m", adapter=str(output))


# ---- sample weights ------------------------------------------------------------------------------------------------


class ConstantWeighter:
    """Weighs every sample ``weight`` and records what it was asked."""

    fingerprint = "constant"

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.asked: list[tuple[list[TrainingSample], int]] = []

    def prepare(self, dataset, candidates) -> dict:  # noqa: ANN001
        return {"constant": self.weight}

    def weights(self, samples, progress) -> np.ndarray:  # noqa: ANN001
        self.asked.append((list(samples), progress.step))
        return np.full(len(samples), self.weight)


def test_sample_weights_scale_the_policy_gradient(registry, tiny_model, tiny_data, tokenizer, tmp_path):
    import torch

    from rankkit_reasoning import grpo
    from rankkit_reasoning.backends import TransformersBackend

    trainer = registry.build("trainer", "rank-r1-grpo", model=str(tiny_model), **TINY)
    assert isinstance(trainer, WeightableTrainer)
    weighter = ConstantWeighter(1.0)
    weighted = trainer.with_sample_weighter(weighter)
    assert trainer.weighter is None and weighted.settings == trainer.settings
    prompts = build_prompts(*tiny_data, tokenizer, negatives=3, passage_tokens=8, seed=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grpo, "rank_r1_rewards", with_scattered_reward())
        trl = weighted.trl_trainer(prompts, TransformersBackend(LocalSettings(model=str(tiny_model), device="cpu")),
                                  tmp_path)
    trl.model.train()
    trl.current_gradient_accumulation_steps = 1
    batch = [row for row in prompts.rows[:2] for _ in range(2)]  # 2 prompts x 2 completions, as TRL groups them

    def gradients(weight: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
        weighter.weight = weight
        torch.manual_seed(0)
        inputs = trl._generate_and_score_completions(batch)
        trl.model.zero_grad()
        trl.compute_loss(trl.model, inputs).backward()
        return inputs["advantages"], [p.grad.clone() for p in trl.model.parameters() if p.requires_grad]

    advantages, grads = gradients(1.0)
    assert advantages.abs().max() > 0 and any(g.abs().max() > 0 for g in grads)
    half_advantages, half_grads = gradients(0.5)
    assert torch.allclose(half_advantages, 0.5 * advantages)
    assert all(torch.allclose(h, 0.5 * g, atol=1e-7) for h, g in zip(half_grads, grads))
    _, zero_grads = gradients(0.0)
    assert all(g.abs().max() == 0 for g in zero_grads)
    samples, step = weighter.asked[0]
    assert len(samples) == 2 and step == 0  # once per prompt, not per completion
    assert samples[0].query_id == batch[0]["query_id"] and samples[0].labels == (1, 0, 0, 0)
    assert samples[0].doc_ids == training_sample(batch[0]).doc_ids


def test_a_zero_weight_leaves_the_adapter_untrained(registry, tiny_model, tiny_data, tmp_path):
    weighter = ConstantWeighter(0.0)
    stats = _train(registry, tiny_model, tiny_data, tmp_path / "zero", weighter=weighter, learning_rate=0.05)
    assert stats["weighting"] == {"constant": 0.0} and stats["final_mean_weight"] == 0.0
    assert [step for _, step in weighter.asked] == [0, 1]
    tensors = _lora_tensors(tmp_path / "zero")
    assert all(np.abs(v).max() == 0 for k, v in tensors.items() if "lora_B" in k)  # no policy gradient at all


def test_the_curriculum_trainer_can_wrap_it(registry, tiny_model):
    if "curriculum" not in registry.components("trainer"):
        pytest.skip("rankkit-curriculum is not installed")
    wrapped = registry.build("trainer", "curriculum", trainer="rank-r1-grpo",
                             trainer_params={"model": str(tiny_model), **TINY}, heuristic="reciprank", end=2.0,
                             end_unit="steps")
    assert wrapped.inner.weighter is wrapped.weighter
    resumable = wrapped.with_checkpoints(Path("checkpoints"))  # forwarded to rank-r1-grpo, which resumes
    assert resumable.inner.checkpoints == Path("checkpoints") and resumable.inner.weighter is wrapped.weighter
    assert wrapped.inner.checkpoints is None


def test_bad_trainer_parameters_are_named(registry, tiny_model, tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="'num_generations' = 1 is out of range: it must be >= 2"):
        registry.build("trainer", "rank-r1-grpo", num_generations=1)
    with pytest.raises(ConfigError, match="'loss_type' = 'cispo' is not one of"):
        registry.build("trainer", "rank-r1-grpo", loss_type="cispo")
    with pytest.raises(ConfigError, match="'temperature' = 0.0 is out of range: it must be > 0"):
        registry.build("trainer", "rank-r1-grpo", temperature=0.0)
    with pytest.raises(ConfigError, match="target_modules must list module names"):
        registry.build("trainer", "rank-r1-grpo", target_modules=[])
    with pytest.raises(ConfigError, match="batch_size 6; lower batch_size"):  # 5 prompts
        registry.build("trainer", "rank-r1-grpo", model=str(tiny_model), **{**TINY, "batch_size": 6}).train(
            *tiny_data[:1], tmp_path, tiny_data[1])
    with pytest.raises(ConfigError, match="'mixed_precision' = 'fp8' is not one of"):
        registry.build("trainer", "rank-r1-grpo", mixed_precision="fp8")
    with pytest.raises(ConfigError, match="'activation_checkpointing' = 'yes' is not one of"):
        RankR1GRPOTrainer(GRPOSettings(activation_checkpointing="yes"))
    trainer = registry.build("trainer", "rank-r1-grpo", model=str(tiny_model), **{**TINY, "target_modules": ["x_proj"]})
    with pytest.raises(ConfigError, match=r"LoRA cannot target \['x_proj'\] .* set target_modules"):
        trainer.train(tiny_data[0], tmp_path, tiny_data[1])


# ---- constrained completions and held-out choice accuracy -------------------------------------------------------


def test_constrained_training_answers_every_completion_and_measures_held_out_choices(registry, tiny_model, tiny_data,
                                                                                     tmp_path):
    output = tmp_path / "adapter"
    stats = _train(registry, tiny_model, tiny_data, output, constrained=True, held_out=2, max_completion_length=48,
                   learning_rate=0.05)
    history = json.loads((output / "training-log.json").read_text())["log_history"]
    rates = [h["rewards/format_valid/mean"] for h in history if "rewards/format_valid/mean" in h]
    assert rates and all(rate == 1.0 for rate in rates)   # a random model answers in format: the constraint did it
    assert stats["prompts"] == 3 and stats["held_out_prompts"] == 2 and stats["queries"] == 6   # 5 prompts, 2 held out
    assert stats["constrained"] is True
    held = stats["held_out"]
    for side in ("before", "after"):
        assert held[side]["prompts"] == 2 and held[side]["answered"] == 1.0
        assert 0 <= held[side]["accuracy"] <= 1 and held[side]["chance"] == 0.25
        assert held[side]["ci95"][0] <= held[side]["accuracy"] <= held[side]["ci95"][1]
    assert set(held["after_vs_before"]) == {"difference", "gained", "lost", "p_mcnemar"}
    saved = json.loads((output / "held-out-choices.json").read_text())
    assert len(saved["queries"]) == 2 and len(saved["before"]["labels"]) == 2
    assert all(label in range(1, 5) for label in saved["after"]["labels"])


def test_label_only_training_samples_the_label_alone(registry, tiny_model, tiny_data, tokenizer, tmp_path):
    output = tmp_path / "adapter"
    stats = _train(registry, tiny_model, tiny_data, output, constrained=True, reasoning=False, held_out=2,
                   max_completion_length=40, learning_rate=0.05)
    history = json.loads((output / "training-log.json").read_text())["log_history"]
    forced = len(tokenizer.encode("<think>\n", add_special_tokens=False)) + len(
        tokenizer.encode("\n</think>\n<answer>[", add_special_tokens=False)) + 1   # ... and the end token
    possible = {forced + len(tokenizer.encode(f"{k}]</answer>", add_special_tokens=False)) for k in range(1, 5)}
    logged = [h for h in history if "completions/min_length" in h]
    assert logged and all({h["completions/min_length"], h["completions/max_length"]} <= possible for h in logged)
    assert all(h["rewards/format_valid/mean"] == 1.0 for h in history if "rewards/format_valid/mean" in h)
    assert stats["held_out"]["before"]["answered"] == 1.0 and stats["held_out"]["before"]["tokens"] <= 2 * max(possible)
    with pytest.raises(ConfigError, match="reasoning = false needs constrained = true"):
        _train(registry, tiny_model, tiny_data, tmp_path / "other", reasoning=False)


def test_held_out_prompts_are_never_trained_on(tiny_data, tokenizer):
    from rankkit_reasoning.choice import split_held_out

    dataset, candidates = tiny_data
    rows = build_prompts(dataset, candidates, tokenizer, 3, 8, 42).rows
    train, held = split_held_out(rows, 2, 42)
    assert len(held) == 2 and len(train) == len(rows) - 2
    assert not {r["query_id"] for r in train} & {r["query_id"] for r in held}
    assert split_held_out(rows, 2, 42) == (train, held) and split_held_out(rows, 0, 42) == (rows, [])


def test_a_completion_budget_too_small_for_the_forced_answer_is_named(registry, tiny_model, tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="max_completion_length"):
        _train(registry, tiny_model, tiny_data, tmp_path / "adapter", constrained=True, max_completion_length=8)
