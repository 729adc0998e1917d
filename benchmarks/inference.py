"""Inference speed of a trained run: single-image latency and batch throughput.

    python benchmarks/inference.py RUN_DIR                  # 300 single calls, 10 batches
    python benchmarks/inference.py RUN_DIR --repeats 1000 --batch 1000

Times four ways to run the same model on the run's own test images, each after a warm-up:
`model.predict`, a direct call `model(x, training=False)`, that call traced once with
`tf.function` (TensorFlow backend only) and an ONNX Runtime session of the exported model.
Writes benchmarks/results/inference.json and inference.md (p50/p99 latency, images/s with
min-max spread, n, machine and versions). Run nothing else meanwhile: timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

import convolab
from convolab.environment import describe_environment
from convolab.export import export_run, load_exported
from summary import machine

RESULTS = Path(__file__).parent / "results"
WARMUP = 10  # untimed calls before each measurement


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_calls(fn: Callable, inputs: list[np.ndarray], warmup: int = WARMUP) -> list[float]:
    """Seconds per call of fn(x) for each x in `inputs`, after `warmup` untimed calls."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return times


def predictors(model, onnx_path: Path | None) -> dict[str, Callable]:
    """name -> fn(images) returning NumPy outputs, for every way this backend allows."""
    import keras

    to_numpy = keras.ops.convert_to_numpy
    ways = {
        "keras model.predict": lambda x: model.predict(x, batch_size=len(x), verbose=0),
        "keras model(x) (eager)": lambda x: to_numpy(model(x, training=False)),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        traced = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        ways["tf.function(model) (traced graph)"] = lambda x: to_numpy(traced(x))
    if onnx_path is not None:
        ways["onnxruntime (exported ONNX, CPU)"] = load_exported(onnx_path, "onnx")
    return ways


def measure(fn: Callable, images: np.ndarray, repeats: int, batch: int,
            batch_repeats: int) -> dict:
    """Latency of single images and throughput of `batch`-image calls for one predictor."""
    singles = [images[i % len(images)][None] for i in range(repeats)]
    lat_ms = [1000 * t for t in time_calls(fn, singles)]
    batches = [images[:batch]] * batch_repeats
    rates = [batch / t for t in time_calls(fn, batches, warmup=2)]
    return {"latency_n": repeats, "latency_p50_ms": percentile(lat_ms, 50),
            "latency_p99_ms": percentile(lat_ms, 99), "latency_min_ms": min(lat_ms),
            "latency_max_ms": max(lat_ms), "batch": batch, "throughput_n": batch_repeats,
            "throughput_median": statistics.median(rates), "throughput_min": min(rates),
            "throughput_max": max(rates)}


def benchmark(run_dir: str | Path, repeats: int = 300, batch: int = 1000,
              batch_repeats: int = 10, check_samples: int | None = None) -> dict:
    """Time every predictor on the run's test images; returns a JSON-able record."""
    run = convolab.Run.load(run_dir)
    load_before = os.getloadavg()[0]
    images = run.test_set().x_test.astype("float32")  # raw 0-255, as the model takes them
    if len(images) < batch:
        images = np.concatenate([images] * (batch // len(images) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_run(run.path, "onnx", Path(tmp) / "model.onnx",
                              check_samples=check_samples)
        results = {name: measure(fn, images, repeats, batch, batch_repeats)
                   for name, fn in predictors(run.model, exported.path).items()}
    env = describe_environment(seed=run.config.seed, argv=sys.argv)
    env["versions"]["onnxruntime"] = metadata.version("onnxruntime")
    env["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return {"environment": env, "run": run.path.name, "model": run.config.model.name,
            "dataset": run.config.data.name, "parameters": run.model.count_params(),
            "onnx_max_abs_diff": exported.max_abs_diff, "onnx_check_samples": exported.samples,
            "results": results}


def markdown(record: dict) -> str:
    env = record["environment"]
    first = next(iter(record["results"].values()))
    load = env["load_average_1min"]
    busy = (" (above the core count: other work shared the CPU)"
            if max(load.values()) > env["cpu_count"] else "")
    lines = [f"Model `{record['model']}` ({record['parameters']:,} parameters) on "
             f"{record['dataset']} test images. Machine: {machine(env)}; "
             f"Keras {env['versions'].get('keras')} on {env['backend']}, "
             f"onnxruntime {env['versions'].get('onnxruntime')}. Latency: n = "
             f"{first['latency_n']} single-image calls; throughput: n = {first['throughput_n']} "
             f"calls of {first['batch']} images; {WARMUP} (latency) and 2 (batch) warm-up calls "
             f"first. ONNX max abs difference from Keras: {record['onnx_max_abs_diff']:.2g} on "
             f"{record['onnx_check_samples']} test images. 1-minute load average "
             f"{load['before']:.1f} before, {load['after']:.1f} after{busy}.", "",
             "| method | latency p50 ms | latency p99 ms | latency min–max ms "
             f"| images/s, batch {first['batch']}: median (min–max) |",
             "|---|---:|---:|---|---|"]
    for name, r in record["results"].items():
        lines.append(f"| {name} | {r['latency_p50_ms']:.2f} | {r['latency_p99_ms']:.2f} | "
                     f"{r['latency_min_ms']:.2f}–{r['latency_max_ms']:.2f} | "
                     f"{r['throughput_median']:,.0f} ({r['throughput_min']:,.0f}–"
                     f"{r['throughput_max']:,.0f}) |")
    return "\n".join(lines) + "\n"


def write_results(record: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "inference.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "inference.md").write_text(markdown(record))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--repeats", type=int, default=300, help="timed single-image calls")
    parser.add_argument("--batch", type=int, default=1000, help="images per throughput call")
    parser.add_argument("--batch-repeats", type=int, default=10, help="timed batch calls")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.repeats, args.batch, args.batch_repeats) < 1:
        parser.error("--repeats, --batch and --batch-repeats must be at least 1")
    try:
        record = benchmark(args.run_dir, args.repeats, args.batch, args.batch_repeats)
    except convolab.ConvolabError as exc:
        sys.exit(f"inference.py: error: {exc}")
    write_results(record, args.out)
    print(markdown(record))


if __name__ == "__main__":
    main()
