"""The command line as a user meets it: a separate process, its real stderr.

Every bad input ends with exactly one line on stderr (no TensorFlow start-up lines, no
traceback) and exit status 2; those that need no model are answered before Keras is
imported. A training run piped into a file writes one line per epoch and nothing on stderr.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from backends import BACKEND, export_needs_tensorflow
from cli_helpers import huge_png

#: Runs `convolab ARGS` like the console script, then reports whether Keras was imported.
PROBE = """
import sys
from convolab.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.write("\\nKERAS_IMPORTED=%s\\n" % ("keras" in sys.modules))
sys.exit(code)
"""
QUICK = ["--train-samples", "300", "--epochs", "1", "--quiet"]


def convolab(*args, env=None, probe=False, timeout=300):
    """Run convolab in a fresh process; (exit code, stdout, stderr)."""
    command = [sys.executable, "-c", PROBE] if probe else [sys.executable, "-m", "convolab"]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CONVOLAB_VERBOSE", None)
    proc = subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err, *words):
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("convolab: error: "), err
    for word in words:
        assert word in err, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import convolab

    out = tmp_path_factory.mktemp("cli") / "run"
    convolab.train({"data": {"train_samples": 300}, "train": {"epochs": 1},
                    "model": {"name": "fast"}, "out": str(out)}, verbose=0)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory, run_dir):
    root = tmp_path_factory.mktemp("bad")
    (root / "folder-one-class" / "cat").mkdir(parents=True)
    Image.new("L", (12, 12)).save(root / "folder-one-class" / "cat" / "0.png")
    for kind in ("a", "b"):
        (root / "folder-mixed" / kind).mkdir(parents=True)
        Image.new("L", (12, 12)).save(root / "folder-mixed" / kind / "0.png")
    (root / "folder-mixed" / "a" / "notes.txt").write_text("not an image")
    shutil.copytree(root / "folder-mixed", root / "folder-huge")
    (root / "folder-huge" / "a" / "notes.txt").unlink()
    huge_png(root / "folder-huge" / "b" / "huge.png")
    truncated = root / "truncated-run"
    truncated.mkdir()
    for name in ("config.yaml", "metrics.json"):
        (truncated / name).write_bytes((run_dir / name).read_bytes())
    model = (run_dir / "model.keras").read_bytes()
    (truncated / "model.keras").write_bytes(model[: len(model) // 2])
    (root / "spec-typo.yaml").write_text("type: sequential\nlayers:\n  - Flatten: {}\n"
                                         "  - Dense: {units: $num_classes, activaton: softmax}\n")
    return root


#: (arguments, words the one line must hold); {run}, {files} are filled in.
BEFORE_KERAS = [
    (["train", "--dataset", "mnits"], ["mnits", "did you mean"]),
    (["train", "--model", "seed-cnm"], ["seed-cnm"]),
    (["train", "--model", "missing.yaml"], ["missing.yaml", "does not exist"]),
    (["train", "--epochs", "0"], ["train.epochs"]),
    (["train", "--batch-size", "0"], ["train.batch_size"]),
    (["train", "--optimizer", "adagrad"], ["adagrad"]),
    (["train", "--set", "train.lr=abc"], ["train.lr"]),
    (["train", "--monitor", "val_acc"], ["did you mean 'val_accuracy'"]),
    (["train", "--epochs", "abc"], ["--epochs", "invalid int"]),
    (["train", "--dataset", "folder:{files}/folder-one-class"], ["one class"]),
    (["train", "--dataset", "folder:{files}/nowhere"], ["nowhere"]),
    (["train", "--dataset", "folder:{files}/folder-mixed"], ["notes.txt"]),
    (["train", "--dataset", "folder:{files}/folder-huge"], ["huge.png", "pixels"]),
    (["train", "--out", "{run}"], ["already exists"]),
    (["train", "--resume", "{files}/nothing"], ["no interrupted run"]),
    (["evaluate", "{files}/nope"], ["does not exist"]),
    (["evaluate", "{run}", "--tta", "shifts-flip"], ["shifts-flip"]),
    (["evaluate", "{files}/truncated-run"], ["model.keras", "damaged"]),
    (["predict", "{run}", "{files}/missing.png"], ["missing.png", "does not exist"]),
    (["predict", "{run}", "{files}/missing.png", "--top-k", "0"], ["--top-k"]),
    (["explain", "{run}", "{files}/missing.png"], ["missing.png", "does not exist"]),
    (["explain", "{run}", "test:abc"], ["test:abc"]),
    (["explain", "{files}/nope", "test:0"], ["nope"]),
    (["show", "feature-maps", "{run}", "{files}/missing.png"], ["missing.png"]),
    (["show", "saliency", "{run}"], ["needs an IMAGE"]),
    (["export", "{run}", "--format", "onx"], ["onx", "did you mean 'onnx'"]),
    (["invariance", "{run}", "--samples", "-1"], ["--samples"]),
    (["invariance", "{files}/nope"], ["does not exist"]),
    (["compare", "--variants", "dropuot"], ["dropuot"]),
    (["models", "--show", "seed-cnn", "--input-shape", "32,32"], ["HxWxC"]),
    (["models", "--show", "nonet"], ["nonet"]),
    (["config", "--crop", "-1"], ["model.crop"]),
    (["data", "fetch", "mnits"], ["mnits"]),
    (["train", "--backbone", "vgg61"], ["vgg61", "did you mean 'vgg16'"]),
    (["train", "--backbone", "inception_v3", "--base-size", "40"], ["inception_v3", "75"]),
    (["train", "--backbone", "vgg16", "--unfreeze", "all"], ["freeze_epochs"]),
    (["train", "--backbone", "vgg16", "--weights", "{files}/none.h5"], ["none.h5"]),
    (["imagenet", "{files}/missing.jpg"], ["missing.jpg", "does not exist"]),
]


def _fill(args, run_dir, files):
    return [a.format(run=run_dir, files=files) for a in args]


@pytest.mark.parametrize("args, words", BEFORE_KERAS, ids=[" ".join(a) for a, _ in BEFORE_KERAS])
def test_bad_input_is_one_line_before_keras(run_dir, files, tmp_path, args, words):
    args = _fill(args, run_dir, files)
    if args[0] == "train" and "--out" not in args and "--resume" not in args:
        args = ["train", *QUICK, *args[1:], "--out", str(tmp_path / "r")]
    code, out, err = convolab(*args, probe=True)
    assert_one_line_error(code, err, *words)
    assert "KERAS_IMPORTED=False" in out, f"Keras was imported before answering: {err}"
    assert not (tmp_path / "r").exists()


def test_bad_input_that_needs_keras_is_one_line_too(run_dir, files, tmp_path):
    code, _, err = convolab("train", "--model", files / "spec-typo.yaml", *QUICK,
                            "--out", tmp_path / "r")
    assert_one_line_error(code, err, "activaton", "did you mean 'activation'")
    spec = tmp_path / "many.yaml"
    spec.write_text("type: sequential\nlayers:\n  - Conv2D: {filters: many, kernel_size: 3}\n"
                    "  - Flatten: {}\n  - Dense: {units: $num_classes, activation: softmax}\n")
    code, _, err = convolab("train", "--model", spec, *QUICK, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "argument filters must be a whole number", "'many'")
    assert not (tmp_path / "r").exists()


def test_offline_without_cache_is_one_line(tmp_path):
    env = {"CONVOLAB_HOME": str(tmp_path / "home"), "CONVOLAB_OFFLINE": "1"}
    code, _, err = convolab("data", "fetch", "fashion_mnist", env=env)
    assert_one_line_error(code, err, "fashion_mnist", "--from")


def test_piped_training_writes_one_line_per_epoch_and_nothing_on_stderr(tmp_path):
    out = tmp_path / "run"
    code, stdout, err = convolab("train", "--model", "fast", "--train-samples", "600",
                                 "--epochs", "2", "--out", out)
    assert code == 0, err
    assert err == "", err
    epochs = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"], stdout
    assert all("val_accuracy" in line and line.endswith(" s") for line in epochs), epochs
    assert "\r" not in stdout and "\x08" not in stdout
    assert any(line.startswith("seconds: ") and "train" in line for line in stdout.splitlines())
    metrics = json.loads((out / "metrics.json").read_text())
    training, command = metrics["timing"]["training"], metrics["timing"]["command"]
    assert set(training) == {"first_call", "steps", "validation", "epoch_end", "total"}
    assert training["validation"] > 0 and training["first_call"] > 0
    assert {"import", "data", "build", "train", "test", "plots", "report"} <= set(command)
    assert abs(sum(v for k, v in training.items() if k != "total") - training["total"]) < 0.05
    env = json.loads((out / "environment.json").read_text())
    if env["backend"] == "tensorflow":
        assert any("absl::InitializeLog" in line for line in env["native_startup_log"])
        assert env["onednn"] is True


def test_backbones_are_listed_without_keras():
    code, out, err = convolab("backbones", probe=True)
    assert code == 0 and err == ""
    assert "KERAS_IMPORTED=False" in out
    for name in ("vgg16", "resnet50", "inception_v3", "efficientnet_b0", "mobilenet_v2",
                 "efficientnet_lite0"):
        assert name in out


@export_needs_tensorflow
def test_export_writes_nothing_on_stderr(run_dir, tmp_path):
    code, out, err = convolab("export", run_dir, "--format", "onnx", "--check-samples", "20",
                              "--out", tmp_path / "model.onnx")
    assert code == 0 and err == "", err
    assert (tmp_path / "model.onnx").is_file() and "onnx:" in out


def test_quiet_prints_results_only(tmp_path):
    code, stdout, err = convolab("train", *QUICK, "--model", "fast", "--out", tmp_path / "r")
    assert code == 0 and err == ""
    assert not any(line.startswith("epoch ") for line in stdout.splitlines())
    assert stdout.splitlines()[0].startswith("test accuracy")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's start-up lines exist on the TensorFlow backend only")
def test_verbose_shows_tensorflow_lines_again(run_dir):
    code, _, err = convolab("evaluate", run_dir, "--verbose")
    assert code == 0
    assert "absl::InitializeLog" in err or "oneDNN" in err
