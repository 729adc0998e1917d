"""Project callbacks driven with fake logs, and the atomic writers beneath them."""

import keras
import numpy as np
import pytest

from convolab import atomic
from convolab.callbacks import (HistoryCSV, ResumableEarlyStopping, ResumableReduceLROnPlateau,
                                RunCheckpoint, read_backup_state, read_history, rows_to_csv)


def tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def drive(callback, model, logs_per_epoch, first_epoch=0):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch, start=first_epoch):
        callback.on_epoch_end(epoch, logs)


def test_checkpoint_commits_best_model_and_state(tmp_path):
    model = tiny_model()
    cb = RunCheckpoint(tmp_path, monitor="val_loss", extra_state=lambda: {"x": 1})
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": 0.5})
    model.layers[0].kernel.assign(np.ones((4, 3)))
    cb.on_epoch_end(1, {"val_loss": 0.4})
    model.layers[0].kernel.assign(np.full((4, 3), 2.0))
    cb.on_epoch_end(2, {"val_loss": 0.6})  # worse: the best model stays epoch 1's
    state = read_backup_state(tmp_path)
    assert state["best_epoch"] == 1 and state["best"] == 0.4 and state["epochs_done"] == 3
    assert state["x"] == 1 and state["stopped"] is False
    best = keras.saving.load_model(tmp_path / state["best_file"])
    assert np.allclose(best.layers[0].kernel.numpy(), 1.0)
    # Only the files the state names are kept; no temporary files are left.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["state.json", state["weights"], state["best_file"]])


def test_checkpoint_max_mode_and_resumed_best(tmp_path):
    first = RunCheckpoint(tmp_path, monitor="val_accuracy")
    drive(first, tiny_model(), [{"val_accuracy": 0.9}])
    resumed = RunCheckpoint(tmp_path, monitor="val_accuracy",
                            initial_state=read_backup_state(tmp_path))
    drive(resumed, tiny_model(), [{"val_accuracy": 0.8}], first_epoch=1)
    assert read_backup_state(tmp_path)["best_epoch"] == 0  # 0.8 does not beat 0.9
    drive(resumed, tiny_model(), [{"val_accuracy": 0.95}], first_epoch=2)
    assert read_backup_state(tmp_path)["best_epoch"] == 2


def test_checkpoint_keeps_a_first_model_even_if_nan(tmp_path):
    cb = RunCheckpoint(tmp_path, monitor="val_loss")
    drive(cb, tiny_model(), [{"val_loss": float("nan")}, {"val_loss": 0.3}])
    state = read_backup_state(tmp_path)
    assert state["best_epoch"] == 1  # a real value beats a NaN first epoch


def test_checkpoint_needs_its_metric(tmp_path):
    cb = RunCheckpoint(tmp_path, monitor="val_loss")
    with pytest.raises(ValueError, match="val_loss"):
        drive(cb, tiny_model(), [{"loss": 1.0}])


def test_backup_restores_optimizer_state(tmp_path):
    model = tiny_model()
    model.fit(np.zeros((4, 4)), np.zeros(4), verbose=0)  # builds optimizer state
    drive(RunCheckpoint(tmp_path, monitor="loss"), model, [{"loss": 1.0}, {"loss": 0.9}])
    state = read_backup_state(tmp_path)
    assert state["epochs_done"] == 2
    clone = tiny_model()
    clone.optimizer.build(clone.trainable_variables)
    clone.load_weights(tmp_path / state["weights"])
    assert int(clone.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    assert read_backup_state(tmp_path / "nothing") is None
    (tmp_path / state["weights"]).unlink()
    with pytest.raises(FileNotFoundError):
        read_backup_state(tmp_path)


def test_history_csv_rewrites_all_rows(tmp_path):
    path = tmp_path / "history.csv"
    cb = HistoryCSV(path, previous_rows=[{"epoch": 0, "loss": 2.0, "learning_rate": 0.1}])
    drive(cb, tiny_model(), [{"loss": 1.5}, {"loss": 1.0, "val_loss": 1.2}])
    rows = read_history(path)
    assert [r["epoch"] for r in rows] == [0, 0, 1]
    assert rows[-1]["val_loss"] == pytest.approx(1.2) and "val_loss" not in rows[1]
    assert all("learning_rate" in r for r in rows)


def test_resumable_early_stopping_counts_previous_wait():
    cb = ResumableEarlyStopping(monitor="val_loss", patience=3,
                                resume_state={"best": 0.1, "wait": 2})
    model = tiny_model()
    drive(cb, model, [{"val_loss": 0.5}], first_epoch=5)
    assert model.stop_training  # 2 earlier epochs + this one = patience
    assert cb.saved_state() == {"wait": 3.0, "best": 0.1}


def test_resumable_plateau_keeps_its_counters():
    cb = ResumableReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5,
                                    resume_state={"best": 0.1, "wait": 1})
    model = tiny_model()
    lr = float(model.optimizer.learning_rate.numpy())
    drive(cb, model, [{"val_loss": 0.5}], first_epoch=4)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(lr * 0.5)


def test_rows_to_csv_unions_columns():
    text = rows_to_csv([{"epoch": 0, "a": 1.0}, {"epoch": 1, "b": 2.0}])
    assert text.splitlines()[0] == "epoch,a,b"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    atomic.write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")


def test_phase_clock_splits_fit_into_its_parts(monkeypatch):
    from convolab import callbacks

    now = [100.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: now[0])

    def at(t):
        now[0] = 100.0 + t

    clock = callbacks.PhaseClock()
    clock.on_train_begin()
    clock.on_epoch_begin(0)
    at(2.0)
    clock.on_train_batch_end(0)    # first compiled call: 2 s
    at(3.0)
    clock.on_train_batch_end(1)
    at(5.0)
    clock.on_test_begin()
    at(5.5)
    clock.on_test_end()            # validation 0.5 s
    clock.on_epoch_end(0)
    at(5.7)
    clock.on_epoch_begin(1)        # checkpoint 0.2 s
    at(7.0)
    clock.on_test_begin()
    at(7.25)
    clock.on_test_end()
    clock.on_epoch_end(1)
    at(7.5)
    clock.on_train_end()
    assert clock.phases() == {"first_call": 2.0, "steps": 4.3, "validation": 0.75,
                              "epoch_end": 0.45, "total": 7.5}


def test_phase_clock_before_fit_is_all_zero():
    from convolab.callbacks import PhaseClock

    assert set(PhaseClock().phases().values()) == {0.0}


def test_epoch_log_writes_one_line_per_epoch():
    from convolab.callbacks import EpochLog

    lines = []
    cb = EpochLog(2, write=lines.append)
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {"loss": 0.25, "accuracy": 0.9, "val_loss": 0.2,
                                "val_accuracy": 0.95, "learning_rate": 0.003})
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2  loss 0.2500  accuracy 0.9000  val_loss 0.2000  "
                               "val_accuracy 0.9500  lr 0.003  ")
    assert lines[1].endswith(" s")
