"""Strict parsing of completions, and the GRPO rewards built on it."""

from __future__ import annotations

import re

import pytest

from rankkit_reasoning.parsing import ParsedAnswer, format_reward, parse_answer, relevance_reward


@pytest.mark.parametrize(("completion", "label", "reasoning"), [
    ("<think>passage 2 names the glacier</think><answer>[2]</answer>", 2, "passage 2 names the glacier"),
    ("\n <think>\n multi\nline \n</think>\n\n<answer> [ 3 ] </answer>\n", 3, "multi\nline"),
    ("<think></think><answer>[1]</answer>", 1, ""),
    ("<think>x</think><answer>[04]</answer>", 4, "x"),
])
def test_well_formed_completions_give_their_label(completion, label, reasoning):
    parsed = parse_answer(completion, 4)
    assert parsed == ParsedAnswer(label, reasoning)
    assert parsed.valid and parsed.index == label - 1


@pytest.mark.parametrize(("completion", "why"), [
    ("<answer>[1]</answer>", "no <think> tag"),
    ("<think>x<answer>[1]</answer>", "no </think> tag"),
    ("<think>x</think> [1]", "no <answer> tag"),
    ("<think>x</think><answer>[1]", "no </answer> tag"),
    ("I think [2] is best.", "no <think> tag"),
    ("", "no <think> tag"),
    ("<think>a</think><think>b</think><answer>[1]</answer>", "2 <think> tags"),
    ("<think>x</think><answer>[1]</answer><answer>[2]</answer>", "2 <answer> tags"),
    ("<think>x</think><answer>[4]</answer>", r"label \[4\] is out of range \(1..3\)"),
    ("<think>x</think><answer>[0]</answer>", r"label \[0\] is out of range"),
    ("<think>x</think><answer>[1]</answer> because it mentions ice", "text after </answer>"),
    ("Sure! <think>x</think><answer>[1]</answer>", "text before <think>"),
    ("<think>x</think> so: <answer>[1]</answer>", "text between </think> and <answer>"),
    ("<answer>[1]</answer><think>x</think>", "tags out of order"),
    ("<think>x</answer></think><answer>[1]<", "no </answer> tag|tags out of order"),
    ("<think>x</think><answer>2</answer>", "is not one bracketed label"),
    ("<think>x</think><answer>[1][2]</answer>", "is not one bracketed label"),
    ("<think>x</think><answer>[1.5]</answer>", "is not one bracketed label"),
    ("<think>x</think><answer>[-1]</answer>", "is not one bracketed label"),
    ("<think>x</think><answer>[two]</answer>", "is not one bracketed label"),
    ("<think>x</think><answer>Passage [1]</answer>", "is not one bracketed label"),
])
def test_malformed_completions_say_why(completion, why):
    parsed = parse_answer(completion, 3)
    assert not parsed.valid and parsed.label is None and parsed.index is None
    assert parsed.error is not None and re.search(why, parsed.error), parsed.error


def test_reasoning_is_kept_when_the_answer_is_malformed():
    assert parse_answer("<think> because of A </think><answer>[9]</answer>", 3).reasoning == "because of A"
    assert parse_answer("<think> unfinished thought <answer>[1]</answer>", 3).reasoning == "unfinished thought"
    assert parse_answer("no tags at all", 3).reasoning == ""


def test_format_reward():
    assert format_reward("<think>x</think><answer>[2]</answer>", 2) == 1.0
    assert format_reward("<think>x</think><answer>[3]</answer>", 2) == 0.0
    assert format_reward("<answer>[1]</answer>", 2) == 0.0


def test_relevance_reward_needs_a_valid_format_and_a_relevant_choice():
    good = "<think>x</think><answer>[2]</answer>"
    assert relevance_reward(good, 4, {2, 3}) == 1.0
    assert relevance_reward(good, 4, {1}) == 0.0
    assert relevance_reward(good, 4, set()) == 0.0
    assert relevance_reward(good + " trailing", 4, {2}) == 0.0  # right passage, broken format: no reward
    assert relevance_reward(good, 1, {2}) == 0.0  # label beyond the passages shown


@pytest.mark.parametrize("completion, reasoning", [
    ("Passage two, probably.", "Passage two, probably."),
    ("<think> unfinished thought", "unfinished thought"),
    ("<think> A fits </think> <answer>[7", "A fits"),
    ("[1] is best <answer>[1]</answer>", "[1] is best"),
    ("", ""),
])
def test_forced_answer_closes_the_reasoning_and_opens_the_answer(completion, reasoning):
    from rankkit_reasoning.parsing import forced_answer

    assert forced_answer(completion) == f"<think>\n{reasoning}\n</think>\n<answer>["
