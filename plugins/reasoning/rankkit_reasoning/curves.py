"""GRPO training curves: the trainer's log history as JSON and a PNG of reward, format-valid rate and length by step.

The keys are the ones TRL's ``GRPOTrainer`` logs (TRL 1.x): ``reward`` (the
weighted sum of the reward functions, here the relevance reward),
``rewards/<function>/mean`` for each reward function, and
``completions/mean_length``. matplotlib loads only when a plot is drawn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Log-history keys: the reward optimised, the share of well-formed completions, mean completion tokens,
#: and the mean sample weight (only when a sample weighter is used).
REWARD_KEY = "reward"
FORMAT_KEY = "rewards/format_valid/mean"
RELEVANCE_KEY = "rewards/relevance/mean"
LENGTH_KEY = "completions/mean_length"
WEIGHT_KEY = "weight/mean"
LOG_FILE = "training-log.json"
PLOT_FILE = "training-curves.png"


def series(history: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every log entry that has ``key`` (with a value) and a step."""
    return [(int(h["step"]), float(h[key])) for h in history if h.get(key) is not None and "step" in h]


def last(history: list[dict[str, Any]], key: str) -> float | None:
    """The last logged value of ``key``, ``None`` when never logged."""
    points = series(history, key)
    return points[-1][1] if points else None


def save_curves(folder: Path, history: list[dict[str, Any]], title: str = "rank-r1 GRPO training") -> Path:
    """Write :data:`LOG_FILE` (the log history) and :data:`PLOT_FILE` into ``folder``; returns the plot's path.

    Three panels share the step axis: the reward (with its moving average over
    a tenth of the logs, at least 5, and the mean sample weight when there is
    one), the format-valid rate, and the mean completion length.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    (folder / LOG_FILE).write_text(json.dumps({"log_history": history}, indent=1, default=str))
    panels = [(REWARD_KEY, "reward", (-0.05, 1.05)), (FORMAT_KEY, "format-valid rate", (-0.05, 1.05)),
              (LENGTH_KEY, "completion tokens (mean)", None)]
    figure, axes = plt.subplots(len(panels), 1, figsize=(6, 7), sharex=True)
    for axis, (key, label, limits) in zip(axes, panels):
        points = series(history, key)
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=label, alpha=0.6)
            window = max(5, len(points) // 10)
            if key == REWARD_KEY and len(points) >= 2 * window:
                values = [p[1] for p in points]
                smooth = [sum(values[i - window:i]) / window for i in range(window, len(values) + 1)]
                axis.plot([p[0] for p in points][window - 1:], smooth, color="black",
                          label=f"moving average ({window} logs)")
                axis.legend(loc="best", fontsize="small")
        else:
            axis.text(0.5, 0.5, f"{key} was not logged", ha="center", va="center", transform=axis.transAxes)
        if limits:
            axis.set_ylim(*limits)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    weights = series(history, WEIGHT_KEY)
    if weights:
        axes[0].plot([w[0] for w in weights], [w[1] for w in weights], color="tab:orange", alpha=0.7,
                     label="mean sample weight")
        axes[0].legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("step")
    axes[0].set_title(title)
    figure.tight_layout()
    target = folder / PLOT_FILE
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target


def learning_test(history: list[dict[str, Any]], key: str = REWARD_KEY, share: float = 0.2) -> dict[str, Any] | None:
    """Did the logged ``key`` rise? Its mean over the last ``share`` of the logged steps against the first ``share``,
    with a one-sided Welch t-test (scipy) on the logged values (per step when ``logging_steps`` is 1).

    Returns:
        ``first``/``last`` (means), ``steps`` (logged values in each part), ``p`` (last > first), or ``None`` with
        fewer than 4 logged values in each part (too few for a test).
    """
    from scipy.stats import ttest_ind

    values = [v for _, v in series(history, key)]
    part = int(len(values) * share)
    if part < 4:
        return None
    first, final = values[:part], values[-part:]
    test = ttest_ind(final, first, equal_var=False, alternative="greater")
    low, high = sum(first) / part, sum(final) / part
    p = float(test.pvalue)
    if p != p:   # both parts constant: no variance to test with
        p = 0.0 if high > low else 1.0
    return {"key": key, "share": share, "steps": part, "first": round(low, 4), "last": round(high, 4), "p": p}
