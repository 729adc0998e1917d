"""The HTML report of a run directory: one self-contained page, no scripts, no downloads.

`write_report` reads what the run wrote and tolerates missing pieces, except `metrics.json`:

- `metrics.json`: `test_accuracy`, `test_loss`, `macro_f1`, `per_class` (as returned by
  `convolab.evaluate.compute_metrics`), and, when present, `model`, `dataset`,
  `train_seconds`, `epochs_run` and `best_epoch`;
- `config.yaml`: the resolved config (model and dataset names are taken from it when
  `metrics.json` does not name them), shown as YAML;
- `environment.json`: versions and hardware, shown as a table;
- every PNG under `plots/`, linked by relative path;
- every walk-through page under `explain/` (`convolab explain`), linked.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from urllib.parse import quote

import yaml

from ..atomic import write_text
from ..errors import ConvolabError
from ..run import (CONFIG_FILE, ENVIRONMENT_FILE, EXPLAIN_DIR, METRICS_FILE, PLOTS_DIR,
                   REPORT_FILE)
from ..i18n import DEFAULT_LANGUAGE, check_language, translator
from .page import html_page

#: Texts translated from variables (the catalog tests read this list).
DYNAMIC_MESSAGES = ("test accuracy", "test loss", "validation accuracy", "validation loss",
                    "class", "precision", "recall", "F1", "support", "Learning curves",
                    "Confusion matrix", "Misclassified", "Plots", "Per-class scores",
                    "Configuration", "Environment")
#: Plots shown first, in this order; any other PNG follows in name order.
PLOT_ORDER = ("learning_curves", "confusion_matrix", "misclassified")



def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _percent(value) -> str:
    """0.9876 -> "98.76%"; anything that is not a number -> "—"."""
    return f"{100 * value:.2f}%" if _is_number(value) else "—"


def _decimal(value, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "—"


def _duration(seconds) -> str:
    """Seconds as "42.0 s", "3 min 05 s" or "1 h 02 min"."""
    if not _is_number(seconds) or not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when the file is missing or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_config(path: Path) -> tuple[dict, str]:
    """(parsed config or {}, text to show) for a run's config.yaml."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}, "(config.yaml not found)"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    return data, yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as ("a.b", "value") rows."""
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, str(value)))
    return rows


def _plots(run_dir: Path) -> list[Path]:
    """PNG files under run_dir/plots: the known ones first, then the rest by name."""
    folder = run_dir / PLOTS_DIR
    if not folder.is_dir():
        return []
    pngs = sorted(p for p in folder.rglob("*.png") if p.is_file() and not p.name.startswith("."))

    def rank(path: Path) -> tuple[int, str]:
        stem = path.stem
        return (PLOT_ORDER.index(stem) if stem in PLOT_ORDER else len(PLOT_ORDER), str(path))

    return sorted(pngs, key=rank)


