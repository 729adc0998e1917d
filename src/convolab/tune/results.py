"""What a study found: study.json, study.md, plots, best/config.yaml and a report page.

The best trial is scored on the test set once (kept in `best/test_metrics.json`); every
other number comes from the validation splits the trials were scored on.
"""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path

import yaml
from optuna.trial import TrialState

from .. import atomic
from . import storage as st
from .space import format_value
from .study import (EPOCHS_ATTR, ERROR_ATTR, META_ATTR, SECONDS_ATTR, SURPLUS_ATTR,
                    TuneOptions, counted_trials)

STUDY_JSON, STUDY_MD, REPORT_FILE = "study.json", "study.md", "report.html"
BEST_DIR, BEST_CONFIG, BEST_TEST = "best", "config.yaml", "test_metrics.json"
PLOTS = {  # file -> (optuna.visualization.matplotlib function, what it shows)
    "optimization_history.png": ("plot_optimization_history", "the best value after each trial"),
    "parallel_coordinate.png": ("plot_parallel_coordinate", "each trial's values and score"),
    "param_importances.png": ("plot_param_importances", "how much each field mattered (fANOVA)"),
    "intermediate_values.png": ("plot_intermediate_values", "each trial's score by epoch"),
}

#: Texts translated from variables (the catalog tests read this list).
DYNAMIC_MESSAGES = ("trial", "state", "epochs", "seconds", "note", "complete", "pruned",
                    "fail", "running", "waiting", "maximize", "minimize",
                    *(caption for _, caption in PLOTS.values()))


def _trial_row(trial, retried_as: dict) -> dict:
    attrs = trial.user_attrs
    row = {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "params": dict(trial.params),
        "value": trial.value if trial.values else None,
        "epochs": attrs.get(EPOCHS_ATTR),
        "train_seconds": attrs.get(SECONDS_ATTR),
        "seconds": st.seconds_of(trial),
        "run_dir": attrs.get(st.RUN_DIR_ATTR),
        "worker": attrs.get(st.WORKER_ATTR),
    }
    if ERROR_ATTR in attrs:
        row["error"] = attrs[ERROR_ATTR]
    if st.RETRY_OF_ATTR in attrs:
        row["retry_of"] = attrs[st.RETRY_OF_ATTR]
    if trial.number in retried_as:
        row["retried_as"] = retried_as[trial.number]
    return row


def _pruning_saved(rows: list[dict], base_epochs: int) -> dict:
    """Epochs the pruned trials skipped, against the epochs they were set to run."""
    pruned = [r for r in rows if r["state"] == "pruned" and r["epochs"] is not None]
    planned = sum(int(r["params"].get("train.epochs", base_epochs)) for r in pruned)
    ran = sum(int(r["epochs"]) for r in pruned)
    finished = [r for r in rows if r["state"] == "complete" and r["epochs"]]
    per_epoch = (sum(r["train_seconds"] or 0 for r in finished)
                 / max(1, sum(r["epochs"] for r in finished)))
    return {"pruned_trials": len(pruned), "epochs_planned": planned, "epochs_run": ran,
            "epochs_saved": planned - ran,
            "seconds_saved_estimate": round((planned - ran) * per_epoch, 1)}


def _best_test(best_row: dict, best_dir: Path) -> dict | None:
    """The best trial's test metrics, computed once and kept in best/test_metrics.json."""
    from ..run import Run

    path = best_dir / BEST_TEST
    if path.is_file():
        kept = json.loads(path.read_text())
        if kept.get("trial") == best_row["number"]:
            return kept
    run_dir = Path(best_row["run_dir"] or "")
    if not (run_dir / "metrics.json").is_file():
        return None  # trained on another machine
    metrics = Run.load(run_dir).evaluate()
    kept = {"trial": best_row["number"], "run_dir": str(run_dir),
            "test_accuracy": metrics["test_accuracy"], "test_loss": metrics["test_loss"],
            "macro_f1": metrics["macro_f1"]}
    atomic.write_json(path, kept)
    return kept


