"""A lexical scorer: the fraction of distinct query terms that occur in the document."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+")


def _terms(text: str, lowercase: bool) -> set[str]:
    return set(_TOKEN.findall(text.lower() if lowercase else text))


class TermOverlapScorer:
    """Scores a document by the share of the query's distinct terms it contains.

    Args:
        lowercase: Compare terms case-insensitively.
        delay: Seconds to sleep per call, so tests can interrupt a long run.
    """

    def __init__(self, lowercase: bool = True, delay: float = 0.0) -> None:
        self.lowercase = lowercase
        self.delay = delay

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One score in [0, 1] per document."""
        if self.delay:
            time.sleep(self.delay)
        terms = _terms(query, self.lowercase)
        if not terms:
            return np.zeros(len(documents), dtype=np.float32)
        return np.array([len(terms & _terms(d, self.lowercase)) / len(terms) for d in documents], dtype=np.float32)
