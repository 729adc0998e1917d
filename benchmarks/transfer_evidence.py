"""Does an ImageNet base help with little data? Test accuracy against training images a class.

    python benchmarks/transfer_evidence.py                   # docs/transfer.md's table
    python benchmarks/transfer_evidence.py --datasets fashion_mnist --per-class 10 30 --seeds 0

For each dataset, number of training images a class and seed, five arms train on the same
stratified subset (seeded) and are tested on the whole test set:

- `lite0-probe`: EfficientNet-Lite0 with ImageNet weights, frozen; a linear classifier
  on its pooled features (trained on cached features);
- `lite0-finetune`: the same, then the whole base fine-tuned at a lower rate (its
  BatchNormalization frozen), a third of the epochs in phase 1;
- `lite0-scratch`: the same architecture from random weights, all of it trained;
- `seed-cnn` and `best` (`fashion-best` on Fashion-MNIST): convolab's own CNNs from scratch
  with their presets' recipes; `best`'s BatchNormalization at momentum 0.9 instead of
  Keras's 0.99, whose moving statistics stay near their starting values for the few
  hundred steps of the small sizes (convolab warns; test accuracy would sit at chance).

Every arm gets the same epochs and batch size for a size (EPOCHS), no validation split
(the checkpoint follows the training loss). The feature cache is at work as it is for a
user: `lite0-finetune`'s phase 1 reads the training features its cell's probe computed,
and the probes share the test set's features, so those seconds leave out one extraction
pass (see transfer_speed.py for its rate). Each finished cell is appended to
results/transfer_evidence-runs.jsonl at once, so a stopped benchmark continues where it
was; results/transfer_evidence.md and .json summarise mean and standard deviation.
Run nothing else meanwhile: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import convolab
from convolab.config import load_preset
from convolab.environment import describe_environment
from summary import machine

RESULTS = Path(__file__).parent / "results"
ARMS = ("lite0-probe", "lite0-finetune", "lite0-scratch", "seed-cnn", "best")
#: Epochs for each number of training images a class: fewer images, more passes.
EPOCHS = {10: 12, 30: 10, 100: 6, 1000: 3}
BEST_PRESET = {"fashion_mnist": "fashion-best"}


def epochs_for(per_class: int, override: int | None = None) -> int:
    if override is not None:
        return override
    sizes = sorted(EPOCHS)
    return EPOCHS[min(sizes, key=lambda size: abs(size - per_class))]


def batch_for(images: int) -> int:
    return 32 if images <= 1000 else 64


def merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def arm_config(arm: str, dataset: str, per_class: int, seed: int, base_size: int,
               weights: str, classes: int = 10, epochs: int | None = None) -> dict:
    """The convolab config of one cell."""
    epochs = epochs_for(per_class, epochs)
    common = {"data": {"name": dataset, "train_samples": per_class * classes,
                       "validation_split": 0.0},
              "train": {"epochs": epochs, "batch_size": batch_for(per_class * classes),
                        "monitor": "loss"},
              "seed": seed}
    lite = {"model": {"backbone": "efficientnet_lite0", "weights": weights,
                      "base_size": base_size}}
    if arm == "lite0-probe":
        return merge(common, {**lite, "transfer": {"unfreeze": "none"}})
    if arm == "lite0-finetune":
        return merge(common, {**lite, "transfer": {"freeze_epochs": max(1, epochs // 3),
                                                   "unfreeze": "all", "fine_tune_lr": 3e-4}})
    if arm == "lite0-scratch":
        scratch = merge(lite, {"model": {"weights": "none"}})
        return merge(common, {**scratch, "transfer": {"freeze_epochs": 0, "unfreeze": "all",
                                                      "fine_tune_lr": 3e-3}})
    if arm == "seed-cnn":
        return merge(common, {"model": {"name": "seed-cnn"}})
    if arm == "best":
        preset = load_preset(BEST_PRESET.get(dataset, "best"))
        preset.setdefault("data", {}).pop("name", None)
        return merge(preset, common)
    raise SystemExit(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")


def settled_batchnorm(config: dict, workdir: Path) -> dict:
    """`config` with its preset model's BatchNormalization at momentum 0.9 (a spec file in
    `workdir` named like the preset), when the preset has BatchNormalization."""
    from convolab.models import read_spec

    name = config.get("model", {}).get("name")
    if not name or config["model"].get("backbone"):
        return config
    spec = read_spec(name)
    layers = spec.get("layers") or []
    changed = False
    for entry in layers:
        if isinstance(entry, dict) and "BatchNormalization" in entry:
            entry["BatchNormalization"] = {**(entry["BatchNormalization"] or {}),
                                           "momentum": 0.9}
            changed = True
    if not changed:
        return config
    import yaml

    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return merge(config, {"model": {"name": str(path)}})


def run_cell(config: dict, workdir: Path) -> dict:
    config = settled_batchnorm(config, workdir)
    out = workdir / "run"
    started = time.perf_counter()
    run = convolab.train({**config, "out": str(out)}, verbose=0, argv=sys.argv)
    wall = time.perf_counter() - started
    m = run.metrics
    row = {"test_accuracy": m["test_accuracy"], "train_seconds": m["train_seconds"],
           "wall_seconds": round(wall, 2), "epochs": m["epochs_run"],
           "train_samples": m["train_samples"], "test_samples": m["test_samples"],
           "parameters": m["parameters"], "model": m["model"]}
    if "feature_cache" in m:
        row["feature_cache_hits"] = sum(bool(part.get("hit")) for part in
                                        m["feature_cache"].values())
    shutil.rmtree(out, ignore_errors=True)
    return row


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(rows: list[dict], arms: list[str]) -> list[dict]:
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["dataset"], r["per_class"], r["arm"]), []).append(r)
    out = []
    for (dataset, per_class, arm), group in sorted(
            cells.items(), key=lambda kv: (kv[0][0], kv[0][1], arms.index(kv[0][2])
                                           if kv[0][2] in arms else 99)):
        acc, acc_sd = mean_std([r["test_accuracy"] for r in group])
        sec, sec_sd = mean_std([r["train_seconds"] for r in group])
        out.append({"dataset": dataset, "per_class": per_class, "arm": arm, "n": len(group),
                    "epochs": group[0]["epochs"], "accuracy_mean": acc, "accuracy_std": acc_sd,
                    "seconds_mean": sec, "seconds_std": sec_sd,
                    "seeds": sorted(r["seed"] for r in group)})
    return out


def markdown(summary: list[dict], arms: list[str], env: dict, base_size: int) -> str:
    present = [a for a in arms if any(s["arm"] == a for s in summary)]
    lines = [f"Test accuracy on the whole test set (mean ± std over n seeds, each seed a "
             f"different stratified subset) and training seconds (mean). Lite0 at "
             f"{base_size} px. Machine: {machine(env)}; Keras "
             f"{env['versions'].get('keras')} on {env['backend']}.", "",
             "| dataset | images a class | epochs | " +
             " | ".join(f"`{a}`" for a in present) + " |",
             "|---|---:|---:|" + "---|" * len(present)]
    rows: dict[tuple, dict] = {}
    for s in summary:
        rows.setdefault((s["dataset"], s["per_class"]), {})[s["arm"]] = s
    for (dataset, per_class), by_arm in rows.items():
        cells = []
        for arm in present:
            s = by_arm.get(arm)
            cells.append("–" if s is None else
                         f"{100 * s['accuracy_mean']:.1f} ± {100 * s['accuracy_std']:.1f}% "
                         f"(n={s['n']}), {s['seconds_mean']:.0f} s")
        epochs = next(iter(by_arm.values()))["epochs"]
        lines.append(f"| {dataset} | {per_class} | {epochs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mnist"])
    parser.add_argument("--per-class", nargs="+", type=int, default=sorted(EPOCHS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--base-size", type=int, default=48,
                        help="Lite0's input size in pixels (default 48)")
    parser.add_argument("--weights", default="imagenet",
                        help="the pretrained arms' weights (imagenet; none for a smoke run)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="the same epochs for every size (default: the EPOCHS table)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs_file = args.out / "transfer_evidence-runs.jsonl"
    setting = {"base_size": args.base_size, "weights": args.weights,
               "epochs_override": args.epochs}

    def cell_key(row: dict) -> tuple:
        """A cell: what it trained and with which settings (rows without them: defaults)."""
        return (row["dataset"], row["per_class"], row["seed"], row["arm"],
                row.get("base_size", 48), row.get("weights", "imagenet"),
                row.get("epochs_override"))

    done = {cell_key(r) for r in read_rows(runs_file)}
    with tempfile.TemporaryDirectory(prefix="convolab-evidence-") as tmp:
        for seed in args.seeds:
            for dataset in args.datasets:
                for per_class in args.per_class:
                    for arm in args.arms:
                        cell = {"dataset": dataset, "per_class": per_class, "seed": seed,
                                "arm": arm, **setting}
                        if cell_key(cell) in done:
                            continue
                        config = arm_config(arm, dataset, per_class, seed, args.base_size,
                                            args.weights, epochs=args.epochs)
                        row = {**cell, **run_cell(config, Path(tmp))}
                        with open(runs_file, "a") as handle:
                            handle.write(json.dumps(row) + "\n")
                        print(f"{dataset} {per_class:>4}/class seed {seed} {arm:<15} "
                              f"{100 * row['test_accuracy']:.2f}%  "
                              f"{row['train_seconds']:.0f} s train, "
                              f"{row['wall_seconds']:.0f} s wall", flush=True)
    env = describe_environment(0, argv)
    ours = (args.base_size, args.weights, args.epochs)  # the rows of this setting only
    summary = summarise([r for r in read_rows(runs_file) if cell_key(r)[4:] == ours],
                        list(ARMS))
    (args.out / "transfer_evidence.json").write_text(json.dumps(
        {"environment": env, "base_size": args.base_size, "epochs": EPOCHS,
         "summary": summary}, indent=2))
    (args.out / "transfer_evidence.md").write_text(
        markdown(summary, list(ARMS), env, args.base_size))
    return summary


if __name__ == "__main__":
    main()
