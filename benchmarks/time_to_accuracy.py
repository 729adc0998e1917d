"""Time to accuracy: train each contender over several seeds and report how fast it gets there.

    python benchmarks/time_to_accuracy.py                       # every contender, 5 seeds
    python benchmarks/time_to_accuracy.py --contenders keras-io convolab-fast --seeds 3
    python benchmarks/time_to_accuracy.py --dataset fashion_mnist --thresholds 0.9 0.93
    python benchmarks/time_to_accuracy.py --summarise \
        benchmarks/results/time_to_accuracy_fashion.json \
        --thresholds 0.885 0.9 --name fashion_at_88.5   # the stored runs at other thresholds

Each (contender, seed) trains in a fresh Python process, so peak memory is its own and no
state leaks between runs. The test set is evaluated `--evals-per-epoch` times an epoch with
the training clock paused; the report gives, over the seeds, the median (min–max) training
seconds to reach each threshold, the final test accuracy, peak memory, and the ratio of
each median time to the first contender's (the unit's keras-io recipe by default), and the
training CPU seconds beside the wall seconds. Writes benchmarks/results/time_to_accuracy.json
and .md (time_to_accuracy_fashion.* for fashion_mnist, so one dataset's results never
replace the other's; `--name` picks another stem). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

#: The environment as the user started the harness, before `import convolab` (which turns
#: TensorFlow's oneDNN kernels on) can change it; every worker starts from this copy.
USER_ENV = dict(os.environ)
USER_ONEDNN = USER_ENV.get("TF_ENABLE_ONEDNN_OPTS")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from clock import EvalLog, TrainClock, peak_memory_mib, time_to  # noqa: E402
from contenders import CONTENDERS  # noqa: E402
from summary import machine, spread  # noqa: E402

RESULTS = HERE / "results"
DEFAULT_THRESHOLDS = {"mnist": (0.99, 0.995), "fashion_mnist": (0.90, 0.93)}


def load_arrays(dataset: str, train_samples: int | None) -> SimpleNamespace:
    """The whole training set (no validation hold-out) and the test set, as uint8 arrays."""
    from convolab.data import load_dataset

    ds = load_dataset(dataset, validation_split=0.0, train_samples=train_samples, seed=0)
    return SimpleNamespace(name=dataset, train_samples=train_samples, x_train=ds.x_train,
                           y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)


def run_worker(args) -> dict:
    """Train one contender with one seed in this process; return its eval log."""
    contender = CONTENDERS[args.worker]
    data = load_arrays(args.dataset, args.train_samples)
    if contender.tf_defaults:  # a hand-written script gets TensorFlow's own default
        assert "tensorflow" not in sys.modules, "TensorFlow was imported too early"
        if USER_ONEDNN is None:
            os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
        else:
            os.environ["TF_ENABLE_ONEDNN_OPTS"] = USER_ONEDNN
    clock = TrainClock()
    log = EvalLog(clock, stop_at=args.stop_at)
    started = time.perf_counter()
    epochs = contender.run(data, args.seed, log, args.evals_per_epoch, args.max_epochs)
    points = log.points
    return {"contender": contender.name, "seed": args.seed, "dataset": args.dataset,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow default"),
            "epochs": epochs, "points": points,
            "train_seconds": points[-1]["seconds"] if points else None,
            "train_cpu_seconds": points[-1]["cpu_seconds"] if points else None,
            "final_accuracy": points[-1]["test_accuracy"] if points else None,
            "peak_memory_mib": round(peak_memory_mib(), 1),
            "wall_seconds": round(time.perf_counter() - started, 2)}


def spawn(name: str, seed: int, args, out: Path) -> dict:
    """Run one worker process and read back its result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--seed", str(seed), "--dataset", args.dataset,
           "--evals-per-epoch", str(args.evals_per_epoch), "--result", str(out)]
    max_epochs = args.caps.get(name, args.max_epochs)
    for flag, value in (("--max-epochs", max_epochs), ("--stop-at", args.stop_at),
                        ("--train-samples", args.train_samples)):
        if value is not None:
            cmd += [flag, str(value)]
    env = {**USER_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"contender {name} seed {seed} failed:\n{tail}")
    return json.loads(out.read_text())


