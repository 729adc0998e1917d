"""Export a run's model to ONNX or a TensorFlow SavedModel, checked against Keras.

    >>> from convolab.export import export_run
    >>> result = export_run("runs/fast", "onnx")       # doctest: +SKIP
    >>> result.path, result.max_abs_diff                # doctest: +SKIP
    (PosixPath('runs/fast/export/model.onnx'), 1.2e-07)

The model is written next to its final place, loaded back (ONNX Runtime or
`tf.saved_model.load`) and run on the run's test images; only when its outputs match Keras
(max abs difference <= `TOLERANCE`) is it moved into place. A failed export leaves nothing.

Export runs on the TensorFlow backend (the default). ONNX also needs tf2onnx, onnx and
onnxruntime: `pip install 'convolab[export]'`.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_dir, atomic_path
from .errors import ConvolabError, did_you_mean
from .native_logs import chatter_kept_off_stderr
from .run import Run

#: format name -> default output name inside RUN_DIR/export/
FORMATS = {"onnx": "model.onnx", "tf_saved_model": "saved_model"}
EXPORT_DIR = "export"
TOLERANCE = 1e-5
#: packages each format needs beyond the core install
PACKAGES = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "tf_saved_model": ()}
INSTALL_HINT = "pip install 'convolab[export]'"
BATCH = 500  # images per call when comparing outputs


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_run` wrote and how closely it matches Keras."""

    path: Path
    format: str
    samples: int  # test images compared (0: not checked)
    max_abs_diff: float | None  # over every output; None when not checked
    seconds: float  # export and check together


def default_path(run_dir: str | Path, fmt: str) -> Path:
    """Where `fmt` goes by default: RUN_DIR/export/model.onnx or RUN_DIR/export/saved_model."""
    return Path(run_dir) / EXPORT_DIR / FORMATS[check_format(fmt)]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConvolabError(f"unknown export format {fmt!r}{did_you_mean(fmt, FORMATS)}; "
                            f"choose one of {', '.join(FORMATS)}")
    return fmt


def check_backend() -> None:
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ConvolabError(f"export supports only the TensorFlow backend (onnx and "
                            f"tf_saved_model), but KERAS_BACKEND is {backend!r}; run it again "
                            f"with KERAS_BACKEND=tensorflow (the default)")


def check_packages(fmt: str) -> None:
    missing = []
    for name in PACKAGES[fmt]:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConvolabError(f"{fmt} export needs {', '.join(missing)}, which is not installed; "
                            f"run `{INSTALL_HINT}`")


def _check_target(target: Path, fmt: str, force: bool) -> None:
    want_dir = fmt == "tf_saved_model"
    if target.exists() and target.is_dir() != want_dir:
        kind = "a folder" if target.is_dir() else "a file"
        raise ConvolabError(f"export path {target} is {kind}; {fmt} needs "
                            f"{'a folder' if want_dir else 'a file'} path: pass another --out")
    if target.exists() and not force:
        raise ConvolabError(f"export path {target} already exists; pass --force to overwrite "
                            f"it or --out for another path")


def _as_list(outputs) -> list[np.ndarray]:
    """A model's outputs as a list of arrays, in the model's output order."""
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    elif not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.asarray(o) for o in outputs]


def _write_onnx(model, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's numpy 2 shim
        model.export(str(path), format="onnx", verbose=False)


def _write_saved_model(model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)


def load_exported(path: str | Path, fmt: str):
    """A function images (N, H, W, C) float32 -> list of output arrays, for an exported model."""
    if check_format(fmt) == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images})
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held by the closure: it owns the variables
    return lambda images: _as_list(loaded.serve(tf.constant(images)))


def _exported_outputs(path: Path, fmt: str, images: np.ndarray) -> list[np.ndarray]:
    predict = load_exported(path, fmt)
    batches = [predict(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]
    return [np.concatenate(parts) for parts in zip(*batches)]


def max_abs_diff(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """Largest absolute difference over every output; outputs must match in number and shape."""
    if len(expected) != len(actual):
        raise ConvolabError(f"the exported model has {len(actual)} outputs, the Keras model "
                            f"{len(expected)}; the export is wrong: report it as a bug")
    for e, a in zip(expected, actual):
        if e.shape != a.shape:
            raise ConvolabError(f"the exported model gives outputs of shape {a.shape}, Keras "
                                f"{e.shape}; the export is wrong: report it as a bug")
    return max(float(np.max(np.abs(e.astype("float64") - a))) for e, a in zip(expected, actual))


def export_run(run_dir: str | Path, format: str, out: str | Path | None = None, *,
               check_samples: int | None = None, force: bool = False,
               tolerance: float = TOLERANCE) -> ExportResult:
    """Export the model of `run_dir` as `format` ("onnx" or "tf_saved_model").

    Args:
        out: output path. Defaults to RUN_DIR/export/model.onnx or RUN_DIR/export/saved_model.
        check_samples: compare on the first N test images of the run's dataset; 0 skips the
            check. Defaults to `None`, the whole test set.
        force: replace an existing output.
        tolerance: largest max abs difference from Keras accepted.
    """
    fmt = check_format(format)
    if check_samples is not None and check_samples < 0:
        raise ConvolabError(f"--check-samples must be 0 (no check) or a positive number of "
                            f"test images, got {check_samples}")
    run = Run.load(run_dir)
    target = Path(out) if out is not None else default_path(run.path, fmt)
    _check_target(target, fmt, force)
    check_backend()
    check_packages(fmt)
    started = time.perf_counter()
    images = np.zeros((0, *run.input_shape), "float32")
    if check_samples != 0:
        images = run.test_set().x_test[:check_samples].astype("float32")  # raw 0-255, as predict
    model = run.model
    model(np.zeros((1, *run.input_shape), "float32"), training=False)  # export needs a called model
    expected = _as_list(model.predict(images, batch_size=BATCH, verbose=0)) if len(images) else []
    diff = None
    with (atomic_path(target) if fmt == "onnx" else atomic_dir(target)) as tmp:
        if fmt == "onnx":
            with chatter_kept_off_stderr():  # the converters log through TensorFlow's C++
                _write_onnx(model, tmp)
        else:
            with chatter_kept_off_stderr():
                _write_saved_model(model, tmp)
        if len(images):
            diff = max_abs_diff(expected, _exported_outputs(tmp, fmt, images))
            if not diff <= tolerance:
                raise ConvolabError(f"the {fmt} export of {run.path} differs from Keras by up "
                                    f"to {diff:.3g} on {len(images)} test images (tolerance "
                                    f"{tolerance:g}); nothing was written: report it as a bug")
    return ExportResult(path=target, format=fmt, samples=len(images), max_abs_diff=diff,
                        seconds=time.perf_counter() - started)
