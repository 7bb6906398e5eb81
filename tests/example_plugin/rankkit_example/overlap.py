"""A lexical scorer: the fraction of distinct query terms that occur in the document."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np

from rankkit_example.settings import OverlapSettings

_TOKEN = re.compile(r"\w+")


def _terms(text: str, lowercase: bool) -> set[str]:
    return set(_TOKEN.findall(text.lower() if lowercase else text))


class TermOverlapScorer:
    """Scores a document by the share of the query's distinct terms it contains.

    Args:
        settings: Whether terms are compared case-insensitively, and seconds to sleep per call (so tests can
            interrupt a long run).
    """

    def __init__(self, settings: OverlapSettings | None = None) -> None:
        settings = settings or OverlapSettings()
        self.lowercase = settings.lowercase
        self.delay = settings.delay

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One score in [0, 1] per document."""
        if self.delay:
            time.sleep(self.delay)
        terms = _terms(query, self.lowercase)
        if not terms:
            return np.zeros(len(documents), dtype=np.float32)
        return np.array([len(terms & _terms(d, self.lowercase)) / len(terms) for d in documents], dtype=np.float32)
