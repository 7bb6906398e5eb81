"""The paper's weighting and schedule (MacAvaney et al., SIGIR 2020, section 3).

- pointwise: a relevant sample weighs D, a non-relevant one 1 − D;
- pairwise: (D⁺ − D⁻ + 1) / 2;
- schedule: W = D'·(1 − t/m) + t/m while t < m, then 1 (uniform), where D' is the weight above.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_difficulty(difficulties: Sequence[float], labels: Sequence[int]) -> float:
    """D' of one sample from its documents' D and labels.

    One document: D if relevant, else 1 − D. Two or more (relevant first, then non-relevant):
    the mean over the non-relevant ones of (D⁺ − D⁻ + 1) / 2.
    """
    if len(difficulties) == 1:
        return float(difficulties[0]) if labels[0] > 0 else 1.0 - float(difficulties[0])
    positive = float(difficulties[0])
    return float(np.mean([(positive - float(d) + 1.0) / 2.0 for d in difficulties[1:]]))


def scheduled(weight: np.ndarray | float, t: float, m: float) -> np.ndarray:
    """W = D'·(1 − t/m) + t/m for t < m, else 1."""
    weight = np.asarray(weight, dtype=np.float64)
    if m <= 0 or t >= m:
        return np.ones_like(weight)
    share = t / m
    return weight * (1.0 - share) + share
