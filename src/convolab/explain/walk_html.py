"""The explain walk-through as one self-contained HTML page (figures embedded as PNG).

    path = write_walkthrough_html(explain_image("runs/default", "test:0"))
    # runs/default/explain/test-0.html
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..report.page import html_page
from ..run import EXPLAIN_DIR
from . import figures
from . import walk_view as view
from . import walkthrough as wt

PAGE_CSS = """
.block { margin: 0.5rem 0; }
.side { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 1rem; }
.op { font-size: 1.4rem; font-weight: 600; }
.mt { display: inline-block; vertical-align: top; }
.mt .cap { color: #666; font-size: 0.8rem; font-style: italic; }
table.m { font-size: 0.75rem; font-variant-numeric: tabular-nums; }
table.m td, table.m th { padding: 0.05rem 0.3rem; text-align: right; border: 1px solid #eee; }
table.m th { color: #999; font-weight: normal; background: #fafafa; }
table.m td.mark, tr.mark td { outline: 2px solid #e69500; background: #ffe7a8; font-weight: 600; }
table.px td { padding: 0.05rem 0.15rem; min-width: 1.6em; }
"""


def _shade(value: float, low: float, high: float) -> str:
    level = int(round(255 * np.clip((value - low) / ((high - low) or 1.0), 0.0, 1.0)))
    colour = "#000" if level > 140 else "#fff"
    return f' style="background: rgb({level},{level},{level}); color: {colour}"'


def _matrix(m: view.Matrix) -> str:
    values = np.asarray(m.values, dtype=np.float64)
    rows = []
    if m.labels:
        rows.append("<tr><th></th>" + "".join(f"<th>{m.first_col + j}</th>"
                                               for j in range(values.shape[1])) + "</tr>")
    for i, row in enumerate(values):
        cells = [f"<th>{m.first_row + i}</th>"] if m.labels else []
        for j, value in enumerate(row):
            text = "" if np.isnan(value) else f"{value:.{m.digits}f}"
            attrs = _shade(value, *m.shade) if m.shade is not None and not np.isnan(value) else ""
            if m.mark == (i, j):
                attrs = ' class="mark"'
            cells.append(f"<td{attrs}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    css = "m px" if m.shade is not None else "m"
    return (f'<div class="mt"><div class="cap">{html.escape(m.title)}</div>'
            f'<table class="{css}">{"".join(rows)}</table></div>')


def _table(t: view.Table) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t.headers) + "</tr>"
    rows = "".join(
        f'<tr{" class=mark" if i == t.mark_row else ""}>'
        + "".join(f'<td class="n">{html.escape(c)}</td>' for c in row) + "</tr>"
        for i, row in enumerate(t.rows))
    return f'<table class="m">{head}{rows}</table>'


def _figure(slot: view.FigureSlot, pictures: dict) -> str:
    data = base64.b64encode(figures.png_bytes(pictures[slot.key]())).decode("ascii")
    caption = html.escape(slot.caption)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _block(block, pictures: dict) -> str:
    if isinstance(block, str):
        return f'<p class="block">{html.escape(block)}</p>'
    if isinstance(block, view.Matrix):
        return f'<div class="block">{_matrix(block)}</div>'
    if isinstance(block, view.Side):
        parts = [f'<span class="op">{html.escape(item)}</span>' if isinstance(item, str)
                 else _matrix(item) for item in block.items]
        return f'<div class="block side">{"".join(parts)}</div>'
    if isinstance(block, view.Table):
        return f'<div class="block">{_table(block)}</div>'
    return _figure(block, pictures)


def _pictures(result: wt.Walkthrough) -> dict:
    """Figure key -> a function drawing it (only the figures a page shows are drawn)."""
    truth = ("" if result.true_label is None
             else f", label {result.class_names[result.true_label]}")
    pictures = {
        "input": lambda: figures.image_figure(result.image, f"{result.stem}{truth}"),
        "probabilities": lambda: figures.probabilities_figure(
            result.probabilities, result.class_names, result.predicted, result.true_label),
    }
    for step in result.steps:
        if isinstance(step, wt.ConvStep):
            pictures[f"kernels-{step.name}"] = (
                lambda s=step: figures.kernels_figure([(s.name, s.kernel)]))
            after = "after ReLU" if step.activation == "relu" else "output"
            signed = step.activation != "relu"
            pictures[f"maps-{step.name}"] = (lambda s=step, a=after, g=signed: (
                figures.grids_figure([(f"{s.name} {a} {view.shape(s.output_shape)}",
                                       s.output, g)])))
        elif isinstance(step, wt.PoolStep):
            pictures[f"maps-{step.name}"] = (lambda s=step: figures.grids_figure(
                [(f"{s.name} {view.shape(s.output_shape)}", s.output, False)]))
    return pictures


def render_walkthrough_html(result: wt.Walkthrough, lang: str = "en") -> str:
    """The page as an HTML string, in `lang` (the pictures' own labels stay in English)."""
    from ..i18n import translator

    _ = translator(lang)
    pictures = _pictures(result)
    body = []
    for section in view.sections(result, lang):
        blocks = "".join(_block(b, pictures) for b in section.blocks)
        body.append(f"<h2>{html.escape(section.title)}</h2>\n{blocks}")
    title = (f"{result.source} → {result.predicted_name} "
             f"({result.probabilities[result.predicted]:.3f})")
    subtitle = _("convolab explain · {run} · every number computed by the NumPy reference "
                 "network with the run's weights").format(run=html.escape(str(result.run_dir)))
    return html_page(title, "explain", subtitle, "\n".join(body), PAGE_CSS, lang=lang)


def default_html_path(result: wt.Walkthrough) -> Path:
    return Path(result.run_dir) / EXPLAIN_DIR / f"{result.stem}.html"


def write_walkthrough_html(result: wt.Walkthrough, path: str | os.PathLike | None = None,
                           lang: str = "en") -> Path:
    """Write the page (atomically) to `path`, default RUN_DIR/explain/<image stem>.html."""
    target = Path(path) if path is not None else default_html_path(result)
    write_text(target, render_walkthrough_html(result, lang))
    return target