def _write_best_config(best_row: dict, best_dir: Path) -> str | None:
    run_dir = Path(best_row["run_dir"] or "")
    if not (run_dir / "config.yaml").is_file():
        return None
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["out"] = None  # `convolab train best/config.yaml` makes a new run directory
    text = (f"# The best trial ({best_row['number']}) of this study: "
            f"`convolab train {best_dir / BEST_CONFIG}` trains it again.\n"
            + yaml.safe_dump(config, sort_keys=False))
    atomic.write_text(best_dir / BEST_CONFIG, text)
    return str(best_dir / BEST_CONFIG)


def _plots(study, plots_dir: Path) -> tuple[list[str], dict]:
    """Draw the PLOTS that the study's trials allow; (written, {file: why not})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "no complete trials" is said below
    written, skipped = [], {}
    plots_dir.mkdir(exist_ok=True)
    for name, (function, _) in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = getattr(ovm, function)(study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            if name == "intermediate_values.png":
                axes.set_xlabel("epoch (0 = the first)")
                axes.set_ylabel(study.user_attrs.get(META_ATTR, {}).get("monitor", "value"))
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            with atomic.atomic_path(plots_dir / name) as tmp:
                figure.savefig(tmp, format="png", dpi=100)
            written.append(name)
        except Exception as exc:  # too few finished trials for this plot
            skipped[name] = " ".join(str(exc).split())[:160] or type(exc).__name__
        finally:
            plt.close("all")
    return written, skipped


def write_results(study, options: TuneOptions, say=print) -> dict:
    """Write the study's results into its folder and return study.json's content."""
    study_dir = Path(options.study_dir)
    meta = study.user_attrs.get(META_ATTR, {})
    trials = [t for t in study.get_trials(deepcopy=False)
              if not t.user_attrs.get(SURPLUS_ATTR) and t.state != TrialState.WAITING]
    retried_as = {t.user_attrs[st.RETRY_OF_ATTR]: t.number for t in trials
                  if st.RETRY_OF_ATTR in t.user_attrs}
    rows = [_trial_row(t, retried_as) for t in trials]
    counts: dict = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary = {
        "study": str(study_dir),
        "storage": (st.redact(options.storage) if options.storage
                    else f"journal file {st.JOURNAL_FILE}"),
        "monitor": options.monitor, "direction": study.direction.name.lower(),
        "sampler": options.sampler, "pruner": options.pruner,
        "trials_wanted": options.trials, "trials_counted": len(counted_trials(study)),
        "counts": counts, "space": meta.get("space"), "base": meta.get("base"),
        "pruning": _pruning_saved(rows, int((meta.get("base") or {}).get("train", {})
                                            .get("epochs", 0))),
        "trials": rows, "best": None,
    }
    complete = [r for r in rows if r["state"] == "complete"]
    best_dir = study_dir / BEST_DIR
    if complete:
        best_row = next(r for r in rows if r["number"] == study.best_trial.number)
        best_dir.mkdir(exist_ok=True)
        summary["best"] = {"number": best_row["number"], "value": best_row["value"],
                           "params": best_row["params"], "run_dir": best_row["run_dir"],
                           "config": _write_best_config(best_row, best_dir),
                           "test": _best_test(best_row, best_dir)}
    written, skipped = _plots(study, study_dir / "plots")
    summary["plots"], summary["plots_skipped"] = written, skipped
    atomic.write_json(study_dir / STUDY_JSON, summary)
    atomic.write_text(study_dir / STUDY_MD, render_markdown(summary))
    atomic.write_text(study_dir / REPORT_FILE, render_report(summary, options.lang))
    _say_summary(summary, say)
    return summary


def _value(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def _note(row: dict) -> str:
    if "retried_as" in row:
        return f"worker lost; run again as trial {row['retried_as']}"
    if "retry_of" in row:
        return f"continues trial {row['retry_of']}"
    return row.get("error", "")


def _table(summary: dict) -> tuple[list[str], list[list[str]]]:
    fields = list(summary["space"] or {})
    header = ["trial", "state", summary["monitor"], *fields, "epochs", "seconds", "note"]
    body = []
    for row in summary["trials"]:
        body.append([str(row["number"]), row["state"], _value(row["value"]),
                     *(format_value(row["params"].get(f, "")) for f in fields),
                     str(row["epochs"] if row["epochs"] is not None else "—"),
                     f"{row['seconds']:.1f}" if row["seconds"] is not None else "—",
                     _note(row)])
    return header, body


def _best_lines(summary: dict, _=str) -> list[str]:
    """What the study found, in sentences (`_`: the translator of the page's language)."""
    best = summary["best"]
    if best is None:
        return [_("No trial has finished yet.")]
    lines = [_("Best: trial {number}, {monitor} {value} ({params}).").format(
        number=best["number"], monitor=summary["monitor"], value=f"{best['value']:.4f}",
        params=", ".join(f"{k} {format_value(v)}" for k, v in best["params"].items()))]
    if best["test"]:
        lines.append(_("Its test accuracy (scored once, after the search): {accuracy}, test "
                       "loss {loss}.").format(accuracy=f"{best['test']['test_accuracy']:.4f}",
                                              loss=f"{best['test']['test_loss']:.4f}"))
    if best["config"]:
        lines.append(_("Train it again: `convolab train {config}`.").format(
            config=best["config"]))
    return lines


def render_markdown(summary: dict) -> str:
    """study.md: what was searched, the best trial and every trial's row."""
    header, body = _table(summary)
    p = summary["pruning"]
    lines = [f"# Study {summary['study']}", "",
             f"{summary['trials_counted']} of {summary['trials_wanted']} trials; "
             f"{', '.join(f'{n} {s}' for s, n in sorted(summary['counts'].items()))}. "
             f"Objective: {summary['direction']} {summary['monitor']} (validation split). "
             f"Sampler {summary['sampler']}, pruner {summary['pruner']}, storage "
             f"{summary['storage']}.", "", *_best_lines(summary), "",
             f"Pruning stopped {p['pruned_trials']} trials, skipping {p['epochs_saved']} of "
             f"their {p['epochs_planned']} epochs (about {p['seconds_saved_estimate']} s at "
             f"the finished trials' seconds an epoch).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in body]
    lines += ["", "Plots: " + (", ".join(f"[{n}](plots/{n})" for n in summary["plots"])
                               or "none yet (too few finished trials)")]
    return "\n".join(lines) + "\n"


def render_report(summary: dict, lang: str = "en") -> str:
    """report.html: the same as study.md, with the plots shown, in `lang`."""
    from ..i18n import translator
    from ..report.page import html_page

    _ = translator(lang)
    header, body = _table(summary)
    fixed = ("trial", "state", "epochs", "seconds", "note")  # the others name config fields
    head = "".join(f"<th>{html.escape(_(h) if h in fixed else h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_(c) if i == 1 else c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in body)
    figures = "".join(
        f'<figure><img src="plots/{html.escape(n)}" alt="{html.escape(_(PLOTS[n][1]))}">'
        f"<figcaption>{html.escape(_(PLOTS[n][1]))}</figcaption></figure>"
        for n in summary["plots"])
    best = "".join(f"<p>{html.escape(line)}</p>" for line in _best_lines(summary, _))
    no_plots = html.escape(_("Too few finished trials for plots yet."))
    page = f"""{best}
<h2>{html.escape(_("Trials"))}</h2>
<table><tr>{head}</tr>{rows}</table>
<h2>{html.escape(_("Plots"))}</h2>
{figures or f"<p>{no_plots}</p>"}"""
    subtitle = html.escape(_("{sampler} sampler, {pruner} pruner, {direction} {monitor}").format(
        sampler=summary["sampler"], pruner=summary["pruner"],
        direction=_(summary["direction"]), monitor=summary["monitor"]))
    title = _("Study {name}").format(name=Path(summary["study"]).name)
    return html_page(title, _("study"), subtitle, page, lang=lang)


def _say_summary(summary: dict, say) -> None:
    for line in _best_lines(summary):
        say(line)
    say(f"study: {Path(summary['study']) / STUDY_MD}")
    say(f"report: {Path(summary['study']) / REPORT_FILE}")
