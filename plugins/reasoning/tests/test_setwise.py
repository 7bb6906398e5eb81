"""Setwise heapsort and bubblesort with an oracle comparison: exact top-k, call counts, first-stage tails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rankkit_reasoning.setwise import METHODS, SetwiseSort, bubblesort_steps, setwise_sort


class Oracle:
    """Chooses by true relevance, and records the size of every comparison it is asked."""

    def __init__(self, relevance, num_child: int) -> None:
        self.relevance = list(relevance)
        self.num_child = num_child
        self.asked: list[tuple[int, ...]] = []

    def __call__(self, candidates) -> int:
        assert 2 <= len(candidates) <= self.num_child + 1, candidates
        assert len(set(candidates)) == len(candidates)
        self.asked.append(tuple(candidates))
        scores = [self.relevance[c] for c in candidates]
        return scores.index(max(scores))


def _expected(relevance, k: int) -> list[int]:
    n = len(relevance)
    top = sorted(range(n), key=lambda i: -relevance[i])[: min(k, n)]
    return top + [i for i in range(n) if i not in top]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [0, 1, 2, 5, 20, 33])
@pytest.mark.parametrize("num_child", [1, 2, 3, 7])
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_oracle_gives_the_exact_top_k_and_a_first_stage_tail(method, n, num_child, k):
    relevance = np.random.default_rng(n * 100 + num_child * 10 + k).permutation(n).tolist()
    oracle = Oracle(relevance, num_child)
    result = setwise_sort(method, n, oracle, num_child=num_child, k=k)
    assert result.order == _expected(relevance, k)
    assert result.calls == len(oracle.asked) == len(set(oracle.asked))  # each distinct comparison asked once


@pytest.mark.parametrize("method", METHODS)
def test_k_at_least_n_sorts_everything(method):
    relevance = [3, 9, 1, 7, 5, 8, 2, 6, 4, 0]
    result = setwise_sort(method, 10, Oracle(relevance, 3), num_child=3, k=10)
    assert result.order == sorted(range(10), key=lambda i: -relevance[i])
    assert setwise_sort(method, 10, Oracle(relevance, 3), num_child=3, k=99).order == result.order


def test_heapsort_makes_far_fewer_calls_than_comparing_all():
    n, num_child, k = 20, 3, 10
    worst = 0
    for seed in range(20):
        relevance = np.random.default_rng(seed).permutation(n).tolist()
        worst = max(worst, setwise_sort("heapsort", n, Oracle(relevance, num_child), num_child, k).calls)
    depth = math.ceil(math.log(n * (num_child - 1) + 1, num_child)) - 1  # levels below the root of a 3-ary heap
    internal = (n - 2) // num_child + 1
    assert worst <= internal * depth + k * depth < n * (n - 1) // 2
    # a first stage that is already perfect: building the heap asks each internal node once, and so does k = 1
    assert setwise_sort("heapsort", n, Oracle(range(n, 0, -1), num_child), num_child, k=1).calls == internal
    # each further extraction sifts the last leaf down from the root, one call per level
    assert setwise_sort("heapsort", n, Oracle(range(n, 0, -1), num_child), num_child, k=2).calls == internal + depth


def test_bubblesort_passes_and_remembered_windows():
    n, num_child = 20, 3
    one_pass = setwise_sort("bubblesort", n, Oracle(np.random.default_rng(0).permutation(n), num_child), num_child, 1)
    assert one_pass.calls == math.ceil((n - 1) / num_child)  # one window per step up, the best carried along
    reversed_first_stage = Oracle(list(range(n)), num_child)  # the best is last: every window moves something
    calls = setwise_sort("bubblesort", n, reversed_first_stage, num_child, k=3).calls
    assert calls <= sum(math.ceil((n - 1 - i) / num_child) for i in range(3))
    # a perfect first stage changes no window, so later passes repeat earlier windows and ask nothing new
    perfect = setwise_sort("bubblesort", n, Oracle(list(range(n, 0, -1)), num_child), num_child, k=10)
    assert perfect.order == list(range(n))
    assert perfect.calls < sum(math.ceil((n - 1 - i) / num_child) for i in range(10)) // 2


def test_a_comparison_that_always_picks_the_first_still_gives_a_permutation():
    for method in METHODS:
        result = setwise_sort(method, 15, lambda candidates: 0, num_child=4, k=6)
        assert sorted(result.order) == list(range(15))
        assert result.order[6:] == sorted(result.order[6:])


def test_state_machine_answers_and_refuses_bad_positions():
    sort = SetwiseSort("heapsort", 4, num_child=3, k=1)
    assert sort.pending == (0, 1, 2, 3) and not sort.done
    with pytest.raises(ValueError, match="position 4 is out of range for 4 candidates"):
        sort.answer(4)
    sort.answer(2)  # candidate 2 is the best: swapped to the root, a leaf has no children
    assert sort.done and sort.order == [2, 0, 1, 3] and sort.calls == 1
    with pytest.raises(ValueError, match="the sort is finished"):
        sort.answer(0)


def test_bubblesort_moves_the_best_to_the_window_top():
    steps = bubblesort_steps(5, num_child=2, k=1)
    assert next(steps) == [2, 3, 4]
    assert steps.send(2) == [0, 1, 4]  # 4 carried up, 2 and 3 keep their order below it
    with pytest.raises(StopIteration) as stop:
        steps.send(2)
    assert stop.value.value == [4, 0, 1, 2, 3]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown setwise method 'quicksort'; valid methods: heapsort, bubblesort"):
        setwise_sort("quicksort", 3, lambda c: 0)
    with pytest.raises(ValueError, match="num_child must be at least 1"):
        setwise_sort("heapsort", 3, lambda c: 0, num_child=0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        setwise_sort("bubblesort", 3, lambda c: 0, k=0)
