"""The pictures of `convolab explain` and `convolab show`: grids of kernels and feature
maps, an image beside heatmaps, class probabilities as bars.

Each function returns a matplotlib `Figure` drawn on the Agg canvas (no pyplot, no display);
`save_png` writes one atomically, `png_bytes` gives the bytes to embed in a page.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..report.plots import DPI, _save, _short

#: At most this many maps of one layer are drawn ...
MAX_MAPS = 32
#: ... in rows of this many.
GRID_COLUMNS = 16
#: Inches per map in a grid.
CELL = 0.62
#: The colour between the maps of a grid, per colour map (white where white is no value).
GAP_COLOURS = {"gray": "#9ec5e8"}


def save_png(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Write `fig` to `out_png` atomically."""
    return _save(fig, out_png)


def png_bytes(fig: Figure) -> bytes:
    """`fig` as PNG bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def show_image(ax, pixels: np.ndarray, title: str = "") -> None:
    """Raw 0..255 pixels (H, W, 1) or (H, W, 3) on `ax`, without ticks."""
    pixels = np.clip(np.asarray(pixels, dtype=np.float64), 0, 255)
    if pixels.shape[-1] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(pixels.astype(np.uint8))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def kernel_maps(kernel: np.ndarray) -> tuple[np.ndarray, str]:
    """(KH, KW, F) pictures of a conv kernel (KH, KW, C, F) and what they show.

    One input channel: the weights themselves; several: each filter's mean over them.
    """
    channels = kernel.shape[2]
    if channels == 1:
        return kernel[:, :, 0, :], "weights"
    return kernel.mean(axis=2), f"mean over the {channels} input channels"


def mosaic(maps: np.ndarray, cols: int) -> np.ndarray:
    """Maps (H, W, N) tiled row by row, `cols` per row, with one NaN row/column between."""
    h, w, n = maps.shape
    rows = math.ceil(n / cols)
    tiles = np.full(((h + 1) * rows - 1, (w + 1) * cols - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        tiles[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = maps[:, :, k]
    return tiles


def _layout(maps: np.ndarray) -> tuple[int, int, int]:
    """(maps drawn, columns, rows) of a grid."""
    count = min(maps.shape[2], MAX_MAPS)
    cols = min(GRID_COLUMNS, count)
    return count, cols, math.ceil(count / cols)


def _grid(ax, maps: np.ndarray, title: str, signed: bool, cmap: str) -> None:
    """The first MAX_MAPS maps (H, W, N) as one tiled image on `ax`, all on one colour
    scale: symmetric around 0 when `signed`, else from 0 to the maximum. The column ticks
    and the row ticks add up to a map's index."""
    count, cols, rows = _layout(maps)
    h, w = maps.shape[:2]
    top = float(np.abs(maps[:, :, :count]).max()) or 1.0
    vmin, vmax = (-top, top) if signed else (0.0, top)
    colours = matplotlib.colormaps[cmap].with_extremes(bad=GAP_COLOURS.get(cmap, "white"))
    ax.imshow(mosaic(maps[:, :, :count], cols), cmap=colours, vmin=vmin, vmax=vmax,
              interpolation="nearest")
    ax.set_xticks([c * (w + 1) + (w - 1) / 2 for c in range(cols)], [str(c) for c in range(cols)],
                  fontsize=6)
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(rows)],
                  [str(r * cols) for r in range(rows)], fontsize=6)
    ax.tick_params(length=0, pad=1, top=True, labeltop=True, bottom=False, labelbottom=False)
    for side in ax.spines.values():
        side.set_visible(False)
    shown = f"first {count} of {maps.shape[2]}" if count < maps.shape[2] else f"all {count}"
    ax.set_title(f"{title} · {shown} shown · colour scale {vmin:.2g}..{vmax:.2g}", fontsize=9)


