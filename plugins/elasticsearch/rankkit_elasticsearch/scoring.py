"""Scoring under limits: a bounded pool of scoring threads with per-request deadlines, and MaxP passage scoring."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rankkit_elasticsearch.errors import RescoreError

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.components import Scorer

T = TypeVar("T")


async def by_deadline(awaitable: Awaitable[T], deadline: float) -> T:
    """``await awaitable`` until ``deadline`` (the event loop's clock), then :class:`asyncio.TimeoutError`.

    On Python 3.11+ this is ``asyncio.timeout_at``, which needs no extra task per call (it is on every request's path).
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout_at(deadline):
            return await awaitable
    return await asyncio.wait_for(awaitable, max(deadline - asyncio.get_running_loop().time(), 0.0))  # pragma: no cover


class ScoringGate:
    """Runs scoring jobs on ``concurrency`` threads, each within its request's deadline.

    A job that has not finished by its deadline gets a 504 (its thread, which Python
    cannot stop, keeps its slot until the scorer returns; a job still waiting for a
    slot is dropped). When ``concurrency + max_queued`` jobs are already in, a new one
    gets a 429 at once, as Elasticsearch answers a full search queue.

    Args:
        concurrency: Scoring jobs that run at once.
        max_queued: Jobs that may wait for a slot.
    """

    def __init__(self, concurrency: int, max_queued: int) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + max_queued
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="rankkit-scoring")
        self._in = 0

    @property
    def in_flight(self) -> int:
        """Jobs running or waiting (including timed-out ones whose scorer has not returned yet)."""
        return self._in

    async def run(self, job: Callable[..., T], *args: Any, deadline: float) -> T:
        """``job(*args)`` on a scoring thread, by ``deadline`` (the event loop's clock).

        Raises:
            RescoreError: 429 when the line is full; 504 when the deadline passes.
        """
        loop = asyncio.get_running_loop()
        if self._in >= self.capacity:
            raise RescoreError(f"rankkit serve is scoring {self._in} requests already (limit: {self.concurrency} at once, "
                               f"{self.capacity - self.concurrency} waiting); retry later",
                               status=429, es_type="es_rejected_execution_exception")
        self._in += 1
        future = self._executor.submit(job, *args)
        future.add_done_callback(lambda _: self._release(loop))
        try:
            return await by_deadline(asyncio.wrap_future(future), deadline)
        except asyncio.TimeoutError:
            future.cancel()
            raise ScoringTimeout() from None

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        """Free a job's place, on the event loop's thread (nothing to free once the loop has closed)."""
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._done)

    def _done(self) -> None:
        self._in -= 1

    def close(self) -> None:
        """Drop waiting jobs and let running ones finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class ScoringTimeout(RescoreError):
    """Scoring did not finish by the request's deadline (504)."""

    def __init__(self, message: str = "rankkit scoring did not finish within the request's deadline") -> None:
        super().__init__(message, status=504, es_type="rankkit_scoring_timeout_exception")


class MaxPassageScorer:
    """A scorer that scores a document as its best passage (MaxP, Dai and Callan 2019).

    Each document is cut into passages of ``words`` whitespace-separated words,
    starting every ``stride`` words (the last one reaches the end), at most
    ``max_passages`` per document (the rest of a very long document is not scored,
    which bounds the work a request can ask for); all passages of a call are scored
    in one call to the inner scorer, and a document gets the maximum of its
    passages' scores.

    Args:
        scorer: The inner scorer.
        words: Words per passage.
        stride: Words between passage starts.
        max_passages: Passages scored per document.
    """

    def __init__(self, scorer: Scorer, words: int, stride: int, max_passages: int = 32) -> None:
        if words < 1 or not 1 <= stride <= words or max_passages < 1:
            raise ValueError(f"MaxP needs words >= 1, 1 <= stride <= words and max_passages >= 1, got {words}, {stride}, {max_passages}")
        self.scorer, self.words, self.stride, self.max_passages = scorer, words, stride, max_passages
        inner = getattr(scorer, "fingerprint", type(scorer).__name__)
        self.fingerprint = hashlib.sha256(f"maxp:{words}:{stride}:{max_passages}:{inner}".encode()).hexdigest()[:16]

    def passages(self, text: str) -> list[str]:
        """The passages of one document (one empty passage for an empty text)."""
        tokens = text.split()
        starts = [0]
        while starts[-1] + self.words < len(tokens) and len(starts) < self.max_passages:
            starts.append(starts[-1] + self.stride)
        return [" ".join(tokens[s : s + self.words]) for s in starts]

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """Each document's best passage score."""
        passages: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(documents):
            cut = self.passages(text)
            passages.extend(cut)
            owners.extend([i] * len(cut))
        scores = np.asarray(self.scorer.score(query, passages), dtype=np.float64)
        if scores.shape != (len(passages),):
            raise ValueError(f"inner scorer returned {scores.shape} scores for {len(passages)} passages")
        best = np.full(len(documents), -np.inf)
        np.maximum.at(best, np.asarray(owners, dtype=np.int64), scores)
        return best
