"""`convolab explain train-numpy`: train the NumPy reference CNN on MNIST, with a progress
bar, and save its weights to an npz file.

    result = train_numpy_command(epochs=2, out="runs/numpy.npz")
    net, meta = load_weights("runs/numpy.npz")     # the trained NumPy network again
"""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import atomic
from ..errors import ConvolabError
from . import numpy_ref

#: The recipe that reaches >= 98% MNIST test accuracy (see docs/numpy-reference.md).
DEFAULT_EPOCHS = 2
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 1e-3
DEFAULT_OPTIMIZER = "adam"
OPTIMIZERS = ("adam", "sgd")
SGD_MOMENTUM = 0.9  # as convolab's Keras `sgd`
MODEL = "seed-cnn"
DATASET = "mnist"
META_KEY = "meta.json"


def make_optimizer(name: str, lr: float):
    """Adam (Keras defaults) or SGD with momentum 0.9, at learning rate `lr`."""
    if name == "adam":
        return numpy_ref.Adam(lr)
    if name == "sgd":
        return numpy_ref.SGD(lr, momentum=SGD_MOMENTUM)
    raise ConvolabError(f"--optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")


def default_out() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"numpy-{MODEL}-{DATASET}-{stamp}.npz"


def _check_args(epochs: int, batch_size: int, lr: float, train_samples: int | None,
                out: Path) -> None:
    if epochs < 1:
        raise ConvolabError(f"--epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise ConvolabError(f"--batch-size must be at least 1, got {batch_size}")
    if not lr > 0:
        raise ConvolabError(f"--lr must be a positive number, got {lr}")
    if train_samples is not None and train_samples < 10:
        raise ConvolabError(f"--train-samples must be at least 10 (one per class), "
                            f"got {train_samples}")
    if out.suffix != ".npz":
        raise ConvolabError(f"--out {out} must end in .npz (the weights are saved as NumPy "
                            f"arrays)")
    if out.is_dir():
        raise ConvolabError(f"--out {out} is a folder; give a file name ending in .npz")


def save_weights(path: str | Path, net: numpy_ref.Sequential, meta: dict) -> None:
    """Write `layer/key` arrays and a JSON `meta.json` entry to `path` atomically."""
    arrays = {name: layer.params[key] for name, layer, key in net.parameters()}
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_weights(path: str | Path) -> tuple[numpy_ref.Sequential, dict]:
    """(network, meta) from an npz written by `save_weights`."""
    path = Path(path)
    try:
        with np.load(path) as data:
            meta = json.loads(str(data[META_KEY]))
            net = numpy_ref.from_spec(meta["spec"], tuple(meta["input_shape"]),
                                      meta["num_classes"], origin=str(path))
            numpy_ref.set_weights(net, [data[name] for name, _, _ in net.parameters()])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ConvolabError(f"{path} is not a weights file of `convolab explain train-numpy` "
                            f"({exc}); train one with that command")
    return net, meta


def _progress_bar(console, quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                    MofNCompleteColumn(), TextColumn("batches  loss {task.fields[loss]:.4f}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                    disable=quiet)


def train_numpy_command(*, epochs: int = DEFAULT_EPOCHS, batch_size: int = DEFAULT_BATCH_SIZE,
                        lr: float = DEFAULT_LR, optimizer: str = DEFAULT_OPTIMIZER,
                        train_samples: int | None = None, seed: int = 0,
                        out: str | Path | None = None, quiet: bool = False,
                        console=None) -> dict:
    """Train seed-cnn in NumPy on MNIST (all 60,000 training images unless
    `train_samples`), score the 10,000 test images, save the weights; print as it goes.

    Returns {"history", "test_accuracy", "test_loss", "seconds", "out"}.
    """
    from rich.console import Console

    from ..data import load_dataset

    out = Path(out) if out else default_out()
    _check_args(epochs, batch_size, lr, train_samples, out)
    opt = make_optimizer(optimizer, lr)
    console = console or Console()
    ds = load_dataset(DATASET, validation_split=0.0, train_samples=train_samples, seed=seed)
    spec = numpy_ref.load_preset(MODEL)
    net = numpy_ref.from_spec(spec, ds.input_shape, ds.num_classes, seed=seed,
                              origin=f"model preset {MODEL!r}")
    console.print(f"NumPy {MODEL}: {net.count_params():,} parameters, "
                  f"{len(ds.y_train):,} training images, {optimizer} lr {lr:g}, "
                  f"batch {batch_size}, {epochs} epoch(s)")

    with _progress_bar(console, quiet) as bar:
        tasks: dict[int, int] = {}
        running = {"sum": 0.0}

        def progress(epoch: int, batch: int, batches: int, loss: float) -> None:
            if epoch not in tasks:
                tasks[epoch] = bar.add_task("", total=batches, epoch=f"{epoch}/{epochs}",
                                            loss=loss)
                running["sum"] = 0.0
            running["sum"] += loss
            bar.update(tasks[epoch], completed=batch, loss=running["sum"] / batch)

        history = numpy_ref.train_numpy(net, ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                                        epochs=epochs, batch_size=batch_size, optimizer=opt,
                                        seed=seed, progress=progress)
    for i in range(epochs):
        console.print(f"epoch {i + 1}/{epochs}: loss {history['loss'][i]:.4f}  accuracy "
                      f"{history['accuracy'][i]:.4f}  test loss {history['test_loss'][i]:.4f}  "
                      f"test accuracy {history['test_accuracy'][i]:.4f}  "
                      f"{history['seconds'][i]:.1f} s")
    seconds = float(sum(history["seconds"]))
    result = {"history": history, "test_accuracy": history["test_accuracy"][-1],
              "test_loss": history["test_loss"][-1], "seconds": seconds, "out": str(out)}
    meta = {"model": MODEL, "spec": spec, "dataset": DATASET,
            "input_shape": list(ds.input_shape), "num_classes": ds.num_classes,
            "class_names": ds.class_names, "train_images": len(ds.y_train),
            "recipe": {"epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "optimizer": optimizer, "seed": seed}, **result}
    save_weights(out, net, meta)
    console.print(f"test accuracy {result['test_accuracy']:.4f}  test loss "
                  f"{result['test_loss']:.4f}  train time {seconds:.1f} s "
                  f"({seconds / epochs:.1f} s/epoch)")
    console.print(f"weights: {out}")
    return result
