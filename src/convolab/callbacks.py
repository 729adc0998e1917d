"""convolab's own Keras callbacks: atomic checkpoints, history and resumable state.

Keras's ModelCheckpoint, CSVLogger and BackupAndRestore write files in place and commit
them one by one, so a kill in the middle can leave a corrupt file or files that disagree.
These write to a temporary file, rename it, and commit a run's progress in one step.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

import keras

from . import atomic

BACKUP_STATE = "state.json"


def _is_better(mode: str, value: float, best: float) -> bool:
    return value < best if mode == "min" else value > best


def monitor_mode(monitor: str) -> str:
    """'max' for accuracy-like metrics, 'min' for losses."""
    return "max" if "acc" in monitor else "min"


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch, save the run's progress with one atomic commit.

    Files in `backup_dir`: `best-E.keras` (the best model so far, written when `monitor`
    improves; the first epoch always counts), `weights-E.weights.h5` (weights and optimizer
    state after E epochs) and `state.json`, which names the current two files. `state.json`
    is replaced atomically last, so a kill at any moment leaves the previous complete state;
    files it does not name are left-overs and are deleted.

    Args:
        backup_dir: the folder for the files above.
        monitor: the metric that picks the best model. Defaults to `"val_loss"`.
        initial_state: the state of a resumed run. Defaults to None (a new run).
        extra_state: a callable returning more JSON-able state to commit. Defaults to None.
        ema_swap: a `keras.callbacks.SwapEMAWeights` of the same fit, when the optimizer
            averages the weights: the best model is then saved with the averaged weights.
            Defaults to None.
        saved_model: the model to save when `fit` trains another that shares its layers
            (the head on cached features, `transfer.features`). Defaults to None, the
            model being fitted.

    Example:
        >>> cb = RunCheckpoint("run.partial/backup", monitor="val_accuracy")
    """

    def __init__(self, backup_dir, monitor: str = "val_loss", initial_state: dict | None = None,
                 extra_state=None, ema_swap=None, saved_model=None):
        super().__init__()
        self.ema_swap = ema_swap
        self.saved_model = saved_model
        self.backup_dir = Path(backup_dir)
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.initial_state = dict(initial_state or {})
        self.extra_state = extra_state
        self.state: dict = {}

    def on_train_begin(self, logs=None):
        self.state = dict(self.initial_state)
        self.backup_dir.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"RunCheckpoint monitors {self.monitor!r}, which is not in the "
                             f"logs; available: {sorted(logs or {})}")
        value = float(value)
        best = self.state.get("best")
        if "best_file" not in self.state or (
                best is not None and not math.isnan(value)
                and (math.isnan(best) or _is_better(self.mode, value, best))):
            name = f"best-{epoch}.keras"
            with atomic.atomic_path(self.backup_dir / name) as tmp:
                self._save_best(tmp)
            self.state.update(best_file=name, best=value, best_epoch=epoch)
        name = f"weights-{epoch + 1}.weights.h5"
        with atomic.atomic_path(self.backup_dir / name) as tmp:
            self._target().save_weights(tmp)
        self.state.update(epochs_done=epoch + 1, weights=name,
                          stopped=bool(getattr(self.model, "stop_training", False)))
        if self.extra_state is not None:
            self.state.update(self.extra_state())
        atomic.write_json(self.backup_dir / BACKUP_STATE, self.state)
        keep = {BACKUP_STATE, self.state["weights"], self.state["best_file"]}
        for path in self.backup_dir.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    def _target(self):
        return self.model if self.saved_model is None else self.saved_model

    def _save_best(self, path) -> None:
        model = self._target()
        if self.ema_swap is None:
            model.save(path)
            return
        self.ema_swap.on_test_begin()  # averaged weights in
        try:
            model.save(path)
        finally:
            self.ema_swap.on_test_end()  # raw weights back for training


def read_backup_state(backup_dir) -> dict | None:
    """The last committed RunCheckpoint state, or None if there is none."""
    backup_dir = Path(backup_dir)
    path = backup_dir / BACKUP_STATE
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    for key in ("weights", "best_file"):
        if not (backup_dir / state[key]).is_file():
            raise FileNotFoundError(f"{backup_dir / state[key]} named by {path} is missing")
    return state


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
        self.columns: dict = {}  # constant columns for the rows to come, e.g. {"phase": 2}

    def on_train_begin(self, logs=None):
        self.rows = list(self.previous_rows)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **self.columns}
        for key, value in (logs or {}).items():
            row[key] = float(value)
        row.setdefault("learning_rate", current_lr(self.model))
        self.rows.append(row)
        atomic.write_text(self.filepath, rows_to_csv(self.rows))


