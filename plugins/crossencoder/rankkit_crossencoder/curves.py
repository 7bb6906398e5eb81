"""Loss curves: the trainer's log history as JSON and as a PNG plot in the model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_curves(folder: Path, history: list[dict[str, Any]], weights: list[tuple[int, float]]) -> Path:
    """Write ``loss.json`` and ``loss.png`` (training loss by step; mean sample weight when weighted)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    points = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    (folder / "loss.json").write_text(json.dumps({"log_history": history, "mean_weight": weights}, indent=1))
    figure, axis = plt.subplots(figsize=(6, 3.5))
    if points:
        axis.plot([p[0] for p in points], [p[1] for p in points], marker=".", label="training loss")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.grid(alpha=0.3)
    if weights:
        twin = axis.twinx()
        twin.plot([w[0] for w in weights], [w[1] for w in weights], color="tab:orange", alpha=0.6, label="mean weight")
        twin.set_ylabel("mean sample weight")
        twin.set_ylim(0, 1.05)
    axis.set_title("cross-encoder training")
    figure.tight_layout()
    target = folder / "loss.png"
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
