"""The answer constraint on a real (tiny, random) model, held-out choice statistics and the learning test."""

from __future__ import annotations

import re

import pytest

from rankkit_reasoning.choice import Choices, choice_summary, compare_choices
from rankkit_reasoning.constrained import AnswerConstraint
from rankkit_reasoning.curves import learning_test
from rankkit_reasoning.parsing import parse_answer
from rankkit_reasoning.prompts import build_messages, render_chat


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model):  # noqa: ANN001, ANN201
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(str(tiny_model)), AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.mark.parametrize("budget", [40, 64])
def test_every_sampled_completion_parses_with_a_label_of_its_prompt(model_and_tokenizer, budget):
    import torch
    from transformers import LogitsProcessorList

    model, tokenizer = model_and_tokenizer
    counts = [2, 3, 4, 4, 5, 3]
    texts = [render_chat(tokenizer, build_messages(f"query {i}", [f"passage {j}" for j in range(n)]))
             for i, n in enumerate(counts)]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    constraint = AnswerConstraint(tokenizer, counts, budget, [model.generation_config.eos_token_id])
    torch.manual_seed(0)
    output = model.generate(**inputs, max_new_tokens=budget, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                            logits_processor=LogitsProcessorList([constraint]), pad_token_id=tokenizer.pad_token_id)
    for n, row in zip(counts, output[:, inputs["input_ids"].shape[1]:]):
        text = tokenizer.decode(row, skip_special_tokens=True)
        parsed = parse_answer(text, n)
        assert parsed.valid, (text, parsed.error)
        assert 1 <= parsed.label <= n


def test_the_budget_must_leave_room_to_reason(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    with pytest.raises(ValueError, match="no room to reason"):
        AnswerConstraint(tokenizer, [4], 6, [tokenizer.eos_token_id])
    with pytest.raises(ValueError, match="too small for the forced answer"):
        AnswerConstraint(tokenizer, [4], 6, [tokenizer.eos_token_id], reasoning=False)


def test_without_reasoning_only_the_label_is_sampled(model_and_tokenizer):
    """reasoning = False: every completion is the forced <think></think><answer>[ with a sampled label, the same
    token sequence but for the label (what label-only GRPO trains and the reranker's answer = "label" decodes)."""
    import torch
    from transformers import LogitsProcessorList

    model, tokenizer = model_and_tokenizer
    counts = [2, 3, 4, 4, 5, 3, 4, 4]
    texts = [render_chat(tokenizer, build_messages(f"query {i}", [f"passage {j}" for j in range(n)]))
             for i, n in enumerate(counts)]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    constraint = AnswerConstraint(tokenizer, counts, 40, [model.generation_config.eos_token_id], reasoning=False)
    torch.manual_seed(0)
    output = model.generate(**inputs, max_new_tokens=40, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                            logits_processor=LogitsProcessorList([constraint]), pad_token_id=tokenizer.pad_token_id)
    labels = []
    for n, row in zip(counts, output[:, inputs["input_ids"].shape[1]:]):
        text = tokenizer.decode(row, skip_special_tokens=True)
        parsed = parse_answer(text, n)
        assert parsed.valid and parsed.reasoning == "" and 1 <= parsed.label <= n, text
        assert re.fullmatch(r"<think>\s*</think>\s*<answer>\[\d\]</answer>", text), text
        labels.append(parsed.label)
    assert len(set(labels)) > 1   # sampled, not fixed


def test_choice_summary_and_mcnemar():
    before = Choices([1, 1, 1, 1, 2, None, 1, 1], [0, 1, 0, 0, 0, 0, 1, 0], [4] * 8, [1] * 8, 1.0, 80)
    after = Choices([2, 1, 3, 4, 2, 1, 1, 1], [1, 1, 1, 1, 0, 0, 1, 0], [4] * 8, [1] * 8, 1.0, 80)
    summary = choice_summary(after)
    assert summary["accuracy"] == 0.625 and summary["chance"] == 0.25 and summary["answered"] == 1.0
    assert summary["ci95"][0] < 0.625 < summary["ci95"][1]
    assert 0 < summary["p_above_chance"] < 0.05   # 5 of 8 at chance 1/4: binomial p = 0.027
    assert choice_summary(before)["label_rate"] == {"1": 0.75, "2": 0.125} and choice_summary(before)["answered"] == 0.875
    comparison = compare_choices(before, after)
    assert comparison == {"difference": 0.375, "gained": 3, "lost": 0, "p_mcnemar": pytest.approx(0.25)}
    with pytest.raises(ValueError):
        compare_choices(before, Choices([1], [1], [4], [1], 0.0, 1))


def test_the_learning_test_sees_a_rise_and_not_noise():
    def history(values):  # noqa: ANN001, ANN202
        return [{"step": i + 1, "reward": v} for i, v in enumerate(values)]

    rising = learning_test(history([0.1, 0.2, 0.0, 0.1, 0.2] + [0.4] * 15 + [0.6, 0.7, 0.8, 0.6, 0.7]))
    assert rising["steps"] == 5 and rising["first"] == 0.12 and rising["last"] == 0.68 and rising["p"] < 0.01
    flat = learning_test(history([0.2, 0.3, 0.1, 0.2, 0.3] * 5))
    assert flat["p"] > 0.3
    assert learning_test(history([0.1] * 10)) is None   # 2 values per fifth: too few


def test_a_model_about_to_write_a_tag_closes_its_reasoning_instead(model_and_tokenizer):
    """Greedy steps over scripted scores in which tag-starting tokens lead: the reasoning closes at once and the
    answer takes the best allowed label, never a stray tag."""
    import torch

    from rankkit_reasoning.constrained import tag_tokens

    _, tokenizer = model_and_tokenizer
    tags = tag_tokens(tokenizer)
    end = tokenizer.sep_token_id
    constraint = AnswerConstraint(tokenizer, [3], 64, [end], tags)
    ids = torch.tensor([[1, 2, 3]])
    label_two = tokenizer.encode("2", add_special_tokens=False)[0]
    for _ in range(64):
        scores = torch.zeros(1, len(tokenizer))
        scores[0, tags] = 5.0          # the model would write a tag
        scores[0, label_two] = 1.0     # and prefers label 2 among the labels
        token = int(constraint(ids, scores).argmax())
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        if token == end:
            break
    text = tokenizer.decode(ids[0, 3:], skip_special_tokens=True)
    parsed = parse_answer(text, 3)
    assert parsed.valid and parsed.label == 2 and parsed.reasoning == "", text
