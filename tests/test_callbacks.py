"""Project callbacks driven with fake logs, and the atomic writers beneath them."""

import keras
import numpy as np
import pytest

from convolab import atomic
from convolab.callbacks import (BestModelCheckpoint, HistoryCSV, ResumableEarlyStopping,
                                TrainingBackup, read_backup_state, read_history, rows_to_csv)


def tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def drive(callback, model, logs_per_epoch, first_epoch=0):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch, start=first_epoch):
        callback.on_epoch_end(epoch, logs)


def test_checkpoint_saves_only_improvements(tmp_path):
    model = tiny_model()
    cb = BestModelCheckpoint(tmp_path / "m.keras", monitor="val_loss", h5_path=tmp_path / "m.h5")
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": 0.5})
    first = (tmp_path / "m.keras").stat().st_mtime_ns
    model.layers[0].kernel.assign(np.ones((4, 3)))
    cb.on_epoch_end(1, {"val_loss": 0.4})
    cb.on_epoch_end(2, {"val_loss": 0.6})
    assert cb.best == 0.4 and cb.best_epoch == 1
    assert (tmp_path / "m.keras").stat().st_mtime_ns >= first
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert np.allclose(loaded.layers[0].kernel.numpy(), 1.0)  # epoch 1's weights
    assert keras.saving.load_model(tmp_path / "m.h5") is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_checkpoint_max_mode_and_initial_best(tmp_path):
    cb = BestModelCheckpoint(tmp_path / "m.keras", monitor="val_accuracy", initial_best=0.9)
    drive(cb, tiny_model(), [{"val_accuracy": 0.8}])
    assert not (tmp_path / "m.keras").exists()  # 0.8 does not beat the resumed best 0.9
    drive(cb, tiny_model(), [{"val_accuracy": 0.95}])
    assert (tmp_path / "m.keras").exists()


def test_checkpoint_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="received"):
        BestModelCheckpoint(tmp_path / "m.h5")
    cb = BestModelCheckpoint(tmp_path / "m.keras", monitor="val_loss")
    with pytest.raises(ValueError, match="val_loss"):
        drive(cb, tiny_model(), [{"loss": 1.0}])


def test_history_csv_rewrites_all_rows(tmp_path):
    path = tmp_path / "history.csv"
    cb = HistoryCSV(path, previous_rows=[{"epoch": 0, "loss": 2.0, "learning_rate": 0.1}])
    drive(cb, tiny_model(), [{"loss": 1.5}, {"loss": 1.0, "val_loss": 1.2}])
    rows = read_history(path)
    assert [r["epoch"] for r in rows] == [0, 0, 1]
    assert rows[-1]["val_loss"] == pytest.approx(1.2) and "val_loss" not in rows[1]
    assert all("learning_rate" in r for r in rows)


def test_backup_round_trip(tmp_path):
    model = tiny_model()
    model.fit(np.zeros((4, 4)), np.zeros(4), verbose=0)  # builds optimizer state
    cb = TrainingBackup(tmp_path / "b", extra_state=lambda: {"train_seconds": 1.5})
    drive(cb, model, [{}, {}])
    state = read_backup_state(tmp_path / "b")
    assert state == {"epochs_done": 2, "train_seconds": 1.5}
    clone = tiny_model()
    clone.optimizer.build(clone.trainable_variables)
    clone.load_weights(tmp_path / "b" / "state.weights.h5")
    assert int(clone.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    assert read_backup_state(tmp_path / "nothing") is None


def test_resumable_early_stopping_counts_previous_wait():
    cb = ResumableEarlyStopping(monitor="val_loss", patience=3, initial_best=0.1,
                                initial_wait=2)
    model = tiny_model()
    drive(cb, model, [{"val_loss": 0.5}], first_epoch=5)
    assert model.stop_training  # 2 earlier epochs + this one = patience


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


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "run"
    with atomic.atomic_dir(target) as d:
        (d / "x").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(target) as d:
            (d / "x").write_text("2")
            raise RuntimeError
    assert (target / "x").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_checkpoint_saves_a_first_model_even_if_nan(tmp_path):
    cb = BestModelCheckpoint(tmp_path / "m.keras", monitor="val_loss")
    drive(cb, tiny_model(), [{"val_loss": float("nan")}, {"val_loss": float("nan")}])
    assert (tmp_path / "m.keras").exists() and cb.best_epoch == 0
