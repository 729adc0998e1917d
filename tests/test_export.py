"""`convolab export`: ONNX and SavedModel files that reload and match Keras, written
all-or-nothing, and one-line errors for bad input."""

import sys

import keras
import numpy as np
import pytest

import convolab
from convolab import export
from backends import export_needs_tensorflow
from cli_helpers import assert_user_error, run_cli
from convolab.errors import ConvolabError
from convolab.export import export_run
from spec_files import two_headed_spec

TOL = 1e-5


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny keras-convnet run on MNIST: a real Conv2D/MaxPooling graph, behind the
    border crop that the `fast` recipe uses."""
    out = tmp_path_factory.mktemp("export") / "run"
    convolab.train({"data": {"train_samples": 1000}, "train": {"epochs": 1},
                    "model": {"name": "keras-convnet", "crop": 2}, "out": str(out)},
                   verbose=0)
    return out


@pytest.fixture(scope="module")
def test_images(run_dir):
    return convolab.Run.load(run_dir).test_set().x_test[:300].astype("float32")


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


@export_needs_tensorflow
def test_onnx_export_reloads_in_onnxruntime_and_matches_keras(run_dir, test_images):
    import onnx
    import onnxruntime

    result = export_run(run_dir, "onnx", check_samples=500)
    assert result.path == run_dir / "export" / "model.onnx" and result.path.is_file()
    assert result.samples == 500 and result.max_abs_diff <= TOL
    assert files_under(run_dir / "export") == ["model.onnx"]  # no temporary file left
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert {"Conv", "MaxPool"} <= ops
    # An independent check, on other images than export's own.
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: test_images})[0]
    expected = convolab.Run.load(run_dir).predict(test_images)
    assert got.shape == (300, 10)
    assert np.max(np.abs(got - expected)) <= TOL


@export_needs_tensorflow
def test_saved_model_export_reloads_in_tensorflow_and_matches_keras(run_dir, tmp_path,
                                                                    test_images):
    import tensorflow as tf

    out = tmp_path / "sm"
    result = export_run(run_dir, "tf_saved_model", out, check_samples=200)
    assert result.path == out and (out / "saved_model.pb").is_file()
    assert result.max_abs_diff <= TOL
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]  # no sm.partial left
    loaded = tf.saved_model.load(str(out))  # keep it: it owns the variables
    got = loaded.serve(tf.constant(test_images)).numpy()
    expected = convolab.Run.load(run_dir).predict(test_images)
    assert np.max(np.abs(got - expected)) <= TOL


@export_needs_tensorflow
def test_every_output_of_a_two_headed_model_is_exported_and_checked(tmp_path):
    spec = two_headed_spec(tmp_path)
    run = convolab.train({"data": {"name": "digits"}, "model": {"name": str(spec)},
                          "train": {"epochs": 1}, "out": str(tmp_path / "two")}, verbose=0)
    images = run.test_set().x_test.astype("float32")
    expected = run.model.predict(images, verbose=0)
    for fmt in ("onnx", "tf_saved_model"):
        result = export_run(run.path, fmt)  # default: the whole test set
        assert result.samples == len(images) and result.max_abs_diff <= TOL
        got = export.load_exported(result.path, fmt)(images)
        assert len(got) == 2
        # The heads come back in the model's order (they differ, so a swap would show).
        assert np.max(np.abs(expected[0] - expected[1])) > 1e-3
        for e, g in zip(expected, got):
            assert np.max(np.abs(e - g)) <= TOL


@export_needs_tensorflow
@pytest.mark.parametrize("fmt, writer", [("onnx", "_write_onnx"),
                                         ("tf_saved_model", "_write_saved_model")])
def test_a_failing_conversion_leaves_nothing_behind(run_dir, tmp_path, monkeypatch, fmt, writer):
    def half_written(model, path):
        if fmt == "onnx":
            path.write_bytes(b"\x08\x07half")
        else:
            (path / "variables").mkdir(parents=True)
            (path / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(export, writer, half_written)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_run(run_dir, fmt, tmp_path / "out" / "model", check_samples=10)
    assert files_under(tmp_path / "out") == []


@export_needs_tensorflow
@pytest.mark.parametrize("fmt", ["onnx", "tf_saved_model"])
def test_an_export_that_differs_from_keras_is_refused_and_not_written(run_dir, tmp_path,
                                                                      monkeypatch, fmt):
    real = export._exported_outputs
    monkeypatch.setattr(export, "_exported_outputs",
                        lambda path, f, images: [o + 1e-4 for o in real(path, f, images)])
    with pytest.raises(ConvolabError, match="differs from Keras by up to 0.0001"):
        export_run(run_dir, fmt, tmp_path / "model", check_samples=20)
    assert files_under(tmp_path) == []


@export_needs_tensorflow
def test_force_replaces_an_existing_export_only_when_asked(run_dir, tmp_path, capsys):
    out = tmp_path / "sm"
    (out / "old").mkdir(parents=True)
    code, _, err = run_cli(capsys, "export", run_dir, "--format", "tf_saved_model",
                           "--out", out, "--check-samples", "10")
    assert code == 2 and "already exists" in err and "--force" in err
    assert files_under(out) == ["old"]
    code, out_text, _ = run_cli(capsys, "export", run_dir, "--format", "tf_saved_model",
                                "--out", out, "--check-samples", "10", "--force")
    assert code == 0 and "max abs difference from Keras" in out_text and "on 10 test" in out_text
    assert "old" not in files_under(out) and (out / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"]  # no .partial or .old left


@export_needs_tensorflow
def test_cli_exports_onnx_and_prints_path_and_difference(run_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, text, err = run_cli(capsys, "export", run_dir, "--format", "onnx", "--out", out,
                              "--check-samples", "50")
    assert code == 0, err
    assert str(out) in text and "on 50 test images" in text
    diff = float(text.split("max abs difference from Keras ")[1].split()[0])
    assert 0 <= diff <= TOL
    code, text, _ = run_cli(capsys, "export", run_dir, "--format", "onnx", "--out",
                            tmp_path / "n.onnx", "--check-samples", "0")
    assert code == 0 and "not checked" in text and (tmp_path / "n.onnx").is_file()


@pytest.mark.parametrize("extra, words", [
    (["--format", "onx"], ["'onx'", "did you mean 'onnx'", "tf_saved_model"]),
    (["--format", "tf_savedmodel"], ["did you mean 'tf_saved_model'"]),
    (["--format", "onnx", "--check-samples", "-1"], ["--check-samples", "-1"]),
    ([], ["--format"]),
])
def test_cli_bad_arguments_are_one_line_errors(run_dir, capsys, extra, words):
    code, _, err = run_cli(capsys, "export", run_dir, *extra)
    assert_user_error(code, err, *words)


def test_cli_rejects_a_missing_or_incomplete_run_dir(tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", tmp_path / "nope", "--format", "onnx")
    assert_user_error(code, err, "nope", "does not exist")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "export", tmp_path / "empty", "--format", "onnx")
    assert_user_error(code, err, "empty", "incomplete", "model.keras")
    assert files_under(tmp_path) == ["empty"]


def test_cli_rejects_an_output_of_the_wrong_kind(run_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, "export", run_dir, "--format", "tf_saved_model",
                           "--out", tmp_path / "file", "--force")
    assert_user_error(code, err, "is a file", "folder")
    assert (tmp_path / "file").read_text() == "x"


@export_needs_tensorflow
def test_cli_names_the_missing_package_and_the_install_command(run_dir, tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # makes `import tf2onnx` fail
    code, _, err = run_cli(capsys, "export", run_dir, "--format", "onnx",
                           "--out", tmp_path / "m.onnx")
    assert_user_error(code, err, "tf2onnx", "pip install 'convolab[export]'")
    assert files_under(tmp_path) == []


def test_cli_says_which_backend_export_supports(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    code, _, err = run_cli(capsys, "export", run_dir, "--format", "onnx",
                           "--out", tmp_path / "m.onnx")
    assert_user_error(code, err, "'jax'", "TensorFlow backend", "KERAS_BACKEND=tensorflow")
    assert files_under(tmp_path) == []