def _explain_links(run_dir: Path, _) -> str:
    """A section linking the walk-through pages under run_dir/explain, or ''."""
    folder = run_dir / EXPLAIN_DIR
    pages = sorted(p for p in folder.glob("*.html")
                   if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if not pages:
        return ""
    links = [(html.escape(quote(p.relative_to(run_dir).as_posix()), quote=True),
              html.escape(p.stem)) for p in pages]
    items = "".join(f'<li><a href="{href}">{name}</a></li>' for href, name in links)
    return (f"<h2>{html.escape(_('Walk-throughs'))}</h2>\n<p>"
            f"{html.escape(_('One image through the network, layer by layer'))} "
            f"(<code>convolab explain</code>):</p><ul>{items}</ul>")


def _card(label: str, value: str) -> str:
    return (f'<div class="card"><div class="v">{html.escape(value)}</div>'
            f'<div class="k">{html.escape(label)}</div></div>')


def _figure(run_dir: Path, png: Path, _) -> str:
    rel = png.relative_to(run_dir).as_posix()
    caption = _(png.stem.replace("_", " ").replace("-", " ").capitalize())
    return (f'<figure><img src="{html.escape(quote(rel), quote=True)}" '
            f'alt="{html.escape(caption, quote=True)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _per_class_table(per_class, _) -> str:
    if not isinstance(per_class, list) or not per_class:
        return f"<p>{html.escape(_('No per-class scores were recorded.'))}</p>"
    head = "<tr>" + "".join(f"<th>{html.escape(_(h))}</th>" for h in
                            ("class", "precision", "recall", "F1", "support")) + "</tr>"
    rows = []
    for entry in per_class:
        if not isinstance(entry, dict):
            continue
        support = entry.get("support")
        rows.append(
            f"<tr><td>{html.escape(str(entry.get('class', '')))}</td>"
            f'<td class="n">{_decimal(entry.get("precision"))}</td>'
            f'<td class="n">{_decimal(entry.get("recall"))}</td>'
            f'<td class="n">{_decimal(entry.get("f1"))}</td>'
            f'<td class="n">{html.escape(str(support)) if support is not None else "—"}</td>'
            f"</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _key_value_table(rows: list[tuple[str, str]], _) -> str:
    if not rows:
        return f"<p>{html.escape(_('No environment was recorded.'))}</p>"
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def render_report(run_dir: str | os.PathLike, lang: str | None = None) -> str:
    """The report page of a run directory as an HTML string (see `write_report`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConvolabError(f"run directory {run_dir} does not exist; pass the folder a "
                            f"training run wrote")
    metrics = _read_json(run_dir / METRICS_FILE)
    if metrics is None:
        raise ConvolabError(f"run directory {run_dir} has no readable metrics.json; "
                            f"train or evaluate the run first so it records its test metrics")
    lang = check_language(lang or metrics.get("report_language") or DEFAULT_LANGUAGE)
    _ = translator(lang)
    config, config_text = _read_config(run_dir / CONFIG_FILE)
    environment = _read_json(run_dir / ENVIRONMENT_FILE) or {}

    def section(name: str) -> dict:
        value = config.get(name)
        return value if isinstance(value, dict) else {}

    model = str(metrics.get("model") or section("model").get("name") or "unknown model")
    dataset = str(metrics.get("dataset") or section("data").get("name") or "unknown dataset")
    best = metrics.get("best_epoch")
    epochs = metrics.get("epochs_run")
    held_out = "val" if metrics.get("evaluated_on") == "validation" else "test"
    label = "validation" if held_out == "val" else "test"
    cards = [
        _card(_(f"{label} accuracy"), _percent(metrics.get(f"{held_out}_accuracy"))),
        _card(_(f"{label} loss"), _decimal(metrics.get(f"{held_out}_loss"))),
        _card(_("macro F1"), _decimal(metrics.get("macro_f1"))),
        _card(_("training time"), _duration(metrics.get("train_seconds"))),
        _card(_("epochs run"), str(epochs) if epochs is not None else "—"),
        _card(_("best epoch"), str(best) if best is not None else "—"),
    ]
    plots = _plots(run_dir)
    figures = ("".join(_figure(run_dir, p, _) for p in plots)
               or f"<p>{html.escape(_('No plots were written.'))}</p>")
    title = _("{model} on {dataset}").format(model=model, dataset=dataset)
    run_name = Path(str(config.get("out") or run_dir)).name  # not the .partial working name

    def h2(text: str) -> str:
        return f"<h2>{html.escape(_(text))}</h2>"

    body = f"""<div class="cards">{''.join(cards)}</div>
{h2("Plots")}
{figures}
{_explain_links(run_dir, _)}
{h2("Per-class scores")}
{_per_class_table(metrics.get("per_class"), _)}
{h2("Configuration")}
<pre>{html.escape(config_text)}</pre>
{h2("Environment")}
{_key_value_table(_flatten(environment), _)}"""
    subtitle = _("convolab run report · {name}").format(name=html.escape(run_name))
    return html_page(title, _("report"), subtitle, body, lang=lang)


def write_report(run_dir: str | os.PathLike, lang: str | None = None) -> Path:
    """Write `report.html` into a run directory (atomically) and return its path.

    `lang`: "en" or "es"; None keeps the run's own (`report_language` in metrics.json,
    else English). Raises a ConvolabError when the run directory or its `metrics.json` is
    missing; every other file is optional.
    """
    page = render_report(run_dir, lang)
    target = Path(run_dir) / REPORT_FILE
    write_text(target, page)
    return target
