"""Train every model preset on full MNIST with the default recipe; report accuracy and time.

    python benchmarks/presets.py                      # every preset, 3 seeds each
    python benchmarks/presets.py --models fast seed-cnn --seeds 5

Writes benchmarks/results/presets.json and presets.md (a table of test accuracy and
training seconds: median, min and max over the seeds, with the machine it ran on).
Run nothing else meanwhile: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import convolab
from convolab.environment import describe_environment
from summary import machine, spread

RESULTS = Path(__file__).parent / "results"


def run_preset(model: str, seed: int, epochs: int | None, workdir: Path) -> dict:
    overrides = {"model": {"name": model}, "seed": seed, "out": str(workdir / f"{model}-{seed}")}
    if epochs is not None:
        overrides["train"] = {"epochs": epochs}
    run = convolab.train(overrides, verbose=0, argv=sys.argv)
    m = run.metrics
    return {"model": model, "seed": seed, "test_accuracy": m["test_accuracy"],
            "train_seconds": m["train_seconds"], "epochs": m["epochs_run"],
            "parameters": m["parameters"]}


def summarise(rows: list[dict]) -> dict:
    accuracy = spread([r["test_accuracy"] for r in rows])
    seconds = spread([r["train_seconds"] for r in rows])
    return {"model": rows[0]["model"], "parameters": rows[0]["parameters"], "n": len(rows),
            "epochs": rows[0]["epochs"],
            **{f"accuracy_{k}": v for k, v in accuracy.items()},
            **{f"seconds_{k}": v for k, v in seconds.items()}}


def markdown(summaries: list[dict], env: dict) -> str:
    lines = [f"Full MNIST (54,000 train / 6,000 val / 10,000 test), default recipe "
             f"(Adam, one-cycle lr 0.003, batch 128). Machine: {machine(env)}; "
             f"Keras {env['versions'].get('keras')} on "
             f"{env['backend']}.", "",
             "| preset | parameters | epochs | n | test accuracy: median (min–max) "
             "| train seconds: median (min–max) |",
             "|---|---:|---:|---:|---|---|"]
    for s in summaries:
        lines.append(
            f"| `{s['model']}` | {s['parameters']:,} | {s['epochs']} | {s['n']} | "
            f"{100 * s['accuracy_median']:.2f}% ({100 * s['accuracy_min']:.2f}–"
            f"{100 * s['accuracy_max']:.2f}) | {s['seconds_median']:.0f} "
            f"({s['seconds_min']:.0f}–{s['seconds_max']:.0f}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=[m["name"] for m in convolab.list_models()])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override the default epochs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for seed in range(args.seeds):
                row = run_preset(model, seed, args.epochs, Path(tmp))
                rows.append(row)
                args.out.mkdir(parents=True, exist_ok=True)  # keep what is done so far
                (args.out / "presets-runs.jsonl").open("a").write(json.dumps(row) + "\n")
                print(f"{model} seed {seed}: {100 * row['test_accuracy']:.2f}% in "
                      f"{row['train_seconds']:.1f} s", flush=True)
    summaries = [summarise([r for r in rows if r["model"] == m]) for m in args.models]
    env = describe_environment(seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "presets.json").write_text(json.dumps(
        {"environment": env, "runs": rows, "summary": summaries,
         "wall_seconds": round(time.time() - started, 1)}, indent=2) + "\n")
    (args.out / "presets.md").write_text(markdown(summaries, env))
    print(markdown(summaries, env))


if __name__ == "__main__":
    main()
