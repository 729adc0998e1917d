"""Does tuning pay? TPE against random search, and both against the hand-made recipes.

    python benchmarks/tune_evidence.py                       # docs/tuning.md's table (hours)
    python benchmarks/tune_evidence.py --datasets mnist --reps 1 --trials 10

For each dataset and repetition, two studies of `--trials` trials tune `seed-cnn` over the
default search space (learning rate, batch size, epochs, Dropout, L2) on a stratified
subset of `--train-samples` images (a tenth held out for validation, the objective), one
with the TPE sampler and one with random search, both with the median pruner. Repetition r
uses seed r (its own subset, split and initial weights) and its own sampler seed. Each
study's best trial is scored once on the whole test set. TPE starts with 10 random trials;
with the same sampler seed they are the same 10 as random search's first ones, so the two
curves part at trial 11 (common random numbers: the comparison is of what TPE does next).

Baselines on the same subset, one run a seed: the default recipe (`convolab train` with
no flags) and the hand-made presets (`fast` / `fashion-fast`, and `keras-io`), which train
on every image of the subset (they hold out no validation split).

A finished study or baseline run is appended to results/tune_evidence-runs.jsonl at once,
and an unfinished study continues where it stopped, so a stopped benchmark resumes. The
studies live under --work (their trials are ordinary run directories).
results/tune_evidence.md, .json and .png summarise. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import convolab
from convolab.config import resolve_config
from convolab.environment import describe_environment
from convolab.tune.space import load_space
from convolab.tune.study import TuneOptions, tune
from summary import machine

RESULTS = Path(__file__).parent / "results"
SAMPLERS = ("tpe", "random")
#: Hand-made recipes to compare with, by dataset (the default recipe is always there).
PRESETS = {"mnist": ("fast", "keras-io"), "fashion_mnist": ("fashion-fast", "keras-io")}
CHECKPOINTS = (5, 10, 20, 30)  # "best validation accuracy after n trials" columns


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_row(path: Path, row: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def running_best(trials: list[dict]) -> list[float | None]:
    """The best validation accuracy among the first n trials (by number), for each n."""
    best, curve = None, []
    for row in sorted(trials, key=lambda r: r["number"]):
        if "retried_as" in row:
            continue
        value = row["value"] if row["state"] == "complete" else None
        if value is not None and (best is None or value > best):
            best = value
        curve.append(best)
    return curve


def run_study(dataset: str, sampler: str, rep: int, args) -> dict:
    base = resolve_config(overrides={"data": {"name": dataset,
                                              "train_samples": args.train_samples},
                                     "seed": rep})
    folder = args.work / f"{dataset}-{sampler}-{rep}"
    options = TuneOptions(study_dir=str(folder), trials=args.trials, sampler=sampler,
                          pruner="median")
    started = time.perf_counter()
    summary = tune(base, load_space(None, base), options,
                   say=lambda *a, **k: print(f"  [{dataset} {sampler} {rep}]", *a, flush=True))
    wall = time.perf_counter() - started
    trials = summary["trials"]
    best = summary["best"]
    return {"kind": "study", "dataset": dataset, "sampler": sampler, "rep": rep,
            "trials": args.trials, "train_samples": args.train_samples,
            "curve": running_best(trials), "best_value": best["value"],
            "best_params": best["params"], "test_accuracy": best["test"]["test_accuracy"],
            "trial_seconds": round(sum(r["seconds"] or 0 for r in trials), 1),
            "wall_seconds_last_call": round(wall, 1), "counts": summary["counts"],
            "pruning": summary["pruning"]}


def run_baseline(dataset: str, recipe: str, seed: int, args) -> dict:
    overrides = {"data": {"name": dataset, "train_samples": args.train_samples}, "seed": seed}
    out = args.work / f"baseline-{dataset}-{recipe}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    preset = None if recipe == "default" else recipe
    config = resolve_config(preset=preset, overrides={**overrides, "out": str(out)})
    run = convolab.train(config, verbose=0, argv=sys.argv)
    m = run.metrics
    shutil.rmtree(out, ignore_errors=True)
    return {"kind": "baseline", "dataset": dataset, "recipe": recipe, "rep": seed,
            "train_samples": args.train_samples, "test_accuracy": m["test_accuracy"],
            "train_seconds": m["train_seconds"], "epochs": m["epochs_run"]}


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.2f} ± {100 * sd:.2f}% (n={len(values)})"


def summarise(rows: list[dict], trials: int) -> list[dict]:
    out = []
    for dataset in sorted({r["dataset"] for r in rows}):
        for sampler in SAMPLERS:
            group = [r for r in rows if r["kind"] == "study" and r["dataset"] == dataset
                     and r["sampler"] == sampler and r["trials"] == trials]
            if not group:
                continue
            after = {n: [r["curve"][n - 1] for r in group
                         if len(r["curve"]) >= n and r["curve"][n - 1] is not None]
                     for n in CHECKPOINTS if n <= trials}
            planned = sum(r["pruning"]["epochs_planned"] for r in group)
            saved = sum(r["pruning"]["epochs_saved"] for r in group)
            out.append({"dataset": dataset, "arm": sampler, "n": len(group),
                        "val_after": {n: mean_std(v) for n, v in after.items()},
                        "test": mean_std([r["test_accuracy"] for r in group]),
                        "minutes": statistics.fmean(r["trial_seconds"] for r in group) / 60,
                        "pruned_trials": statistics.fmean(r["pruning"]["pruned_trials"]
                                                          for r in group),
                        "epochs_saved": saved, "epochs_planned_pruned": planned,
                        "seconds_saved": statistics.fmean(
                            r["pruning"]["seconds_saved_estimate"] for r in group)})
        for recipe in ("default", *PRESETS.get(dataset, ())):
            group = [r for r in rows if r["kind"] == "baseline" and r["dataset"] == dataset
                     and r["recipe"] == recipe]
            if group:
                out.append({"dataset": dataset, "arm": recipe, "n": len(group),
                            "test": mean_std([r["test_accuracy"] for r in group]),
                            "minutes": statistics.fmean(r["train_seconds"]
                                                        for r in group) / 60})
    return out


def markdown(summary: list[dict], env: dict, args) -> str:
    checkpoints = [n for n in CHECKPOINTS if n <= args.trials]
    header = ["dataset", "search or recipe", *(f"best val after {n}" for n in checkpoints),
              "test accuracy of the best", "minutes (per study or run)",
              "pruning: trials stopped, time saved"]
    lines = [f"`seed-cnn` on {args.train_samples:,} training images (a tenth held out as the "
             f"validation split the studies maximise), {args.trials} trials a study, median "
             f"pruner. Accuracy as mean ± std over n repetitions (seeds). Test accuracy: "
             f"each study's best trial scored once on the whole test set; baselines: one run "
             f"a seed. Machine: {machine(env)}; Keras {env['versions'].get('keras')} on "
             f"{env['backend']}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        if "val_after" in s:
            pruning = (f"{s['pruned_trials']:.1f} a study, ~{s['seconds_saved'] / 60:.1f} min "
                       f"({s['epochs_saved']} of {s['epochs_planned_pruned']} epochs)")
            cells = [s["val_after"].get(n, "—") for n in checkpoints]
        else:
            pruning, cells = "—", ["—"] * len(checkpoints)
        lines.append("| " + " | ".join([s["dataset"], f"`{s['arm']}`", *cells, s["test"],
                                        f"{s['minutes']:.1f}", pruning]) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path, trials: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    datasets = sorted({r["dataset"] for r in rows if r["kind"] == "study"})
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for sampler, colour in zip(SAMPLERS, ("tab:blue", "tab:orange")):
            curves = [r["curve"] for r in rows if r["kind"] == "study"
                      and r["dataset"] == dataset and r["sampler"] == sampler
                      and r["trials"] == trials]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            values = np.array([[v if v is not None else np.nan for v in c[:length]]
                               for c in curves]) * 100
            x = np.arange(1, length + 1)
            ax.plot(x, np.nanmean(values, axis=0), color=colour,
                    label=f"{sampler} (n={len(curves)})")
            ax.fill_between(x, np.nanmin(values, axis=0), np.nanmax(values, axis=0),
                            color=colour, alpha=0.2)
        ax.set_title(f"{dataset}: best validation accuracy so far")
        ax.set_xlabel("trials")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--work", type=Path, default=Path("runs") / "tune-evidence",
                        help="the studies' folders (default runs/tune-evidence)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs_file = args.out / "tune_evidence-runs.jsonl"

    def key(row: dict) -> tuple:
        arm = row.get("sampler") or row.get("recipe")
        return (row["kind"], row["dataset"], arm, row["rep"], row["train_samples"],
                row.get("trials"))

    done = {key(r) for r in read_rows(runs_file)}
    for rep in range(args.reps):
        for dataset in args.datasets:
            for sampler in args.samplers:
                cell = {"kind": "study", "dataset": dataset, "sampler": sampler, "rep": rep,
                        "train_samples": args.train_samples, "trials": args.trials}
                if key(cell) not in done:
                    row = run_study(dataset, sampler, rep, args)
                    append_row(runs_file, row)
                    print(f"{dataset} {sampler} rep {rep}: best val {row['best_value']:.4f}, "
                          f"test {row['test_accuracy']:.4f}, {row['trial_seconds']:.0f} s",
                          flush=True)
            for recipe in ("default", *PRESETS.get(dataset, ())) if args.baselines else ():
                cell = {"kind": "baseline", "dataset": dataset, "recipe": recipe, "rep": rep,
                        "train_samples": args.train_samples}
                if key(cell) not in done:
                    row = run_baseline(dataset, recipe, rep, args)
                    append_row(runs_file, row)
                    print(f"{dataset} {recipe} seed {rep}: test {row['test_accuracy']:.4f}, "
                          f"{row['train_seconds']:.0f} s", flush=True)
    rows = [r for r in read_rows(runs_file) if r["train_samples"] == args.train_samples]
    env = describe_environment(0, argv)
    summary = summarise(rows, args.trials)
    (args.out / "tune_evidence.json").write_text(json.dumps(
        {"environment": env, "trials": args.trials, "train_samples": args.train_samples,
         "summary": summary}, indent=2))
    (args.out / "tune_evidence.md").write_text(markdown(summary, env, args))
    plot(rows, args.out / "tune_evidence.png", args.trials)
    return summary


if __name__ == "__main__":
    main()
