"""The run directory: the one artefact every command after training reads.

Fixed file names (documented in docs/run-directory.md):

    config.yaml       the resolved config the run used
    model.yaml        the model spec it trained (a copy of the preset or of your YAML file)
    model.keras       the best model (lowest val_loss by default); raw 0-255 pixels in
    history.csv       one row per epoch: epoch (0-based), loss, accuracy, val_*, learning_rate
    metrics.json      test metrics, per-class report, confusion matrix, timings
    environment.json  versions, backend, hardware, seed, command line
    plots/            learning_curves.png, confusion_matrix.png, misclassified.png
                      (+ filters.png, feature_maps-*.png, saliency-*.png, top_losses.png
                      after `convolab show`)
    explain/          one page per image after `convolab explain RUN_DIR IMAGE`
    report.html       a page showing all of the above
    best_model.h5     only with --save-h5 (the unit's legacy format)

A run being trained lives in `<RUN_DIR>.partial/` and is renamed to `<RUN_DIR>` only when
complete, so a killed run never looks finished.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import yaml

from .config import Config, config_from_dict
from .errors import ConvolabError

CONFIG_FILE = "config.yaml"
SPEC_FILE = "model.yaml"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
ENVIRONMENT_FILE = "environment.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
EXPLAIN_DIR = "explain"
H5_FILE = "best_model.h5"
BACKUP_DIR = "backup"
PARTIAL_SUFFIX = ".partial"

#: Files a complete run directory must hold.
REQUIRED_FILES = (CONFIG_FILE, MODEL_FILE, METRICS_FILE)


def check_keras_file(path: str | Path, deep: bool = False) -> None:
    """A ConvolabError naming `path` when it is not a complete `.keras` archive.

    A `.keras` file is a zip archive holding config.json and the weights. The quick check
    reads only the archive's directory (at its end, so a truncated file fails it); `deep`
    also checks every member's CRC.
    """
    path = Path(path)
    fix = "train the run again or copy the file again"
    if path.stat().st_size == 0:
        raise ConvolabError(f"{path} is empty (0 bytes); {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip() if deep else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ConvolabError(f"{path} is damaged: not a complete .keras archive (truncated or "
                            f"overwritten: {exc}); {fix}")
    if "config.json" not in names:
        raise ConvolabError(f"{path} is not a Keras model file (no config.json inside); {fix}")
    if bad is not None:
        raise ConvolabError(f"{path} is damaged: its member {bad} fails its checksum; {fix}")


def partial_dir(run_dir: str | Path) -> Path:
    """Where the run `run_dir` lives while it trains."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + PARTIAL_SUFFIX)