def summarise(rows: list[dict], thresholds: list[float]) -> dict:
    """Median/min/max over seeds of the times to each threshold, accuracy and memory."""
    times = {}
    for t in thresholds:
        reached = [time_to(r["points"], t) for r in rows]
        got = [s for s in reached if s is not None]
        times[f"{t:g}"] = {"reached": len(got), "of": len(rows), **(spread(got) or {})}
    return {"contender": rows[0]["contender"], "n": len(rows), "time_to": times,
            "final_accuracy": spread([r["final_accuracy"] for r in rows]),
            "train_seconds": spread([r["train_seconds"] for r in rows]),
            "train_cpu_seconds": spread([r["train_cpu_seconds"] for r in rows]),
            "epochs": spread([r["epochs"] for r in rows]),
            "peak_memory_mib": spread([r["peak_memory_mib"] for r in rows])}


def _fmt_spread(entry: dict, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """'median (min–max)' of a spread, each value times `scale`, e.g. '99.17% (99.16–99.23)'."""
    low, mid, high = (f"{scale * entry[k]:.{digits}f}" for k in ("min", "median", "max"))
    return f"{mid}{unit} ({low}–{high})"


def _fmt_time(entry: dict, base: dict | None) -> str:
    if not entry.get("reached"):
        return f"not reached (0/{entry['of']})"
    text = _fmt_spread(entry)
    if entry["reached"] < entry["of"]:
        text += f", {entry['reached']}/{entry['of']} seeds"
    if base and base.get("reached") and base["median"] > 0:
        text += f", **{base['median'] / entry['median']:.1f}x**"
    return text


#: The contender every ratio is taken against: the unit's own recipe.
BASELINE = "keras-io"


def baseline_first(summaries: list[dict]) -> list[dict]:
    """The summaries with the baseline's (when it ran) moved to the front."""
    return sorted(summaries, key=lambda s: s["contender"] != BASELINE)


def markdown(summaries: list[dict], env: dict, args, thresholds: list[float]) -> str:
    summaries = baseline_first(summaries)
    base = summaries[0]
    head = [f"Time to accuracy on {args.dataset} "
            f"({'all' if args.train_samples is None else args.train_samples} training images), "
            f"test set evaluated {args.evals_per_epoch}x per epoch with the clock paused. "
            f"Machine: {machine(env)}; Keras "
            f"{env['versions'].get('keras')} on {env['backend']}, torch "
            f"{env['versions'].get('torch') or 'not installed'}. Median (min–max) over "
            f"{base['n']} seeds; ratios are the first row's median time over each median "
            f"time (higher is faster). Train CPU seconds: the process's CPU time (all "
            f"threads) over the same training windows; a stalled machine adds wall seconds, "
            f"not CPU seconds."
            + "".join(f" {n} capped at {e} epochs." for n, e in args.caps.items()), ""]
    cols = [f"seconds to {100 * t:g}%" for t in thresholds]
    head.append("| contender | " + " | ".join(cols) + " | final test accuracy | "
                "train seconds | train CPU seconds | epochs | peak memory (MiB) |")
    head.append("|---" * (len(cols) + 6) + "|")
    for s in summaries:
        acc, sec, mem = s["final_accuracy"], s["train_seconds"], s["peak_memory_mib"]
        cpu = s["train_cpu_seconds"]
        cells = [_fmt_time(s["time_to"][f"{t:g}"], base["time_to"][f"{t:g}"] if s is not base
                           else None) for t in thresholds]
        head.append(f"| {s['contender']} | " + " | ".join(cells) +
                    f" | {_fmt_spread(acc, scale=100, digits=2, unit='%')} | {_fmt_spread(sec)} "
                    f"| {_fmt_spread(cpu)} | {s['epochs']['median']:g} | {mem['max']:.0f} |")
    return "\n".join(head) + "\n"


def available(name: str) -> bool:
    needs = CONTENDERS[name].needs
    return needs is None or importlib.util.find_spec(needs) is not None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contenders", nargs="+", choices=sorted(CONTENDERS),
                   default=["keras-io", "keras-io-onednn", "convolab-fast",
                            "convolab-fast-99.5", "torch-fast", "torch-examples"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--dataset", default="mnist", choices=sorted(DEFAULT_THRESHOLDS))
    p.add_argument("--thresholds", type=float, nargs="+")
    # Four checks an epoch: a quarter epoch of `fast` is ~0.3 s, so the time to a threshold
    # is read to within that, not within the half epoch (~0.6 s) that two checks gave.
    p.add_argument("--evals-per-epoch", type=int, default=4)
    p.add_argument("--max-epochs", type=int, help="cap every contender's epochs")
    p.add_argument("--cap", action="append", default=[], metavar="CONTENDER=EPOCHS",
                   help="cap one contender's epochs (repeatable), e.g. torch-examples=3")
    p.add_argument("--stop-at", type=float, help="stop a run once it reaches this accuracy")
    p.add_argument("--train-samples", type=int, help="train on a stratified subset")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", help="result file name stem (default: time_to_accuracy, with "
                   "_fashion for fashion_mnist)")
    p.add_argument("--summarise", type=Path, metavar="RESULTS_JSON",
                   help="train nothing: write the table of a stored run's results at "
                   "--thresholds to NAME.md (needs --name)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.summarise is not None and args.name is None:
        p.error("--summarise needs --name, so that the stored results are not overwritten")
    args.caps = {}
    for item in args.cap:
        name, _, epochs = item.partition("=")
        if name not in CONTENDERS or not epochs.isdigit():
            p.error(f"--cap {item!r}: expected CONTENDER=EPOCHS with a known contender")
        args.caps[name] = int(epochs)
    if args.name is None:
        short = args.dataset.removesuffix("_mnist")  # fashion_mnist -> fashion
        args.name = "time_to_accuracy" + ("" if args.dataset == "mnist" else f"_{short}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        args.result.write_text(json.dumps(run_worker(args)))
        return 0
    if args.summarise is not None:
        print(summarise_stored(args))
        return 0
    from convolab.environment import describe_environment

    thresholds = args.thresholds or list(DEFAULT_THRESHOLDS[args.dataset])
    names = [n for n in args.contenders if available(n)]
    for n in set(args.contenders) - set(names):
        print(f"skipping {n}: needs {CONTENDERS[n].needs} (pip install it to include it)")
    rows: list[dict] = []
    env = None
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for seed in range(args.seeds):
                row = spawn(name, seed, args, Path(tmp) / f"{name}-{seed}.json")
                print(f"{name} seed {seed}: final {row['final_accuracy']:.4f} after "
                      f"{row['train_seconds']:.1f} s, {row['epochs']} epochs, "
                      f"{row['peak_memory_mib']:.0f} MiB", flush=True)
                rows.append(row)
                env = env or describe_environment(seed=0)
                table = write_results(rows, names, env, args, thresholds)  # after every run
    print(table)
    return 0


def summarise_stored(args) -> str:
    """The markdown table of a stored results JSON at `args.thresholds`, written to NAME.md."""
    try:
        report = json.loads(args.summarise.read_text())
        rows, env = report["runs"], report["environment"]
        for key in ("dataset", "seeds", "evals_per_epoch", "caps", "train_samples"):
            setattr(args, key, report[key])
        thresholds = args.thresholds or report["thresholds"]
        names = list(dict.fromkeys(r["contender"] for r in rows))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"time_to_accuracy: error: {args.summarise} is not a results JSON of this "
                 f"harness ({exc}); pass a time_to_accuracy*.json file")
    table = markdown(summaries_of(rows, names, thresholds), env, args, thresholds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(table)
    return table


def summaries_of(rows: list[dict], names: list[str], thresholds) -> list[dict]:
    """One summary per contender that has rows, in the order of `names`."""
    return [summarise([r for r in rows if r["contender"] == n], thresholds)
            for n in names if any(r["contender"] == n for r in rows)]


def write_results(rows: list[dict], names: list[str], env: dict, args, thresholds) -> str:
    """Write the JSON and markdown for the runs so far; return the markdown table."""
    summaries = summaries_of(rows, names, thresholds)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"dataset": args.dataset, "thresholds": thresholds, "seeds": args.seeds,
              "evals_per_epoch": args.evals_per_epoch, "max_epochs": args.max_epochs,
              "caps": args.caps, "train_samples": args.train_samples, "environment": env,
              "summaries": summaries, "runs": rows}
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    table = markdown(summaries, env, args, thresholds)
    (args.out / f"{args.name}.md").write_text(table)
    return table


if __name__ == "__main__":
    sys.exit(main())