class PhaseClock(keras.callbacks.Callback):
    """Split the seconds of `fit` into its phases, summed over every `fit` it sees.

    `phases()` gives `first_call` (from the start of a fit to the end of its first compiled
    training call: tracing, graph optimisation and its steps), `validation` (every
    validation pass, the first one's tracing included), `epoch_end` (the callbacks after
    this one at each epoch's end: put it just before the checkpoint), `steps` (the rest:
    the training steps) and `total`. Times are wall-clock seconds. A transfer run's two
    phases are two fits; their seconds add up.

    Example:
        >>> clock = PhaseClock()
        >>> clock.phases()["total"]
        0.0
    """

    # Not `async_safe`: a callback with its own batch hook makes Keras call the hooks in
    # the training thread. With Keras's asynchronous dispatch (its default when no callback
    # has a batch hook) `fit` of the `fast` preset spent 4.2 s more after its last epoch
    # (one run each way, TensorFlow 2.21 CPU, steps_per_execution 8); in it, 0.0 s.

    def __init__(self):
        super().__init__()
        self.first_call = self.validation = self.epoch_end = self.total = 0.0
        self._begin = self._first = self._test_start = self._epoch_end_start = None

    def on_train_begin(self, logs=None):
        self._begin, self._first = time.perf_counter(), None

    def on_train_batch_end(self, batch, logs=None):
        if self._first is None:
            self._first = time.perf_counter()
            self.first_call += self._first - self._begin

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._test_start is not None:
            self.validation += time.perf_counter() - self._test_start
            self._test_start = None

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_end_start = time.perf_counter()

    def _close_epoch_end(self):
        if self._epoch_end_start is not None:
            self.epoch_end += time.perf_counter() - self._epoch_end_start
            self._epoch_end_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._close_epoch_end()

    def on_train_end(self, logs=None):
        self._close_epoch_end()
        if self._begin is not None:
            self.total += time.perf_counter() - self._begin
            self._begin = None

    def phases(self) -> dict[str, float]:
        """{first_call, steps, validation, epoch_end, total} in seconds, rounded to 0.01."""
        total = self.total + (time.perf_counter() - self._begin if self._begin else 0.0)
        steps = max(0.0, total - self.first_call - self.validation - self.epoch_end)
        return {k: round(v, 2) for k, v in (("first_call", self.first_call), ("steps", steps),
                                            ("validation", self.validation),
                                            ("epoch_end", self.epoch_end), ("total", total))}


class EpochLog(keras.callbacks.Callback):
    """One line per epoch: its metrics, learning rate and seconds (for logs and pipes).

    Args:
        epochs: the number of epochs fit runs to, for "epoch 3/6".
        write: where each line goes. Defaults to `print` (flushed).

    Example:
        >>> EpochLog(6).format_line(0, {"loss": 0.5, "accuracy": 0.9}, 3.2)
        'epoch 1/6  loss 0.5000  accuracy 0.9000  3.2 s'
    """

    def __init__(self, epochs: int, write=None):
        super().__init__()
        self.epochs = epochs
        self.write = write or (lambda line: print(line, flush=True))
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def format_line(self, epoch: int, logs: dict, seconds: float) -> str:
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        for key, value in logs.items():
            if key == "learning_rate":
                parts.append(f"lr {float(value):.3g}")
            else:
                parts.append(f"{key} {float(value):.4f}")
        parts.append(f"{seconds:.1f} s")
        return "  ".join(parts)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - (self._start or time.perf_counter())
        logs = dict(logs or {})
        if "learning_rate" not in logs and getattr(self, "model", None) is not None:
            logs["learning_rate"] = current_lr(self.model)
        self.write(self.format_line(epoch, logs, seconds))


class _Resumable:
    """Mixin for a Keras callback whose counters must survive `--resume`.

    `resume_state` (attribute -> value) is applied after the parent's `on_train_begin`
    reset; `saved_state()` gives the same attributes for the next commit.
    """

    resumed_attributes: tuple[str, ...] = ("wait", "best")

    def __init__(self, *args, resume_state: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.resume_state = dict(resume_state or {})

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for name, value in self.resume_state.items():
            setattr(self, name, value)

    def saved_state(self) -> dict:
        values = {name: getattr(self, name) for name in self.resumed_attributes}
        return {name: None if v is None else float(v) for name, v in values.items()}


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """EarlyStopping whose best value and wait count carry over a resume."""


class ResumableReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose best value, wait and cooldown carry over a resume."""

    resumed_attributes = ("wait", "best", "cooldown_counter")


def current_lr(model) -> float:
    """The optimizer's learning rate at its current step, as a float."""
    # Keras 3 evaluates a LearningRateSchedule at the current step here.
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


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
