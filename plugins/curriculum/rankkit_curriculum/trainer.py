"""The ``curriculum`` trainer: wraps any weightable trainer and hands it a curriculum weighter."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.components import ResumableTrainer, WeightableTrainer
from rankkit.errors import ConfigError
from rankkit_curriculum.heuristics import get_heuristic
from rankkit_curriculum.settings import CurriculumSettings
from rankkit_curriculum.weighter import CurriculumWeighter

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.registry import Registry
    from rankkit.types import Run

logger = logging.getLogger(__name__)
INFO_FILE = "rankkit-curriculum.json"


class CurriculumTrainer:
    """Trains with another trainer while a curriculum weights its samples.

    Args:
        settings: The inner trainer (name and parameters; it must offer ``with_sample_weighter``), the difficulty
            heuristic (``reciprank``, ``normscore``, ``kdescore``, or a plugin's) and when the weights reach
            uniform (``end`` ``end_unit``).
        registry: Where the inner trainer and the heuristics come from.
    """

    def __init__(self, settings: CurriculumSettings, registry: Registry) -> None:
        self.settings = settings
        inner = registry.build("trainer", settings.trainer, **settings.trainer_params)
        if not isinstance(inner, WeightableTrainer):
            raise ConfigError(f"curriculum: trainer {settings.trainer!r} cannot weight its samples (it lacks "
                              "with_sample_weighter; see rankkit.components.WeightableTrainer)")
        self.weighter = CurriculumWeighter(get_heuristic(registry, settings.heuristic), settings.end, settings.end_unit)
        self.inner = inner.with_sample_weighter(self.weighter)
        self.trainer_name = settings.trainer

    def with_checkpoints(self, folder: Path) -> CurriculumTrainer:
        """This trainer with its inner trainer checkpointing into ``folder`` (a
        :class:`~rankkit.components.ResumableTrainer`); unchanged when the inner one cannot."""
        if not isinstance(self.inner, ResumableTrainer):
            return self
        clone = copy.copy(self)
        clone.inner = self.inner.with_checkpoints(folder)
        return clone

    def train(self, dataset: Dataset, output: Path, candidates: Run | None = None) -> dict[str, Any]:
        """Train the inner trainer with curriculum weights; its stats plus the curriculum's."""
        stats = dict(self.inner.train(dataset, output, candidates))
        stats["curriculum"] = {"trainer": self.trainer_name, "heuristic": self.weighter.heuristic.name,
                               "end": self.weighter.end, "end_unit": self.weighter.unit,
                               "documents_without_first_stage_score": self.weighter.missing}
        if self.weighter.missing:
            logger.warning("curriculum: %d sample documents had no first-stage score (given D = 0)", self.weighter.missing)
        (output / INFO_FILE).write_text(json.dumps(stats["curriculum"], indent=1))
        return stats
