"""convolab's own Keras callbacks: atomic checkpoints, history and resumable state.

Keras's ModelCheckpoint, CSVLogger and BackupAndRestore write files in place, so a kill in
the middle leaves a corrupt file. These write to a temporary file and rename it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import keras

from . import atomic

BACKUP_WEIGHTS = "state.weights.h5"
BACKUP_STATE = "state.json"


def _is_better(mode: str, value: float, best: float) -> bool:
    return value < best if mode == "min" else value > best


def monitor_mode(monitor: str) -> str:
    """'max' for accuracy-like metrics, 'min' for losses."""
    return "max" if "acc" in monitor else "min"


class BestModelCheckpoint(keras.callbacks.Callback):
    """Save the model whenever `monitor` improves, atomically.

    Args:
        filepath: where the `.keras` file goes.
        monitor: the metric to watch. Defaults to `"val_loss"`.
        h5_path: also save the legacy `.h5` file here. Defaults to None.
        initial_best: best value seen before a resume. Defaults to None.

    Example:
        >>> cb = BestModelCheckpoint("run/model.keras", monitor="val_accuracy")
    """

    def __init__(self, filepath, monitor: str = "val_loss", h5_path=None,
                 initial_best: float | None = None):
        super().__init__()
        if not str(filepath).endswith(".keras"):
            raise ValueError(f"filepath must end with .keras, received {filepath}")
        self.filepath = Path(filepath)
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.h5_path = Path(h5_path) if h5_path else None
        self.initial_best = initial_best
        self.best = None
        self.best_epoch = None

    def on_train_begin(self, logs=None):
        worst = math.inf if self.mode == "min" else -math.inf
        self.best = worst if self.initial_best is None else self.initial_best
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"BestModelCheckpoint monitors {self.monitor!r}, which is not in "
                             f"the logs; available: {sorted(logs or {})}")
        # The first epoch is always saved, so a run whose metric never improves (or is NaN)
        # still leaves a model to inspect.
        first = self.best_epoch is None and self.initial_best is None
        if first or _is_better(self.mode, float(value), self.best):
            if _is_better(self.mode, float(value), self.best):
                self.best = float(value)
            self.best_epoch = epoch
            with atomic.atomic_path(self.filepath) as tmp:
                self.model.save(tmp)
            if self.h5_path is not None:
                with atomic.atomic_path(self.h5_path) as tmp:
                    self.model.save(tmp)


class HistoryCSV(keras.callbacks.Callback):
    """Keep `history.csv` (one row per epoch) up to date, rewriting it atomically.

    Args:
        filepath: the CSV file.
        previous_rows: rows from before a resume, kept at the top. Defaults to None.
    """

    def __init__(self, filepath, previous_rows: list[dict] | None = None):
        super().__init__()
        self.filepath = Path(filepath)
        self.previous_rows = list(previous_rows or [])
        self.rows: list[dict] = []

    def on_train_begin(self, logs=None):
        self.rows = list(self.previous_rows)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        for key, value in (logs or {}).items():
            row[key] = float(value)
        row.setdefault("learning_rate", current_lr(self.model))
        self.rows.append(row)
        atomic.write_text(self.filepath, rows_to_csv(self.rows))


class TrainingBackup(keras.callbacks.Callback):
    """After each epoch, save weights + optimizer state and progress for `--resume`.

    Args:
        backup_dir: the folder for `state.weights.h5` and `state.json`.
        extra_state: a callable returning JSON-able state to store alongside.
    """

    def __init__(self, backup_dir, extra_state=None):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.extra_state = extra_state

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(self.backup_dir / BACKUP_WEIGHTS) as tmp:
            self.model.save_weights(tmp)
        state = {"epochs_done": epoch + 1}
        if self.extra_state is not None:
            state.update(self.extra_state())
        atomic.write_json(self.backup_dir / BACKUP_STATE, state)


def read_backup_state(backup_dir) -> dict | None:
    """The state saved by TrainingBackup, or None if there is no complete backup."""
    backup_dir = Path(backup_dir)
    if not (backup_dir / BACKUP_WEIGHTS).is_file() or not (backup_dir / BACKUP_STATE).is_file():
        return None
    return json.loads((backup_dir / BACKUP_STATE).read_text())


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that can start from the best value and wait count of a previous run."""

    def __init__(self, *args, initial_best: float | None = None, initial_wait: int = 0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_best = initial_best
        self.initial_wait = initial_wait

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.initial_best is not None:
            self.best = self.initial_best
            self.wait = self.initial_wait


def current_lr(model) -> float:
    """The optimizer's learning rate at its current step, as a float."""
    optimizer = model.optimizer
    lr = optimizer.learning_rate
    try:
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:  # a schedule object: evaluate it at the current step
        return float(keras.ops.convert_to_numpy(optimizer._learning_rate(optimizer.iterations)))


def rows_to_csv(rows: list[dict]) -> str:
    """Rows of epoch logs as CSV text, columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_history(path) -> list[dict]:
    """Rows of a history.csv as dicts of floats (epoch as int)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            parsed = {k: float(v) for k, v in row.items() if v not in ("", None)}
            parsed["epoch"] = int(parsed["epoch"])
            rows.append(parsed)
    return rows
