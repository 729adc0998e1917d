"""Images a second of each backbone on this machine: feature extraction and fine-tuning.

    python benchmarks/transfer_speed.py                       # every backbone at 96 px
    python benchmarks/transfer_speed.py --backbones vgg16 efficientnet_lite0 --size 128

Feature extraction is what a frozen phase costs once (then the feature cache serves it):
the whole transfer model up to its pooled features, `predict` on batches of 64 grey 28x28
images resized inside the model. Fine-tuning is a phase-2 training step with the whole base
unfrozen (BatchNormalization frozen), batches of 32. Weights are `none` (the speed does not
depend on their values). Each figure: the median (min–max) of --repeats timed passes after
one untimed warm-up pass. Writes results/transfer_speed.json and .md. Run nothing else
meanwhile: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from convolab.environment import describe_environment
from convolab.transfer import backbones
from summary import machine, spread

RESULTS = Path(__file__).parent / "results"


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: tracing and first allocations
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(name: str, size: int, images: int, train_batches: int, repeats: int) -> dict:
    import keras

    from convolab.transfer.features import feature_extractor
    from convolab.transfer.model import build_transfer_model, unfreeze

    keras.utils.set_random_seed(0)
    model = build_transfer_model({"backbone": name, "weights": "none", "image_size": size},
                                 (28, 28, 1), 10, name=f"{name}_speed")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, 28, 28, 1)).astype("float32")
    extractor = feature_extractor(model)
    extract = timed(lambda: extractor.predict(x, batch_size=64, verbose=0), repeats)
    unfreeze(model, "all")
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss="sparse_categorical_crossentropy")
    train_x = x[: 32 * train_batches]
    train_y = rng.integers(0, 10, len(train_x))
    fine_tune = timed(lambda: model.fit(train_x, train_y, batch_size=32, epochs=1, verbose=0,
                                        shuffle=False), repeats)
    rate = lambda count, seconds: [count / s for s in seconds]
    return {"backbone": name, "size": size, "parameters": int(model.count_params()),
            "extract_images_per_second": spread(rate(images, extract)),
            "fine_tune_images_per_second": spread(rate(len(train_x), fine_tune)),
            "repeats": repeats, "extract_images": images, "fine_tune_images": len(train_x)}


def markdown(rows: list[dict], env: dict) -> str:
    lines = [f"Images a second (median, min–max over {rows[0]['repeats']} timed passes). "
             f"Machine: {machine(env)}; Keras {env['versions'].get('keras')} on "
             f"{env['backend']}.", "",
             "| backbone | input px | parameters | feature extraction | fine-tuning (all "
             "unfrozen) |", "|---|---:|---:|---|---|"]
    for r in rows:
        e, f = r["extract_images_per_second"], r["fine_tune_images_per_second"]
        lines.append(f"| `{r['backbone']}` | {r['size']} | {r['parameters']:,} | "
                     f"{e['median']:.0f} ({e['min']:.0f}–{e['max']:.0f}) | "
                     f"{f['median']:.1f} ({f['min']:.1f}–{f['max']:.1f}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    names = [b.name for b in backbones.list_backbones()]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=names, choices=names)
    parser.add_argument("--size", type=int, default=96, help="input size in pixels (96)")
    parser.add_argument("--images", type=int, default=256,
                        help="images a timed extraction pass (256)")
    parser.add_argument("--train-batches", type=int, default=4,
                        help="batches of 32 a timed fine-tuning pass (4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for name in args.backbones:
        size = max(args.size, backbones.get_backbone(name).min_size)
        row = measure(name, size, args.images, args.train_batches, args.repeats)
        rows.append(row)
        print(f"{name:<20} {size} px  extract {row['extract_images_per_second']['median']:.0f}"
              f" img/s  fine-tune {row['fine_tune_images_per_second']['median']:.1f} img/s",
              flush=True)
    env = describe_environment(0, argv if argv is not None else sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transfer_speed.json").write_text(json.dumps({"environment": env,
                                                              "results": rows}, indent=2))
    (args.out / "transfer_speed.md").write_text(markdown(rows, env))
    return rows


if __name__ == "__main__":
    main()
