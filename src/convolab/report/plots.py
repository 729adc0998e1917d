"""The plots of a run: learning curves, confusion matrix, misclassified images.

Each function draws one figure with matplotlib's object-oriented API on the Agg canvas (no
pyplot, no display and no global state, so it is safe in a web server), writes one PNG
atomically and returns its path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..atomic import atomic_path
from ..errors import ConvolabError

DPI = 110
#: Above this many classes the confusion matrix is drawn without numbers in its cells.
MAX_ANNOTATED_CLASSES = 20
#: Above this many classes the confusion matrix axes carry no class names.
MAX_LABELLED_CLASSES = 50


def _save(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Render `fig` to `out_png` atomically and return the path."""
    FigureCanvasAgg(fig)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(out_png)


def _short(name: str, length: int = 14) -> str:
    """A class name cut to `length` characters for a tick label or a title."""
    return name if len(name) <= length else name[:length - 1] + "…"


def history_columns(history_csv: str | os.PathLike) -> dict[str, list[float]]:
    """The columns of a run's history.csv as {name: values}; raise if it has no epochs."""
    from ..callbacks import read_history

    path = Path(history_csv)
    if not path.is_file():
        raise ConvolabError(f"training history {path} does not exist; train a model first "
                            f"or pass the run directory it wrote")
    try:
        rows = read_history(path)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConvolabError(f"training history {path} is not a history.csv ({exc}); "
                            f"pass the file a run wrote")
    if not rows:
        raise ConvolabError(f"training history {path} holds no epochs; the run stopped "
                            f"before its first epoch ended")
    names = [name for name in rows[0]]
    return {name: [float(row[name]) for row in rows] for name in names
            if all(name in row for row in rows)}


