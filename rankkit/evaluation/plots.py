"""Per-query difference plots, rendered with matplotlib's Agg canvas to PNG bytes.

The figures are built with ``matplotlib.figure.Figure`` and ``FigureCanvasAgg``
directly, so no pyplot state and no global backend switch is touched: the
plots render headless and leave the caller's matplotlib setup alone.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.evaluation.evaluate import EvalResult

IMPROVED = "#2e7d32"
DEGRADED = "#c62828"
UNCHANGED = "#9e9e9e"


def query_deltas(result: EvalResult, baseline: EvalResult, measure: str) -> np.ndarray:
    """Per-query system-minus-baseline differences over the shared queries, sorted decreasingly."""
    base = baseline.values(measure)
    values = result.values(measure)
    paired = base.to_frame("base").join(values.rename("sys"), how="inner")
    deltas = (paired["sys"] - paired["base"]).to_numpy(dtype=float)
    return np.sort(deltas)[::-1]


def delta_plot_png(deltas: np.ndarray, title: str, limit: float | None = None, dpi: int = 100) -> bytes:
    """A sorted per-query delta bar chart as PNG bytes.

    Args:
        deltas: Per-query differences (system minus baseline), any order.
        title: The chart title.
        limit: Largest absolute difference the y axis shows (symmetric around
            zero); defaults to this chart's own largest one. Pass a shared value
            to make several charts comparable.
        dpi: Resolution.

    Returns:
        The PNG file's bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    deltas = np.sort(np.asarray(deltas, dtype=float))[::-1]
    colors = np.where(deltas > 0, IMPROVED, np.where(deltas < 0, DEGRADED, UNCHANGED))
    fig = Figure(figsize=(5.6, 2.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(deltas))
    ax.bar(x, deltas, width=1.0 if len(deltas) > 60 else 0.8, color=colors, linewidth=0)
    ax.axhline(0, color="#424242", linewidth=0.8)
    if limit is None:
        limit = float(np.abs(deltas).max()) if len(deltas) else 0.0
    limit = max(limit, 1e-3) * 1.1
    ax.set_ylim(-limit, limit)
    ax.set_xlim(-1, max(len(deltas), 1))
    ax.set_xticks([])
    ax.set_xlabel(f"queries, sorted by difference (n = {len(deltas)})", fontsize=8)
    ax.set_ylabel("Δ vs baseline", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI embedding PNG bytes, for self-contained HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