class Run:
    """A finished training run, read from its directory.

    Example:
        >>> run = Run.load("runs/default")          # doctest: +SKIP
        >>> run.metrics["test_accuracy"]            # doctest: +SKIP
        0.991
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._model = None

    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Open a complete run directory, or raise a ConvolabError saying what is wrong."""
        path = Path(path)
        if not path.exists():
            hint = ""
            if partial_dir(path).exists():
                hint = (f" (an interrupted run is at {partial_dir(path)}; "
                        f"continue it with `convolab train --resume {path}`)")
            raise ConvolabError(f"run directory {path} does not exist{hint}; pass the folder "
                                f"that `convolab train` printed")
        if not path.is_dir():
            raise ConvolabError(f"run directory {path} is a file, not a folder; pass the "
                                f"folder that `convolab train` printed")
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise ConvolabError(f"run directory {path} is incomplete (missing "
                                f"{', '.join(missing)}); train it again or pick another run")
        check_keras_file(path / MODEL_FILE)
        return cls(path)

    @property
    def config(self) -> Config:
        data = yaml.safe_load((self.path / CONFIG_FILE).read_text()) or {}
        return config_from_dict(data)

    @property
    def metrics(self) -> dict:
        return json.loads((self.path / METRICS_FILE).read_text())

    @property
    def class_names(self) -> list[str]:
        return list(self.metrics["class_names"])

    @property
    def model(self):
        """The best model, loaded on first use."""
        if self._model is None:
            import keras

            from . import elastic, schedules  # noqa: F401  (register custom objects for loading)
            from .transfer import adapt  # noqa: F401  (the input adaptation of transfer models)

            path = self.path / MODEL_FILE
            try:
                self._model = keras.saving.load_model(path, compile=False)
            except Exception as exc:
                check_keras_file(path, deep=True)  # a damaged member is named as such
                message = " ".join(str(exc).split())[:200]
                raise ConvolabError(f"{path} holds a model Keras cannot rebuild ({message}); "
                                    f"train the run again with this version of convolab")
        return self._model

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.model.inputs[0].shape[1:])

    def history(self) -> list[dict]:
        """One dict per epoch from history.csv."""
        from .callbacks import read_history

        return read_history(self.path / HISTORY_FILE)

    def predict(self, images: np.ndarray, batch_size: int = 512,
                tta: str | None = None) -> np.ndarray:
        """Class probabilities (N, classes) for raw 0-255 images (N, H, W) or (N, H, W, C).

        `tta`: None, or a test-time augmentation of `convolab.tta` ("shifts", "shifts-flip")
        whose views' probabilities are averaged.
        """
        from .tta import check_tta, predict_tta

        check_tta(tta, self.config.data.name)
        images = np.asarray(images, dtype="float32")
        if images.ndim == len(self.input_shape):  # (N, H, W) for one-channel models
            images = images[..., None]
        if images.shape[1:] != self.input_shape:
            raise ConvolabError(f"images have shape {images.shape[1:]}, the model of "
                                f"{self.path} expects {self.input_shape}")

        def plain(x: np.ndarray) -> np.ndarray:
            outputs = self.model.predict(x, batch_size=batch_size, verbose=0)
            return outputs[0] if isinstance(outputs, list) else outputs

        return plain(images) if tta is None else predict_tta(plain, images, tta)

    def preprocessing_style(self) -> str:
        """How photos are prepared for this model (see `preprocess.py`)."""
        return {"mnist": "mnist", "digits": "mnist",
                "fashion_mnist": "fashion"}.get(self.config.data.name, "resize")

    def predict_files(self, paths: list[str], top_k: int = 3,
                      tta: str | None = None) -> tuple[list[dict], list]:
        """Predict image files; returns (results, errors) where a bad file is an error entry.

        Each result: {"path", "label", "probability", "top": [(label, p), ...]}.
        """
        from .preprocess import image_files_or_error, prepare_files
        from .tta import check_tta

        check_tta(tta, self.config.data.name)
        if top_k <= 0:
            raise ConvolabError(f"--top-k must be a positive integer, got {top_k}")
        files, errors = image_files_or_error(paths)  # before the model is loaded
        batch, ok_paths, more_errors = prepare_files(files, self.input_shape,
                                                     self.preprocessing_style())
        errors += more_errors
        results = []
        if len(ok_paths):
            probs = self.predict(batch, tta=tta)
            names = self.class_names
            for path, p in zip(ok_paths, probs):
                order = np.argsort(-p)[: min(top_k, len(names))]
                results.append({"path": str(path), "label": names[order[0]],
                                "probability": float(p[order[0]]),
                                "top": [(names[i], float(p[i])) for i in order]})
        return results, errors

    def evaluate(self, dataset: str | None = None, tta: str | None = None) -> dict:
        """Recompute the test metrics (on the run's dataset or another with the same shape),
        with test-time augmentation `tta` (see `predict`) when given."""
        from .evaluate import compute_metrics
        from .tta import check_tta

        check_tta(tta, dataset or self.config.data.name)
        ds = self.test_set(dataset)
        probs = self.predict(ds.x_test, tta=tta)
        metrics = compute_metrics(ds.y_test, probs, self.class_names)
        metrics["dataset"] = dataset or self.config.data.name
        if tta is not None:
            metrics["tta"] = tta
        return metrics

    def test_set(self, dataset: str | None = None):
        """The run's dataset (or another with the same image shape and classes), unsplit."""
        from .data import load_dataset

        config = self.config
        name = dataset or config.data.name
        same = name == config.data.name
        ds = load_dataset(name, validation_split=0.0, seed=config.seed,
                          source_dir=config.data.source_dir if same else None,
                          image_size=config.data.image_size if same else None)
        if ds.input_shape != self.input_shape:
            raise ConvolabError(f"dataset {name} has images of shape {ds.input_shape}, the "
                                f"model of {self.path} expects {self.input_shape}")
        if ds.num_classes != len(self.class_names):
            raise ConvolabError(f"dataset {name} has {ds.num_classes} classes, the model of "
                                f"{self.path} has {len(self.class_names)}")
        return ds
