"""Training checkpoints as transformers' ``Trainer`` writes them: which one a resumed training starts from.

A ``Trainer`` saves ``checkpoint-N`` folders and writes ``trainer_state.json``
last, so a checkpoint whose state file is missing or cut short was interrupted
while saving and must not be resumed from. Trainers that offer
:class:`rankkit.components.ResumableTrainer` share this rule.
"""

from __future__ import annotations

import json
from pathlib import Path

STATE_FILE = "trainer_state.json"


def latest_checkpoint(folder: Path) -> Path | None:
    """The ``checkpoint-N`` folder of ``folder`` with the highest ``N`` whose save finished; ``None`` when none did."""
    done = [p for p in Path(folder).glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit() and complete(p)]
    return max(done, key=lambda p: int(p.name.split("-", 1)[1]), default=None)


def complete(checkpoint: Path) -> bool:
    """Whether a checkpoint's trainer state is there and whole (a kill can cut its writing short)."""
    try:
        json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True
