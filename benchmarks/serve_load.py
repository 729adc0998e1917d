"""Load on `convolab serve`: latency and throughput of predictions, through ONNX and Keras.

    python benchmarks/serve_load.py runs/default                 # docs/serve.md's table
    python benchmarks/serve_load.py runs/default --requests 200 --concurrency 4

The run is exported to ONNX (into a temporary copy, when it has no export) and served
twice on loopback, once predicting through onnxruntime and once through Keras
(`--no-onnx`). Each server answers `--requests` POST :predict requests, `--concurrency` in
flight at a time, after `--warmup` unmeasured ones. Each request holds one 28x28 image of
the test set as a pixel array (`--b64` sends it as a PNG file instead, which the server
decodes and prepares as `convolab predict` does). Reported: requests a second, latency
p50 / p90 / p99 / max (ms) and errors (any answer but 200, or a wrong prediction count).
results/serve_load.md and .json keep the table. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from convolab.serve.server import free_port

RESULTS = Path(__file__).parent / "results"


def start_server(run_dir: Path, port: int, onnx: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "convolab", "serve", str(run_dir), "--port",
               str(port), "--quiet"]
    if not onnx:
        command.append("--no-onnx")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped: {process.stderr.read().decode()[-500:]}")
            if time.time() > deadline:
                process.kill()
                raise SystemExit("the server did not start in 180 s")
            time.sleep(0.3)


def bodies(run_dir: Path, count: int, as_png: bool) -> list[bytes]:
    """`count` request bodies, each one test image (cycled)."""
    import convolab
    from PIL import Image

    images = convolab.Run.load(run_dir).test_set().x_test[:256]
    out = []
    for i in range(count):
        pixels = images[i % len(images)][..., 0]
        if as_png:
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
            instance = {"b64": base64.b64encode(buffer.getvalue()).decode()}
        else:
            instance = pixels.astype(int).tolist()
        out.append(json.dumps({"instances": [instance]}).encode())
    return out


async def load(url: str, payloads: list[bytes], concurrency: int) -> tuple[list[float], int]:
    """(latencies in seconds, errors) of POSTing every payload, `concurrency` at a time."""
    import httpx

    latencies: list[float] = []
    errors = 0
    queue = list(reversed(payloads))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def worker():
            nonlocal errors
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                try:
                    answer = await client.post(url, content=body,
                                               headers={"content-type": "application/json"})
                    ok = answer.status_code == 200 and len(answer.json()["predictions"]) == 1
                except (httpx.HTTPError, ValueError, KeyError):
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def measure(run_dir: Path, onnx: bool, args) -> dict:
    port = free_port()
    server = start_server(run_dir, port, onnx)
    try:
        name = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/models"))["models"][0]["name"]
        url = f"http://127.0.0.1:{port}/v1/models/{name}:predict"
        payloads = bodies(run_dir, args.requests + args.warmup, args.b64)
        asyncio.run(load(url, payloads[:args.warmup], args.concurrency))
        started = time.perf_counter()
        latencies, errors = asyncio.run(load(url, payloads[args.warmup:], args.concurrency))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    return {"engine": "onnx" if onnx else "keras", "requests": len(latencies),
            "concurrency": args.concurrency, "body": "png" if args.b64 else "pixels",
            "requests_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2), "errors": errors,
            "seconds": round(seconds, 2)}


def markdown(rows: list[dict], env: dict) -> str:
    from summary import machine

    lines = [f"`convolab serve` on loopback, {rows[0]['requests']:,} POST :predict requests "
             f"of one 28x28 image ({rows[0]['body']}), {rows[0]['concurrency']} in flight. "
             f"Machine: {machine(env)}; server and load generator share it.", "",
             "| engine | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['requests_per_second']} | {r['p50_ms']} | "
                     f"{r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    from convolab.environment import describe_environment
    from convolab.export import default_path, export_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--b64", action="store_true", help="send PNG files, not pixel arrays")
    parser.add_argument("--engines", nargs="+", default=["onnx", "keras"],
                        choices=["onnx", "keras"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="convolab-load-") as tmp:
        run_dir = args.run_dir
        if "onnx" in args.engines and not default_path(run_dir, "onnx").is_file():
            run_dir = Path(tmp) / args.run_dir.name
            shutil.copytree(args.run_dir, run_dir)
            export_run(run_dir, "onnx")
        rows = [measure(run_dir, engine == "onnx", args) for engine in args.engines]
    env = describe_environment(0, argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(json.dumps({"environment": env, "rows": rows},
                                                         indent=2))
    (args.out / "serve_load.md").write_text(markdown(rows, env))
    for r in rows:
        print(f"{r['engine']}: {r['requests_per_second']} requests/s, p50 {r['p50_ms']} ms, "
              f"p99 {r['p99_ms']} ms, {r['errors']} errors")
    return rows


if __name__ == "__main__":
    main()
