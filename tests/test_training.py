"""End to end on real MNIST (a stratified subset): train, the run directory, evaluate,
predict, resume after kill -9."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

import convolab
from backends import BACKEND
from convolab.data import load_dataset
from convolab.errors import ConvolabError
from convolab.run import Run, partial_dir
from spec_files import two_headed_spec

SMALL = {"data": {"train_samples": 1500}, "train": {"epochs": 2, "batch_size": 64}}


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    config = {**SMALL, "out": str(out), "save_h5": True}
    return convolab.train(config, verbose=0)


def test_run_directory_has_every_artefact(mnist_run):
    names = {p.name for p in mnist_run.path.iterdir()}
    assert {"config.yaml", "model.keras", "history.csv", "metrics.json", "environment.json",
            "plots", "report.html", "best_model.h5"} <= names
    assert "backup" not in names
    assert not partial_dir(mnist_run.path).exists()
    plots = {p.name for p in (mnist_run.path / "plots").iterdir()}
    assert {"learning_curves.png", "confusion_matrix.png", "misclassified.png"} <= plots
    report = (mnist_run.path / "report.html").read_text()
    assert 'src="plots/learning_curves.png"' in report
    assert "small.partial" not in report and "· small<" in report


def test_metrics_are_complete_and_plausible(mnist_run):
    m = mnist_run.metrics
    assert m["test_samples"] == 10000 and m["train_samples"] + m["val_samples"] == 1500
    assert 0.8 < m["test_accuracy"] <= 1.0  # 1,500 images, 2 epochs
    assert m["epochs_run"] == 2 and m["best_epoch"] in (1, 2)
    assert len(m["per_class"]) == 10 and len(m["confusion_matrix"]) == 10
    assert sum(map(sum, m["confusion_matrix"])) == 10000
    assert m["train_seconds"] > 0 and m["parameters"] > 0
    env = json.loads((mnist_run.path / "environment.json").read_text())
    assert env["backend"] == BACKEND and env["seed"] == 0 and env["versions"]["keras"]
    assert env["cpu"] and isinstance(env["cpu_features"], list)
    config = yaml.safe_load((mnist_run.path / "config.yaml").read_text())
    assert config["data"]["train_samples"] == 1500 and config["out"] == str(mnist_run.path)


def test_evaluate_recomputes_the_same_numbers(mnist_run):
    again = Run.load(mnist_run.path).evaluate()
    assert again["test_accuracy"] == pytest.approx(mnist_run.metrics["test_accuracy"])
    assert again["confusion_matrix"] == mnist_run.metrics["confusion_matrix"]


def test_predict_arrays_matches_the_test_metrics(mnist_run):
    ds = load_dataset("mnist", validation_split=0)
    probs = mnist_run.predict(ds.x_test[:500, :, :, 0])  # (N, H, W) accepted
    assert probs.shape == (500, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert (probs.argmax(1) == ds.y_test[:500]).mean() > 0.75
    with pytest.raises(ConvolabError, match="expects"):
        mnist_run.predict(np.zeros((1, 32, 32, 1)))


def test_history_rows_match_epochs(mnist_run):
    rows = mnist_run.history()
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import keras
    import convolab
    from convolab import atomic

    out, where = sys.argv[1], sys.argv[2]

    class KillAfter(keras.callbacks.Callback):
        # Runs before the checkpoint commits epoch 1: dies at the epoch boundary.
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1 and where.startswith("epoch-end"):
                os.kill(os.getpid(), signal.SIGKILL)

    if where == "commit":  # die inside the commit of epoch 1, after its weights file
        write_json = atomic.write_json
        def dying_write_json(target, obj):
            if str(target).endswith("state.json") and obj.get("epochs_done") == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            write_json(target, obj)
        atomic.write_json = dying_write_json

    train = {"epochs": 4, "batch_size": 100}
    if where.endswith("-ema"):  # the weight averages must survive the resume too
        train["ema"] = 0.9
    convolab.train({"data": {"train_samples": 1000}, "train": train, "out": out}, verbose=0,
                   extra_callbacks=[KillAfter()])
""")


@pytest.mark.parametrize("where", ["epoch-end", "commit",
                                   pytest.param("epoch-end-ema", marks=pytest.mark.slow)])
def test_resume_after_kill_9(tmp_path, where):
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(out), where],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not out.exists()  # a killed run never looks complete
    assert partial_dir(out).is_dir()
    with pytest.raises(ConvolabError, match="interrupted run"):
        Run.load(out)
    state = json.loads((partial_dir(out) / "backup" / "state.json").read_text())
    assert state["epochs_done"] == 1  # epoch 1 was never committed
    assert (partial_dir(out) / "backup" / state["weights"]).is_file()

    cli = [sys.executable, "-m", "convolab", "train", "--resume", str(out), "--quiet"]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = Run.load(out)
    rows = run.history()
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    # 900 training images / batch 100 = 9 steps an epoch. The one-cycle schedule continued
    # from step 9 (optimizer state restored): the lr logged at the end of epoch 2 is the
    # schedule's value at step 27, not the warm-up start again.
    from convolab.schedules import OneCycle
    expected = float(OneCycle(0.003, total_steps=36)(27))
    assert rows[2]["learning_rate"] == pytest.approx(expected, rel=0.05)
    assert run.metrics["epochs_run"] == 4 and 1 <= run.metrics["best_epoch"] <= 4
    assert (run.path / "model.yaml").is_file() and not (run.path / "backup").exists()
    assert not partial_dir(out).exists()


