"""The command line: every subcommand on tiny inputs, and every bad input ends in one
line on stderr, exit status 2, no traceback and nothing half-written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cli_helpers import assert_user_error, huge_png, run_cli

QUICK = ["--train-samples", "300", "--epochs", "1", "--quiet"]


def png(path, size=(28, 28), mode="L", value=0):
    Image.new(mode, size, value).save(path)
    return path


def class_folder(root, classes, per_class=3, size=(12, 12)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("argv, words", [
    (["--dataset", "mnits"], ["mnits"]),
    (["--model", "seed-cnm"], ["seed-cnm"]),
    (["--epochs", "0"], ["train.epochs"]),
    (["--epochs", "-2"], ["train.epochs"]),
    (["--batch-size", "0"], ["train.batch_size"]),
    (["--optimizer", "adagrad"], ["adagrad"]),
    (["--set", "train.lr=abc"], ["train.lr"]),
    (["--set", "train.lr=[0.1"], ["train.lr"]),
    (["--optimizer", "sgd", "--set", "train.momentum=1.5"], ["train.momentum"]),
    (["--monitor", "val_acc"], ["did you mean 'val_accuracy'"]),
    (["--seed", "-1"], ["seed"]),
    (["--epochs", "abc"], ["--epochs", "invalid int"]),
])
def test_bad_train_flags(capsys, tmp_path, argv, words):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *QUICK, *argv, "--out", out)
    assert_user_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_bad_model_spec_names_the_argument(capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("type: sequential\nlayers:\n  - Conv2D: {filters: 8, kernal_size: 3}\n"
                    "  - Flatten: {}\n  - Dense: {units: $num_classes, activation: softmax}\n")
    code, _, err = run_cli(capsys, "train", "--model", spec, "--out", tmp_path / "r", *QUICK)
    assert_user_error(code, err, "kernal_size", "kernel_size")
    spec.write_text("type: sequential\nlayers:\n  - Conv2D: {filters: many, kernel_size: 3}\n")
    code, _, err = run_cli(capsys, "train", "--model", spec, "--out", tmp_path / "r", *QUICK)
    assert_user_error(code, err, "Conv2D")
    assert not (tmp_path / "r").exists()


def test_folder_datasets_with_bad_contents(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    one = class_folder(tmp_path / "one", ["cat"])
    mixed = class_folder(tmp_path / "mixed", ["a", "b"])
    (mixed / "a" / "notes.txt").write_text("not an image")
    zero = class_folder(tmp_path / "zero", ["a", "b"])
    (zero / "b" / "empty.png").write_bytes(b"")
    trunc = class_folder(tmp_path / "trunc", ["a", "b"])
    data = (trunc / "a" / "0.png").read_bytes()
    (trunc / "a" / "0.png").write_bytes(data[: len(data) // 2])
    cases = [(empty, "class"), (one, "one class"), (mixed, "notes.txt"),
             (zero, "empty.png"), (trunc, "0.png")]
    for folder, word in cases:
        code, _, err = run_cli(capsys, "train", "--dataset", f"folder:{folder}",
                               "--out", tmp_path / "r", *QUICK)
        assert_user_error(code, err, word)
    assert not (tmp_path / "r").exists()


def test_huge_image_in_folder_is_refused(capsys, tmp_path):
    folder = class_folder(tmp_path / "big", ["a", "b"])
    huge_png(folder / "a" / "huge.png")
    code, _, err = run_cli(capsys, "train", "--dataset", f"folder:{folder}",
                           "--out", tmp_path / "r", *QUICK)
    assert_user_error(code, err, "huge.png", "pixels")


def test_offline_without_cache(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    code, _, err = run_cli(capsys, "data", "fetch", "fashion_mnist")
    assert_user_error(code, err, "fashion_mnist", "--from")
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--out", tmp_path / "r", *QUICK)
    assert_user_error(code, err, "mnist")
    assert not (tmp_path / "r").exists()


def test_run_dir_missing_or_incomplete(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "nope")
    assert_user_error(code, err, "does not exist")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("seed: 0\n")
    code, _, err = run_cli(capsys, "predict", tmp_path / "half", tmp_path / "x.png")
    assert_user_error(code, err, "incomplete", "model.keras")


def test_list_commands(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "seed-cnn" in out and "keras-convnet" in out
    code, out, _ = run_cli(capsys, "models", "--show", "keras-convnet")
    assert code == 0 and "34,826" in out
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0 and "fashion_mnist" in out and "folder:" in out
    code, out, _ = run_cli(capsys, "config", "--preset", "quick", "--lr", "0.5")
    assert code == 0 and "lr: 0.5" in out and "train_samples: 5000" in out


def test_data_info_on_real_mnist(capsys, monkeypatch):
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")  # served from the cache filled by `make`
    code, out, _ = run_cli(capsys, "data", "info", "mnist", "--json")
    info = json.loads(out)
    assert code == 0 and info["train"] == 60000 and info["test"] == 10000
    assert info["train_label_counts"][1] == 6742


def test_train_evaluate_predict_round_trip(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--train-samples", "2000", "--epochs", "2",
                                "--out", out, "--quiet")
    assert code == 0, err
    assert "test accuracy" in stdout and str(out / "report.html") in stdout
    code, stdout, _ = run_cli(capsys, "evaluate", out, "--json")
    metrics = json.loads(stdout)
    assert code == 0 and metrics["test_accuracy"] > 0.85

    # A "scan": a real MNIST test digit, inverted to dark ink on white paper, enlarged,
    # off-centre, saved as JPEG; plus a 0-byte file that must not stop the others.
    from convolab.data import load_dataset

    ds = load_dataset("mnist", validation_split=0)
    scans = tmp_path / "scans"
    scans.mkdir()
    expected = {}
    for i in range(20):
        digit = 255 - ds.x_test[i, :, :, 0]
        page = Image.new("L", (300, 240), 255)
        page.paste(Image.fromarray(digit).resize((140, 140)), (20 + 5 * i, 40))
        page.convert("RGB").save(scans / f"scan{i:02d}.jpg", quality=90)
        expected[f"scan{i:02d}.jpg"] = str(ds.y_test[i])
    (scans / "broken.png").write_bytes(b"")
    code, stdout, err = run_cli(capsys, "predict", out, scans, "--json", "--top-k", "2")
    assert code == 2  # one file failed
    assert "broken.png" in err and "Traceback" not in err
    result = json.loads(stdout)
    predictions = {os.path.basename(p["path"]): p["label"] for p in result["predictions"]}
    assert len(predictions) == 20 and all(len(p["top"]) == 2 for p in result["predictions"])
    correct = sum(predictions[k] == v for k, v in expected.items())
    assert correct >= 16, (predictions, expected)


def test_train_warns_in_one_line_when_batchnorm_cannot_settle(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--model", "mlp-bn", "--train-samples", "500",
                           "--epochs", "1", "--out", tmp_path / "r", "--quiet")
    assert code == 0
    warning = [line for line in err.splitlines() if "BatchNormalization" in line]
    assert len(warning) == 1 and warning[0].startswith("convolab: warning: ")
    assert "4 training steps" in warning[0] and "warnings.warn" not in err


def test_subprocess_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "convolab", "train", "--epochs", "0",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("convolab: error:") and "Traceback" not in proc.stderr


def test_resume_refuses_new_settings(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "r", "--epochs", "3")
    assert_user_error(code, err, "--epochs", "saved config")
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "r")
    assert_user_error(code, err, "no interrupted run")


def test_bad_input_shape_for_show(capsys):
    code, _, err = run_cli(capsys, "models", "--show", "seed-cnn", "--input-shape", "32,32")
    assert_user_error(code, err, "HxWxC")


def test_flags_that_turn_things_off_do_not_enable_augmentation(capsys):
    code, out, _ = run_cli(capsys, "config", "--no-horizontal-flip")
    assert code == 0 and "enabled: false" in out
    code, out, _ = run_cli(capsys, "config", "--rotation-range", "5")
    assert code == 0 and "enabled: true" in out


def test_crop_flag_sets_the_model_crop_and_refuses_a_negative_one(capsys):
    code, out, _ = run_cli(capsys, "config", "--crop", "2")
    assert code == 0 and "crop: 2" in out
    code, _, err = run_cli(capsys, "config", "--crop", "-1")
    assert_user_error(code, err, "model.crop")


def test_elastic_flags_turn_augmentation_on_and_bad_values_are_refused(capsys):
    code, out, _ = run_cli(capsys, "config", "--elastic-alpha", "34", "--elastic-sigma", "6")
    assert code == 0 and "enabled: true" in out
    assert "elastic_alpha: 34.0" in out and "elastic_sigma: 6.0" in out
    code, _, err = run_cli(capsys, "config", "--elastic-sigma", "0")
    assert_user_error(code, err, "elastic_sigma")