def plot_learning_curves(history_csv: str | os.PathLike, out_png: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch, training vs validation; the learning rate if logged.

    Reads a Keras CSVLogger file (columns epoch, loss, accuracy, optionally val_loss,
    val_accuracy and lr). Epochs are drawn from 1.
    """
    history = history_columns(history_csv)
    count = len(next(iter(history.values())))
    epochs = np.asarray(history.get("epoch", range(count))) + 1
    lr_key = next((k for k in ("lr", "learning_rate") if k in history), None)
    panels = [("loss", "Loss"), ("accuracy", "Accuracy")]
    fig = Figure(figsize=(11.5 if lr_key else 9.0, 3.8))
    grid = fig.add_gridspec(1, 3 if lr_key else 2, width_ratios=[1, 1, 0.6] if lr_key else None)
    for column, (metric, title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, column])
        for key, label, style in ((metric, "train", "-o"), (f"val_{metric}", "validation", "-s")):
            if key in history:
                ax.plot(epochs, history[key], style, markersize=3.5, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no {metric} logged", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    if lr_key:
        ax = fig.add_subplot(grid[0, 2])
        ax.plot(epochs, history[lr_key], "-", color="tab:green")
        ax.set_title("Learning rate")
        ax.set_xlabel("epoch")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.grid(alpha=0.3)
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for boundary in phase_boundaries(history.get("phase"), epochs):
        for ax in fig.axes:  # a transfer run: where fine-tuning (phase 2) begins
            ax.axvline(boundary, color="grey", linestyle="--", linewidth=1)
        first = fig.axes[0]
        first.text(boundary, 0.02, " fine-tuning", transform=first.get_xaxis_transform(),
                   ha="left", va="bottom", fontsize=8, color="grey")
    fig.tight_layout()
    return _save(fig, out_png)


def phase_boundaries(phases, epochs) -> list[float]:
    """x positions (between two epochs) where a history's `phase` column changes."""
    if phases is None:
        return []
    return [float(epochs[i] + epochs[i - 1]) / 2 for i in range(1, len(phases))
            if phases[i] != phases[i - 1]]


def plot_confusion_matrix(cm, class_names: list[str], out_png: str | os.PathLike,
                          normalize: bool = True) -> Path:
    """An annotated heatmap of a confusion matrix (rows true classes, columns predicted).

    With `normalize` each row is divided by its total, so the diagonal shows the recall of
    each class; a class without test images gets a row of zeros.
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ConvolabError(f"confusion matrix has shape {counts.shape} but there are {k} "
                            f"class names; pass the matrix computed for these classes")
    values = counts
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    side = min(12.0, max(4.8, 0.55 * k + 2.5))
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if k <= MAX_LABELLED_CLASSES:
        names = [_short(str(n)) for n in class_names]
        ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0,
                      ha="right" if max(map(len, names)) > 3 else "center")
        ax.set_yticks(range(k), names)
    if k <= MAX_ANNOTATED_CLASSES:
        threshold = 0.5 * (values.max() or 1.0)
        for (row, col), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            if normalize and value == 0:
                text = "0"
            ax.text(col, row, text, ha="center", va="center", fontsize=8 if k > 10 else 9,
                    color="white" if value > threshold else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix" + (" (each row sums to 1)" if normalize else " (counts)"))
    fig.tight_layout()
    return _save(fig, out_png)


def plot_misclassified(x, y_true, y_pred, probs, class_names: list[str],
                       out_png: str | os.PathLike, max_images: int = 36) -> Path:
    """A grid of misclassified images, most confident mistakes first.

    Each title reads "true→predicted p", p being the probability given to the wrong class.
    Images are raw 0..255 pixels, (N, H, W, 1) greyscale or (N, H, W, 3) RGB. When nothing
    is misclassified the PNG says so.
    """
    x = np.asarray(x)
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    probs = np.asarray(probs)
    if not len(x) == len(y_true) == len(y_pred) == len(probs):
        raise ConvolabError(f"misclassified plot needs one label, prediction and probability "
                            f"row per image; got {len(x)} images, {len(y_true)} labels, "
                            f"{len(y_pred)} predictions and {len(probs)} probability rows")
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = probs[wrong, y_pred[wrong]] if len(wrong) else np.zeros(0)
    chosen = wrong[np.argsort(-confidence, kind="stable")][:max(0, max_images)]
    if len(chosen) == 0:
        fig = Figure(figsize=(4.0, 1.6))
        fig.text(0.5, 0.5, "No misclassified images", ha="center", va="center", fontsize=12)
        return _save(fig, out_png)
    cols = min(6, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig = Figure(figsize=(1.75 * cols, 1.9 * rows + 0.5))
    fig.suptitle(f"Misclassified: {len(chosen)} of {len(wrong)} mistakes, most confident "
                 f"first (true→predicted p)", fontsize=10)
    # One montage image with the titles written into bands above the tiles: 36 separate
    # axes took ~1.5-2.5 s to lay out and render, this ~0.2 s.
    h, w = x.shape[1], x.shape[2]
    band, gap = max(4, round(0.35 * h)), max(1, round(0.12 * w))
    cell_h, cell_w = h + band, w + gap
    colour = x.ndim == 4 and x.shape[-1] == 3
    montage = np.full((rows * cell_h, cols * cell_w) + ((3,) if colour else ()),
                      255.0 if colour else np.nan)
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.55 / (1.9 * rows + 0.5)))
    for slot, i in enumerate(chosen):
        r, c = divmod(slot, cols)
        top, left = r * cell_h + band, c * cell_w
        image = np.clip(x[i].astype(np.float64), 0, 255)
        montage[top:top + h, left:left + w] = image if colour else image.reshape(h, w)
        true_name = _short(str(class_names[y_true[i]]), 9)
        pred_name = _short(str(class_names[y_pred[i]]), 9)
        ax.text(left + w / 2 - 0.5, top - band / 2, f"{true_name}→{pred_name} "
                f"{probs[i, y_pred[i]]:.2f}", ha="center", va="center", fontsize=8)
    if colour:
        ax.imshow(montage.astype(np.uint8), interpolation="nearest")
    else:
        cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
        ax.imshow(np.ma.masked_invalid(montage), cmap=cmap, vmin=0, vmax=255,
                  interpolation="nearest")
    ax.axis("off")
    return _save(fig, out_png)
