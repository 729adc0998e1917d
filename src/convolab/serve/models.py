"""The runs a server holds: each loaded once, predicting through ONNX when it can.

A run whose `export/model.onnx` exists predicts through onnxruntime (thread-safe, no
lock); any other through its Keras model's compiled predict function, one call at a
time. The Keras model also gives the feature maps and kernels the page shows.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

from ..errors import ConvolabError

#: What a model name may hold (it comes from the run folder's name, never from a client).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def model_names(run_dirs: list[Path]) -> list[str]:
    """A URL-safe, unique name for each run folder (its own name, made unique)."""
    names: list[str] = []
    for path in run_dirs:
        base = _UNSAFE.sub("-", path.resolve().name).strip("-.") or "model"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


class ServedModel:
    """One run, ready to predict.

    Args:
        run_dir: a finished run directory.
        name: the name clients use (see `model_names`).
        use_onnx: predict through `export/model.onnx` when the run has one. Defaults to True.
    """

    def __init__(self, run_dir: Path, name: str, use_onnx: bool = True):
        from ..export import default_path, load_exported
        from ..run import Run

        self.name = name
        self.run = Run.load(run_dir)
        self.class_names = list(self.run.class_names)
        self.input_shape = tuple(int(d) for d in self.run.input_shape)
        self.style = self.run.preprocessing_style()
        onnx_path = default_path(self.run.path, "onnx")
        self.lock = threading.Lock()  # one Keras call at a time
        self.engine = "keras"
        self.load_note: str | None = None
        self._onnx = None
        if use_onnx and onnx_path.is_file():
            try:
                self._onnx = load_exported(onnx_path, "onnx")
                self.engine = "onnx"
            except Exception as exc:  # a broken export: say so, serve through Keras
                reason = " ".join(str(exc).split())[:120]
                self.load_note = f"{onnx_path} could not be loaded ({reason}); using Keras"
        self.model = self.run.model  # loaded now, not on the first request
        self.predict(np.zeros((1, *self.input_shape), dtype=np.float32))  # warm up

    def describe(self) -> dict:
        """What GET /v1/models says about this model."""
        metrics = self.run.metrics
        return {"name": self.name, "classes": self.class_names,
                "input_shape": list(self.input_shape),
                "test_accuracy": metrics.get("test_accuracy"),
                "dataset": metrics.get("dataset") or self.run.config.data.name,
                "model": metrics.get("model"), "engine": self.engine,
                "preparation": self.style, "canvas": self.style == "mnist"}

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for raw 0-255 input (N, H, W, C) float32."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._onnx is not None:
            return np.asarray(self._onnx(batch)[0])
        with self.lock:
            outputs = self.model.predict_on_batch(batch)
        outputs = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        return np.asarray(outputs)

    def prepare(self, image) -> np.ndarray:
        """A PIL image as model input (H, W, C), prepared as `convolab predict` does."""
        from ..preprocess import prepare_image

        return prepare_image(image, self.input_shape, self.style)

    def check_pixels(self, value, where: str) -> np.ndarray:
        """A client's pixel array as model input (H, W, C), or a ConvolabError naming it."""
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ConvolabError(f"{where}: expected a {self._shape_text()} array of numbers "
                                f"0-255 (or {{\"b64\": IMAGE}})")
        given = list(array.shape) if array.ndim else "a single number"
        if array.ndim == 2 and self.input_shape[2] == 1:
            array = array[..., None]
        if array.shape != self.input_shape:
            raise ConvolabError(f"{where}: expected shape {self._shape_text()}, got {given}")
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
            raise ConvolabError(f"{where}: pixel values must be numbers from 0 to 255")
        return array

    def _shape_text(self) -> str:
        h, w, c = self.input_shape
        return f"[{h}, {w}]" if c == 1 else f"[{h}, {w}, {c}]"


def load_models(run_dirs: list[str | Path], use_onnx: bool = True) -> dict[str, ServedModel]:
    """{name: ServedModel} for the run folders, checked before any is loaded."""
    from ..run import METRICS_FILE, MODEL_FILE

    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise ConvolabError("give at least one run directory to serve, e.g. "
                            "`convolab serve runs/default`")
    for path in paths:
        if not path.is_dir():
            raise ConvolabError(f"run directory {path} does not exist; pass a folder that "
                                f"`convolab train` wrote")
        if not (path / MODEL_FILE).is_file() or not (path / METRICS_FILE).is_file():
            raise ConvolabError(f"{path} is not a finished run directory (no {MODEL_FILE} or "
                                f"{METRICS_FILE}); train it to the end, or resume it first")
    names = model_names(paths)
    return {name: ServedModel(path, name, use_onnx) for name, path in zip(names, paths)}
