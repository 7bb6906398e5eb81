"""The curriculum as a :class:`rankkit.components.SampleWeighter`: any weightable trainer can use it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import TrainingProgress, TrainingSample, fingerprint
from rankkit.errors import ConfigError
from rankkit_curriculum.heuristics import Heuristic
from rankkit_curriculum.schedule import sample_difficulty, scheduled

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Run

logger = logging.getLogger(__name__)


class CurriculumWeighter:
    """Weights samples by a heuristic's D from the candidates run, relaxing to uniform by ``end``.

    Documents absent from the candidates run (a relevant document the first
    stage missed) get D = 0, the value of a document ranked below everything;
    :meth:`prepare` counts them.

    Args:
        heuristic: The difficulty heuristic.
        end: m, when the weights reach 1 (uniform); at least 0.
        unit: Whether ``end`` counts ``epochs`` or optimiser ``steps`` (:data:`~rankkit_curriculum.settings.UNITS`).
            The curriculum trainer's settings check both (:class:`~rankkit_curriculum.settings.CurriculumSettings`).
    """

    def __init__(self, heuristic: Heuristic, end: float, unit: str) -> None:
        self.heuristic = heuristic
        self.end = end
        self.unit = unit
        self.difficulty: dict[tuple[str, str], float] = {}
        self.missing = 0
        self.fingerprint = fingerprint("weighter", "curriculum", {"heuristic": heuristic.name, "end": end, "unit": unit})

    def prepare(self, dataset: Dataset, candidates: Run | None) -> dict[str, Any]:
        """Compute D for every (query, document) of the candidates run.

        Raises:
            ConfigError: Without a candidates run (the heuristics need first-stage scores).
        """
        if candidates is None:
            raise ConfigError("curriculum: the heuristics need first-stage scores; give the [train] section a first_stage")
        for query_id, ranking in candidates.items():
            values = self.heuristic(ranking.scores.astype(np.float64), np.arange(1, len(ranking) + 1, dtype=np.float64))
            self.difficulty.update({(query_id, d): float(v) for d, v in zip(ranking.doc_ids.tolist(), values)})
        all_d = np.fromiter(self.difficulty.values(), dtype=np.float64)
        stats = {"heuristic": self.heuristic.name, "end": self.end, "end_unit": self.unit, "pairs": len(all_d),
                 "mean_difficulty": round(float(all_d.mean()), 6) if len(all_d) else None}
        logger.info("curriculum %s: D for %d first-stage pairs (mean %.3f); uniform after %g %s", self.heuristic.name,
                    len(all_d), stats["mean_difficulty"] or 0.0, self.end, self.unit)
        return stats

    def sample_weight(self, sample: TrainingSample) -> float:
        """D' of a sample before scheduling."""
        found = [self.difficulty.get((sample.query_id, d)) for d in sample.doc_ids]
        if any(v is None for v in found):
            self.missing += sum(v is None for v in found)
        return sample_difficulty([v if v is not None else 0.0 for v in found], sample.labels)

    def weights(self, samples: Sequence[TrainingSample], progress: TrainingProgress) -> np.ndarray:
        """Scheduled weights of a batch at ``progress``."""
        t = progress.epoch if self.unit == "epochs" else float(progress.step)
        raw = np.array([self.sample_weight(s) for s in samples], dtype=np.float64)
        return scheduled(raw, t, self.end)

    def __repr__(self) -> str:
        return f"CurriculumWeighter({self.heuristic.name!r}, end={self.end} {self.unit})"
