"""Where the seconds of `convolab train --preset fast` go, seen from the command line.

    python benchmarks/cli_overhead.py                 # 5 runs
    python benchmarks/cli_overhead.py --runs 3 --args --preset fast --train-samples 6000

Runs the CLI in a fresh process N times, as a user does, and reports median (min–max) of:
the command's wall time (measured from outside, process start to exit), the training time
it prints (`train_seconds` in metrics.json: fit only, from the first step to the last
epoch's checkpoint), and their difference, the overhead a user waits for outside
training. When metrics.json holds a `timing` breakdown (convolab >= this benchmark), its
phases are reported too. Writes benchmarks/results/cli_overhead.json and .md.
Run nothing else meanwhile: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import machine, spread

RESULTS = Path(__file__).parent / "results"


def one_run(args: list[str], out: Path) -> dict:
    """Run `convolab train ARGS --quiet --out OUT` once; its wall time and metrics."""
    command = [sys.executable, "-m", "convolab", "train", *args, "--quiet", "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text())
    env = json.loads((out / "environment.json").read_text())
    row = {"wall_seconds": round(wall, 2), "train_seconds": metrics["train_seconds"],
           "overhead_seconds": round(wall - metrics["train_seconds"], 2),
           "test_accuracy": metrics["test_accuracy"], "environment": env}
    timing = metrics.get("timing")
    if timing:
        row["timing"] = timing
    return row


def phases(rows: list[dict]) -> dict[str, dict]:
    """median/min/max of every phase that every run's timing breakdown has."""
    if not all("timing" in r for r in rows):
        return {}
    out = {}
    for group in ("command", "training"):
        names = rows[0]["timing"].get(group, {})
        for name in names:
            values = [r["timing"][group].get(name) for r in rows]
            if all(isinstance(v, (int, float)) for v in values):
                out[f"{group}.{name}"] = spread(values)
    return out


def markdown(result: dict) -> str:
    def cell(s):
        return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"

    lines = [f"`convolab train {' '.join(result['args'])} --quiet`, {result['runs']} runs, "
             f"one at a time. Machine: {result['machine']}.", "",
             "| seconds | median (min–max) |", "|---|---|"]
    for key in ("wall_seconds", "train_seconds", "overhead_seconds"):
        lines.append(f"| {key.replace('_seconds', '')} | {cell(result[key])} |")
    for name, s in result["phases"].items():
        lines.append(f"| {name} | {cell(s)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--name", default="cli_overhead", help="results file name")
    parser.add_argument("--args", nargs=argparse.REMAINDER, default=["--preset", "fast"],
                        help="the train arguments (default: --preset fast)")
    opts = parser.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="cli-overhead-"))
    try:
        for i in range(opts.runs):
            row = one_run(opts.args, work / f"run-{i}")
            print(f"run {i + 1}/{opts.runs}: wall {row['wall_seconds']:.2f} s, train "
                  f"{row['train_seconds']:.2f} s, overhead {row['overhead_seconds']:.2f} s",
                  flush=True)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env = rows[0].pop("environment")
    for r in rows[1:]:
        r.pop("environment")
    result = {"args": opts.args, "runs": opts.runs, "machine": machine(env),
              **{k: spread([r[k] for r in rows])
                 for k in ("wall_seconds", "train_seconds", "overhead_seconds")},
              "phases": phases(rows), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{opts.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{opts.name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