def grids_figure(sections: list[tuple[str, np.ndarray, bool]], cmap: str = "viridis",
                 title: str = "") -> Figure:
    """One figure holding a grid per (title, maps (H, W, N), signed) section."""
    heights = [_layout(maps)[2] * CELL + 0.5 for _, maps, _ in sections]
    cols = max(_layout(maps)[1] for _, maps, _ in sections)
    fig = Figure(figsize=(max(cols * CELL, 5.0) + 0.4, sum(heights) + (0.4 if title else 0)),
                 layout="constrained")
    if title:
        fig.suptitle(title, fontsize=11)
    axes = fig.subplots(len(sections), 1, height_ratios=heights, squeeze=False)[:, 0]
    for ax, (name, maps, signed) in zip(axes, sections):
        _grid(ax, maps, name, signed, cmap)
    return fig


def kernels_figure(layers: list[tuple[str, np.ndarray]]) -> Figure:
    """Grey grids of the kernels of conv layers given as (name, kernel (KH, KW, C, F))."""
    sections = []
    for name, kernel in layers:
        maps, what = kernel_maps(kernel)
        kh, kw = kernel.shape[:2]
        sections.append((f"{name}: {kernel.shape[3]} kernels {kh}x{kw}, {what}; black "
                         f"negative, white positive", maps, True))
    return grids_figure(sections, cmap="gray")


def probabilities_figure(probabilities: np.ndarray, class_names: list[str], predicted: int,
                         true_label: int | None = None) -> Figure:
    """Horizontal bars of the softmax probabilities, the predicted class highlighted."""
    k = len(class_names)
    fig = Figure(figsize=(6.0, 0.3 * k + 1.0), layout="constrained")
    ax = fig.add_subplot()
    colours = ["tab:orange" if i == predicted else "tab:blue" for i in range(k)]
    ax.barh(range(k), probabilities, color=colours)
    names = [_short(str(n)) + (" (true)" if i == true_label else "")
             for i, n in enumerate(class_names)]
    ax.set_yticks(range(k), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    for i, p in enumerate(probabilities):
        label = f"{p:.3f}" if p >= 5e-4 or p == 0 else f"{p:.1e}"
        ax.text(min(p, 1.0) + 0.01, i, label, va="center", fontsize=8)
    ax.set_xlabel("probability")
    ax.set_title(f"Softmax: predicted {_short(str(class_names[predicted]))} "
                 f"({probabilities[predicted]:.3f})", fontsize=10)
    return fig


def image_figure(pixels: np.ndarray, title: str) -> Figure:
    """The input image alone."""
    fig = Figure(figsize=(2.6, 2.8), layout="constrained")
    show_image(fig.add_subplot(), pixels, title)
    return fig


def heatmaps_figure(pixels: np.ndarray, panels: list[tuple[str, np.ndarray, bool]],
                    title: str) -> Figure:
    """The image, then each (title, map (H, W), overlay) panel beside it: an overlay is
    drawn half-transparent over the image, otherwise the map is drawn alone."""
    fig = Figure(figsize=(3.0 * (len(panels) + 1), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels) + 1)
    show_image(axes[0], pixels, "input")
    for ax, (name, heat, overlay) in zip(axes[1:], panels):
        if overlay:
            show_image(ax, pixels, name)
            image = ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        else:
            image = ax.imshow(heat, cmap="hot", vmin=0, vmax=float(heat.max()) or 1.0)
            ax.set_title(name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=10)
    return fig


def examples_figure(images: np.ndarray, titles: list[str], title: str) -> Figure:
    """A grid of images (N, H, W, C) with one title each, up to 8 per row."""
    count = len(images)
    cols = min(8, max(count, 1))
    rows = max(1, math.ceil(count / cols))
    fig = Figure(figsize=(1.6 * cols, 1.85 * rows + 0.5), layout="constrained")
    fig.suptitle(title, fontsize=10)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < count:
            show_image(ax, images[k])
            ax.set_title(titles[k], fontsize=7.5)
        else:
            ax.set_axis_off()
    return fig
