"""Setwise sorting: heapsort and bubblesort whose comparison picks the best of a small set.

After Zhuang et al., "A Setwise Approach to Effective and Highly Efficient
Zero-shot Ranking with Large Language Models" (SIGIR 2024). An LLM call shows
a few candidates and names the most relevant one; the sorts below use such
calls as their only comparison and stop once the top ``k`` are in place.

The algorithms know nothing of LLMs. Candidates are the integers ``0..n-1``
(their first-stage positions). Each sort is a generator that yields the
candidates of the next comparison and receives the position, in that set, of
the best one; :class:`SetwiseSort` drives one as a state machine (so a reranker
can batch the calls of many queries) and :func:`setwise_sort` drives one with a
``choose`` callback (so the sorts are testable with an oracle). In the result,
the top ``k`` come first, best first, and every other candidate follows in its
first-stage order.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

METHODS = ("heapsort", "bubblesort")

#: Yields the candidates of a comparison, receives the position of the best, returns the final order.
SortSteps = Generator[list[int], int, list[int]]
#: Given the candidates of a comparison, returns the position of the best among them.
Choose = Callable[[Sequence[int]], int]


def heapsort_steps(n: int, num_child: int = 3, k: int = 10) -> SortSteps:
    """Setwise heapsort: a heap in which each node has ``num_child`` children.

    Building the heap and each sift-down step compare a parent with its (up to)
    ``num_child`` children in one call (``num_child + 1`` candidates, the parent
    first). The best is then extracted ``k`` times; no call follows the last extraction.
    """
    _check(n, num_child, k)
    heap = list(range(n))

    def sift_down(root: int, size: int) -> Generator[list[int], int, None]:
        while True:
            first = num_child * root + 1
            children = list(range(first, min(first + num_child, size)))
            if not children:
                return
            best = yield [heap[root], *(heap[c] for c in children)]
            if best == 0:
                return
            child = children[best - 1]
            heap[root], heap[child] = heap[child], heap[root]
            root = child

    for root in range((n - 2) // num_child, -1, -1):
        yield from sift_down(root, n)
    top: list[int] = []
    for size in range(n - 1, n - 1 - min(k, n), -1):
        top.append(heap[0])
        if len(top) == k:
            break  # the k-th best is out: the rest of the heap needs no more order
        heap[0] = heap[size]
        yield from sift_down(0, size)
    return _finish(top, n)


def bubblesort_steps(n: int, num_child: int = 3, k: int = 10) -> SortSteps:
    """Setwise bubblesort: ``k`` passes of a window of ``num_child + 1`` candidates sliding up from the bottom.

    Each window's best moves to the window's top (the others keep their order)
    and the window moves up by ``num_child``, so the best carries along; a pass
    ends with the best of the unsorted part at its top.
    """
    _check(n, num_child, k)
    order = list(range(n))
    for fixed in range(min(k, n - 1)):
        end = n
        while end - fixed > 1:
            start = max(fixed, end - num_child - 1)
            window = order[start:end]
            best = yield list(window)
            order[start:end] = [window[best], *window[:best], *window[best + 1:]]
            if start == fixed:
                break
            end = start + 1
    return _finish(order[: min(k, n)], n)


def _check(n: int, num_child: int, k: int) -> None:
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    if num_child < 1:
        raise ValueError(f"num_child must be at least 1 (candidates per call: num_child + 1), got {num_child}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _finish(top: list[int], n: int) -> list[int]:
    """The sorted ``top``, then everything else in first-stage order."""
    chosen = set(top)
    return top + [i for i in range(n) if i not in chosen]


def sort_steps(method: str, n: int, num_child: int = 3, k: int = 10) -> SortSteps:
    """The generator of ``method`` (``heapsort`` or ``bubblesort``).

    Raises:
        ValueError: For another method, naming the valid ones.
    """
    if method == "heapsort":
        return heapsort_steps(n, num_child, k)
    if method == "bubblesort":
        return bubblesort_steps(n, num_child, k)
    raise ValueError(f"unknown setwise method {method!r}; valid methods: {', '.join(METHODS)}")


class SetwiseSort:
    """One setwise sort as a state machine: read :attr:`pending`, :meth:`answer` it, until :attr:`done`.

    A comparison of the same candidates in the same order as an earlier one is
    answered from memory without a call (bubblesort repeats the windows that a
    pass left unchanged); :attr:`calls` counts only the comparisons asked.

    Args:
        method: ``heapsort`` or ``bubblesort``.
        n: Number of candidates (``0..n-1``, in first-stage order).
        num_child: Candidates per comparison minus one.
        k: How many of the best must be sorted.
    """

    def __init__(self, method: str, n: int, num_child: int = 3, k: int = 10) -> None:
        self._steps = sort_steps(method, n, num_child, k)
        self._memory: dict[tuple[int, ...], int] = {}
        self.calls = 0
        self.order: list[int] | None = None
        self.pending: tuple[int, ...] | None = None
        self._advance(None)

    @property
    def done(self) -> bool:
        """Whether the sort has finished (:attr:`order` is set)."""
        return self.order is not None

    def answer(self, position: int) -> None:
        """Give the position, in :attr:`pending`, of the best candidate; moves to the next comparison.

        Raises:
            ValueError: When nothing is pending or the position is out of range.
        """
        if self.pending is None:
            raise ValueError("the sort is finished; there is no comparison to answer")
        if not 0 <= position < len(self.pending):
            raise ValueError(f"position {position} is out of range for {len(self.pending)} candidates")
        self.calls += 1
        self._memory[self.pending] = position
        self._advance(position)

    def _advance(self, position: int | None) -> None:
        try:
            candidates = tuple(next(self._steps) if position is None else self._steps.send(position))
            while candidates in self._memory:
                candidates = tuple(self._steps.send(self._memory[candidates]))
        except StopIteration as stop:
            self.order, self.pending = list(stop.value), None
            return
        self.pending = candidates


@dataclass(frozen=True)
class SortResult:
    """A finished setwise sort.

    Attributes:
        order: Candidate indexes, best first: the sorted top ``k``, then the rest in first-stage order.
        calls: Comparisons asked (each an LLM call in a reranker).
    """

    order: list[int]
    calls: int


def setwise_sort(method: str, n: int, choose: Choose, num_child: int = 3, k: int = 10) -> SortResult:
    """Sort candidates ``0..n-1`` with ``choose`` as the comparison.

    Args:
        method: ``heapsort`` or ``bubblesort``.
        n: Number of candidates, in first-stage order.
        choose: Given the candidates of one comparison, returns the position of the best among them.
        num_child: Candidates per comparison minus one (heapsort: children per node; bubblesort: window step).
        k: How many of the best to sort (``k >= n`` sorts them all).

    Returns:
        The order and the number of comparisons.
    """
    sort = SetwiseSort(method, n, num_child, k)
    while sort.pending is not None:
        sort.answer(choose(sort.pending))
    return SortResult(sort.order or [], sort.calls)
