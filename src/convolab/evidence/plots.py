"""The evidence figures: accuracy under transforms, and the regularizer ablation.

Drawn like `report/plots.py` (object-oriented matplotlib on the Agg canvas, PNG written
atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from ..report.plots import _save

#: (results key, setting key, x-axis label) of each invariance panel.
INVARIANCE_PANELS = (("shift", "pixels", "shift (pixels; right, left, down, up)"),
                     ("rotation", "degrees", "rotation (degrees, counter-clockwise)"),
                     ("scale", "factor", "scale factor"))


def plot_invariance(runs: list[dict], out_png: str | os.PathLike) -> Path:
    """Three panels (shift, rotation, scale): test accuracy per setting, one line per run."""
    fig = Figure(figsize=(13.0, 3.9))
    axes = fig.subplots(1, len(INVARIANCE_PANELS), sharey=True)
    for ax, (sweep, key, xlabel) in zip(axes, INVARIANCE_PANELS):
        for run in runs:
            points = run[sweep]
            ax.plot([p[key] for p in points], [100 * p["accuracy"] for p in points], "-o",
                    markersize=3.5, label=run["label"])
        ax.set_xlabel(xlabel)
        ax.set_title(sweep)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_ylim(0, 100)
    axes[-1].legend(fontsize="small", loc="lower center")
    fig.tight_layout()
    return _save(fig, out_png)


def plot_compare(summary: list[dict], out_png: str | os.PathLike) -> Path:
    """One panel per dataset: mean test accuracy per variant, error bars one std over seeds."""
    datasets = list(dict.fromkeys(row["dataset"] for row in summary))
    fig = Figure(figsize=(1.0 + 4.6 * len(datasets), 3.9))
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets):
        rows = [row for row in summary if row["dataset"] == dataset]
        means = [100 * row["test_accuracy_mean"] for row in rows]
        stds = [100 * row["test_accuracy_std"] for row in rows]
        positions = range(len(rows))
        ax.bar(positions, means, yerr=stds, capsize=4, color="#4c72b0", alpha=0.85)
        for x, mean, std in zip(positions, means, stds):
            ax.annotate(f"{mean:.2f}", (x, mean + std), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize="small")
        low = min(m - s for m, s in zip(means, stds))
        high = max(m + s for m, s in zip(means, stds))
        margin = max(0.2, 0.25 * (high - low))
        ax.set_ylim(max(0.0, low - margin), min(100.0, high + 2 * margin))
        ax.set_xticks(list(positions), [row["variant"] for row in rows], rotation=20)
        ax.set_title(f"{dataset} (n = {rows[0]['runs']} seeds)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_png)
