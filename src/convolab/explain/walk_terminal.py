"""Print the explain walk-through in a terminal with rich (panels, shaded number grids)."""

from __future__ import annotations

import numpy as np
from rich.columns import Columns
from rich.console import Console, Group
from rich.panel import Panel
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text

from . import walk_view as view
from .walkthrough import Walkthrough

MARK = Style(bold=True, color="black", bgcolor="rgb(255,214,102)")


def _cell(value: float, digits: int) -> str:
    return "" if np.isnan(value) else f"{value:.{digits}f}"


def _shade(value: float, low: float, high: float) -> Style:
    """Background grey by value (black = low, white = high), text in the contrasting tone."""
    level = int(round(255 * np.clip((value - low) / ((high - low) or 1.0), 0.0, 1.0)))
    return Style(bgcolor=f"rgb({level},{level},{level})",
                 color="black" if level > 140 else "white")


def _visible_columns(m: view.Matrix, cell: int, width: int) -> tuple[int, int]:
    """The columns [start, stop) that fit `width`: all of them, else those around the
    non-zero values."""
    cols = m.values.shape[1]
    fit = max((width - 4) // (cell + 1), 1)
    if cols <= fit:
        return 0, cols
    nonzero = np.flatnonzero(np.nan_to_num(np.abs(m.values)).sum(axis=0))
    centre = int(nonzero.mean()) if len(nonzero) else cols // 2
    start = int(np.clip(centre - fit // 2, 0, cols - fit))
    return start, start + fit


def matrix(m: view.Matrix, width: int = 200) -> Text:
    """A number grid as text: one line per row, shaded and marked cells styled."""
    values = np.asarray(m.values, dtype=np.float64)
    cell = max(len(_cell(v, m.digits)) for v in values.ravel())
    start, stop = _visible_columns(m, cell, width)
    text = Text()
    text.append(m.title + (f" (columns {start}..{stop - 1} of {values.shape[1]})"
                           if stop - start < values.shape[1] else "") + "\n", style="italic")
    if m.labels:
        text.append("   " + "".join(f" {m.first_col + j:>{cell}}" for j in range(start, stop))
                    + "\n", style="dim")
    for i, row in enumerate(values):
        if m.labels:
            text.append(f"{m.first_row + i:>3}", style="dim")
        for j in range(start, stop):
            style = Style()
            if m.shade is not None:
                style = _shade(row[j], *m.shade)
            if m.mark == (i, j):
                style = MARK
            text.append(f" {_cell(row[j], m.digits):>{cell}}", style=style)  # shaded gap too
        text.append("\n")
    text.rstrip()
    return text


def _side(block: view.Side, width: int):
    """Matrices side by side: operators between them on one row when it fits the width,
    else one under the other; plain lists of matrices wrap like words."""
    texts = [Text(f" {item} ", style="bold") if isinstance(item, str) else matrix(item, width)
             for item in block.items]
    if not any(isinstance(item, str) for item in block.items):
        return Columns(texts, padding=(0, 2))
    needed = sum(max(len(line) for line in t.plain.split("\n")) + 2 for t in texts)
    if needed > width:
        return Group(*texts)
    first = next(item for item in block.items if isinstance(item, view.Matrix))
    middle = 1 + int(first.labels) + first.values.shape[0] // 2  # title, indices, rows
    grid = RichTable.grid(padding=(0, 1))
    for _ in texts:
        grid.add_column(no_wrap=True)
    grid.add_row(*[Text("\n" * middle) + t if isinstance(item, str) else t
                   for item, t in zip(block.items, texts)])
    return grid


def _block(block, width: int):
    if isinstance(block, str):
        return Text(block)
    if isinstance(block, view.Matrix):
        return matrix(block, width)
    if isinstance(block, view.Side):
        return _side(block, width)
    if isinstance(block, view.Table):
        table = RichTable(show_edge=False, pad_edge=False)
        for i, header in enumerate(block.headers):
            table.add_column(header, justify="left" if i == 0 else "right")
        for i, row in enumerate(block.rows):
            table.add_row(*row, style="bold yellow" if i == block.mark_row else None)
        return table
    return None  # figures are for the page only


def print_walkthrough(result: Walkthrough, console: Console | None = None) -> None:
    """Print every section of the walk-through as a panel."""
    console = console or Console()
    width = console.width - 4
    for section in view.sections(result):
        parts = [r for r in (_block(b, width) for b in section.blocks) if r is not None]
        console.print(Panel(Group(*parts), title=section.title, title_align="left"))