def test_a_run_that_fails_in_training_leaves_nothing(tmp_path):
    class Boom(Exception):
        pass

    import keras

    class FailFirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise Boom

    out = tmp_path / "fails"
    with pytest.raises(Boom):
        convolab.train({**SMALL, "out": str(out)}, verbose=0, extra_callbacks=[FailFirstBatch()])
    assert list(tmp_path.iterdir()) == []


def tiny_digits(tmp_path, name, **train):
    return {"data": {"name": "digits"}, "model": {"name": "mlp-bn"},
            "train": {"epochs": 2, "batch_size": 64, **train}, "out": str(tmp_path / name)}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_learns_digits(tmp_path, optimizer):
    lr = 0.05 if optimizer == "sgd" else 0.003
    run = convolab.train(tiny_digits(tmp_path, optimizer, optimizer=optimizer, lr=lr,
                                     epochs=4), verbose=0)
    assert run.metrics["test_accuracy"] > 0.8  # chance is 0.1
    assert run.model.count_params() > 0


@pytest.mark.parametrize("schedule", ["constant", "step-exp", "cosine", "one-cycle", "plateau"])
def test_every_lr_schedule_trains_and_logs_its_lr(tmp_path, schedule):
    run = convolab.train(tiny_digits(tmp_path, schedule, lr_schedule=schedule, lr=0.01,
                                     epochs=3), verbose=0)
    lrs = [r["learning_rate"] for r in run.history()]
    assert len(lrs) == 3
    if schedule in ("constant", "step-exp"):  # step-exp holds lr for 10 epochs
        assert lrs == pytest.approx([0.01] * 3)
    if schedule in ("cosine", "one-cycle"):
        assert lrs[-1] < lrs[0] / 5


def test_early_stopping_stops_a_diverging_run(tmp_path):
    # An absurd learning rate makes val_loss worse (or NaN) after the first epoch.
    config = tiny_digits(tmp_path, "es", optimizer="sgd", lr=500.0, lr_schedule="constant",
                         epochs=10, early_stopping=1)
    config["model"]["batchnorm"] = False
    run = convolab.train(config, verbose=0)
    assert run.metrics["epochs_run"] < 10
    assert (run.path / "model.keras").is_file()


def test_regularized_and_augmented_run_records_its_config(tmp_path):
    config = {**SMALL, "out": str(tmp_path / "reg"),
              "model": {"name": "keras-convnet", "dropout": 0.3, "l2": 1e-4, "batchnorm": True},
              "augment": {"enabled": True, "rotation_range": 10, "zoom_range": 0.1,
                          "elastic_alpha": 8.0},
              "train": {**SMALL["train"], "label_smoothing": 0.1}}  # 44 steps: BatchNorm settles
    run = convolab.train(config, verbose=0)
    names = [layer.name for layer in run.model.layers]
    assert "aug_rotation" in names and "aug_zoom" in names and "aug_elastic" in names
    assert any("bn" in n for n in names) and any("dropout" in n for n in names)
    assert run.config.model.l2 == 1e-4 and run.config.augment.enabled
    assert run.metrics["test_accuracy"] > 0.5


def test_ema_saves_the_averaged_weights_and_trains_on_the_raw_ones(tmp_path):
    import keras

    seen = {}

    class Capture(keras.callbacks.Callback):  # runs before the checkpoint of each epoch
        def on_epoch_end(self, epoch, logs=None):
            opt = self.model.optimizer
            seen["raw"] = [v.numpy() for v in self.model.trainable_weights]
            seen["average"] = [v.numpy() for v in opt._model_variables_moving_average]

    config = tiny_digits(tmp_path, "ema", epochs=2, ema=0.9)
    config["train"]["monitor"] = "loss"  # the last epoch is the best: its files are compared
    run = convolab.train(config, verbose=0, extra_callbacks=[Capture()])
    saved = [v.numpy() for v in run.model.trainable_weights]
    assert len(saved) == len(seen["average"])
    for s, avg in zip(saved, seen["average"]):
        np.testing.assert_allclose(s, avg, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(s, r) for s, r in zip(saved, seen["raw"]))
    assert run.config.train.ema == 0.9 and run.metrics["test_accuracy"] > 0.8


def test_ema_momentum_must_be_a_fraction():
    with pytest.raises(ConvolabError, match="train.ema"):
        convolab.resolve_config(overrides={"train": {"ema": 1.5}})


@pytest.mark.slow
def test_default_run_reaches_99_percent_on_full_mnist(tmp_path):
    run = convolab.train({"out": str(tmp_path / "default")}, verbose=0)
    assert run.metrics["test_accuracy"] >= 0.99


def test_tensorboard_logs_are_written(tmp_path):
    config = tiny_digits(tmp_path, "tb")
    config["tensorboard"] = True
    run = convolab.train(config, verbose=0)
    events = list((run.path / "tensorboard").rglob("events.out.tfevents.*"))
    assert any("train" in str(p) for p in events) and any("validation" in str(p) for p in events)


def test_a_model_with_an_auxiliary_output_trains_on_the_same_labels(tmp_path):
    spec = two_headed_spec(tmp_path)
    config = tiny_digits(tmp_path, "two", epochs=6)
    config["model"] = {"name": str(spec)}
    run = convolab.train(config, verbose=0)
    assert len(run.model.outputs) == 2
    assert run.metrics["test_accuracy"] > 0.8  # scored on the first output
    config = tiny_digits(tmp_path, "two-acc", monitor="val_accuracy")
    config["model"] = {"name": str(spec)}
    with pytest.raises(ConvolabError, match="no single 'val_accuracy'"):
        convolab.train(config, verbose=0)
    assert not (tmp_path / "two-acc").exists() and not partial_dir(tmp_path / "two-acc").exists()
