"""`convolab explain RUN_DIR IMAGE` and `convolab show ...` on one tiny trained seed-cnn run.

The walk-through's numbers are checked against Keras itself (intermediate outputs, final
probabilities) and against their own definitions (multiply-add, max of a window, softmax);
the pictures are checked as PNG files linked from the run's report.
"""

from __future__ import annotations

import base64
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from cli_helpers import assert_user_error, run_cli

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import convolab

    out = tmp_path_factory.mktemp("explain") / "run"
    return convolab.train({"data": {"train_samples": 1000}, "train": {"epochs": 1},
                           "out": str(out)}, verbose=0)


@pytest.fixture(scope="module")
def walk(run):
    from convolab.explain.walkthrough import explain_image

    return explain_image(run.path, "test:0")


def keras_outputs(run, kind: str) -> list[np.ndarray]:
    """Keras's own outputs of every layer of one kind for test image 0."""
    layers = [layer for layer in run.model.layers if type(layer).__name__ == kind]
    probe = keras.Model(run.model.inputs[0], [layer.output for layer in layers])
    outputs = probe(run.test_set().x_test[:1].astype("float32"))
    return [keras.ops.convert_to_numpy(o)[0] for o in outputs]


# ----------------------------------------------------------------------------- walk-through


def test_convolutions_written_out_match_their_feature_maps_and_keras(run, walk):
    from convolab.explain.walkthrough import ConvStep

    convs = walk.steps_of(ConvStep)
    assert len(convs) == 2
    for step, expected in zip(convs, keras_outputs(run, "Conv2D")):
        np.testing.assert_allclose(step.output, expected, atol=1e-5)  # Keras's feature maps
        mac = step.mac
        assert mac.value == pytest.approx(float(mac.products.sum()) + mac.bias, abs=1e-5)
        assert mac.value == pytest.approx(mac.map_value, abs=1e-5)
        assert mac.map_value == step.pre_activation[mac.row, mac.col, mac.filter]
        np.testing.assert_array_equal(mac.products, mac.patch * mac.kernel)
        np.testing.assert_array_equal(mac.kernel, step.kernel[..., mac.filter])
        # im2col: the patch is one row of the patches matrix, the kernel one column
        np.testing.assert_array_equal(mac.patches_row, mac.patch.ravel())
        np.testing.assert_array_equal(mac.kernel_column, mac.kernel.ravel())
        oh, ow = step.output_shape[:2]
        assert mac.patches_shape == (oh * ow, mac.patch.size)
        assert mac.patch_row == mac.row * ow + mac.col
        assert step.zeroed == int((step.pre_activation < 0).sum()) > 0
        np.testing.assert_array_equal(step.output, np.maximum(step.pre_activation, 0))
    first = walk.steps[walk.steps.index(convs[0]) - 1]  # the rescaled image
    mac = convs[0].mac
    np.testing.assert_array_equal(mac.patch, first.output[mac.row:mac.row + 3,
                                                          mac.col:mac.col + 3])


def test_pooling_keeps_the_max_of_the_window_shown(run, walk):
    from convolab.explain.walkthrough import PoolStep

    pools = walk.steps_of(PoolStep)
    assert len(pools) == 2
    for step, expected in zip(pools, keras_outputs(run, "MaxPooling2D")):
        np.testing.assert_allclose(step.output, expected, atol=1e-5)
        before = walk.steps[walk.steps.index(step) - 1].output
        window = before[step.top:step.top + 2, step.left:step.left + 2, step.channel]
        np.testing.assert_array_equal(step.window, window)
        assert step.kept == window.max() == step.output[step.row, step.col, step.channel]


def test_probabilities_match_keras_and_run_predict(run, walk):
    from convolab.explain.walkthrough import DenseStep, FlattenStep, SoftmaxStep

    expected = run.predict(run.test_set().x_test[:1])[0]
    assert np.abs(walk.probabilities - expected).max() <= 1e-4
    assert walk.max_abs_diff <= 1e-4
    assert walk.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert walk.predicted == int(np.argmax(expected))
    assert walk.true_label == int(run.test_set().y_test[0])
    (softmax,) = walk.steps_of(SoftmaxStep)
    z = softmax.logits.astype(np.float64)
    np.testing.assert_allclose(softmax.output, np.exp(z) / np.exp(z).sum(), atol=1e-6)
    assert walk.steps_of(FlattenStep)[0].output_shape == (5 * 5 * 64,)
    dense = walk.steps_of(DenseStep)
    assert [d.kernel_shape for d in dense] == [(1600, 128), (128, 10)]
    assert dense[-1].logits and not dense[0].logits


def test_walk_through_a_cropped_fast_model(tmp_path):
    import convolab
    from convolab.explain.walk_view import sections
    from convolab.explain.walkthrough import ConvStep, CropStep, explain_image

    fast = convolab.train({"model": {"name": "fast", "crop": 2},
                           "data": {"train_samples": 300, "validation_split": 0.0},
                           "train": {"epochs": 1, "monitor": "loss"},
                           "out": str(tmp_path / "fast")}, verbose=0)
    result = explain_image(fast.path, "test:0")
    (crop,) = result.steps_of(CropStep)
    assert (crop.input_shape, crop.output_shape) == ((28, 28, 1), (24, 24, 1))
    np.testing.assert_array_equal(crop.output, result.steps[0].output[2:-2, 2:-2])
    assert result.steps_of(ConvStep)[0].output_shape[:2] == (10, 10)  # stride 2 on 24x24
    assert result.max_abs_diff <= 1e-4
    titles = [section.title for section in sections(result)]
    assert "cropping2d: Cropping2D" in titles


def test_position_picks_the_written_out_output(run):
    from convolab.explain.walkthrough import ConvStep, explain_image

    mac = explain_image(run.path, "test:1", position=(5, 7)).steps_of(ConvStep)[0].mac
    assert (mac.row, mac.col) == (5, 7)


def test_an_image_file_is_prepared_as_predict_prepares_it(run, tmp_path):
    from convolab.explain.walkthrough import explain_image
    from convolab.preprocess import prepare_files

    digit = 255 - run.test_set().x_test[1, :, :, 0]  # dark ink on white paper, as scanned
    path = tmp_path / "my digit.png"
    Image.fromarray(digit).resize((84, 84)).save(path)
    result = explain_image(run.path, str(path))
    batch, _, errors = prepare_files([path], run.input_shape, run.preprocessing_style())
    assert not errors
    np.testing.assert_array_equal(result.image, batch[0])
    assert result.stem == "my_digit" and result.true_label is None
    assert result.predicted == int(np.argmax(run.predict(batch)[0]))


def embedded_pngs(page: str) -> list[Image.Image]:
    images = []
    for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        import io

        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        images.append(image)
    return images


def test_cli_explain_prints_the_walk_and_writes_the_page(run, capsys):
    code, out, err = run_cli(capsys, "explain", run.path, "test:0")
    assert code == 0, err
    for words in ("Input: test:0", "Conv2D", "im2col", "MaxPooling2D", "Flatten", "Softmax",
                  "became 0", "Check against Keras"):
        assert words in out
    page_path = run.path / "explain" / "test-0.html"
    assert f"page: {page_path}" in out
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # input, kernels, 2 conv + 2 pool feature-map grids, probabilities
    assert all(im.format == "PNG" for im in embedded_pngs(page))
    assert len(embedded_pngs(page)) == 7
    assert 'href="explain/test-0.html"' in (run.path / "report.html").read_text()
    assert not list(page_path.parent.glob(".*"))  # written atomically, no leftovers


def test_cli_explain_html_option_and_no_terminal(run, capsys, tmp_path):
    target = tmp_path / "pages" / "two.html"
    code, out, err = run_cli(capsys, "explain", run.path, "test:1", "--html", target,
                             "--no-terminal")
    assert code == 0, err
    assert out.count("\n") == 1 and str(target) in out  # only the summary line
    assert "<h2>conv2d" in target.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- pictures


@pytest.mark.parametrize("argv, name", [
    (["filters"], "filters.png"),
    (["feature-maps", "@", "test:0"], "feature_maps-test-0.png"),
    (["saliency", "@", "test:0"], "saliency-test-0.png"),
    (["top-losses", "@", "--n", "8"], "top_losses.png"),
])
def test_cli_show_writes_a_png_the_report_shows(run, capsys, argv, name):
    argv = [argv[0], run.path] + [a for a in argv[1:] if a != "@"]
    code, out, err = run_cli(capsys, "show", *argv)
    path = run.path / "plots" / name
    assert code == 0, err
    assert out.strip() == str(path)
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100
    assert f'src="plots/{name}"' in (run.path / "report.html").read_text()


def test_show_out_option(run, capsys, tmp_path):
    target = tmp_path / "k.png"
    code, out, err = run_cli(capsys, "show", "filters", run.path, "--out", target)
    assert code == 0, err
    assert Image.open(target).format == "PNG"


def test_gradients_of_a_linear_map_are_its_weights():
    from convolab.explain.gradients import gradients

    w = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    x = np.ones((3, 6), dtype="float32")
    g = gradients(lambda v: keras.ops.matmul(v * v, w), x, 2)  # d/dx sum x^2 w = 2 x w
    np.testing.assert_allclose(g, np.tile(2 * w[:, 2], (3, 1)), rtol=1e-6)


def test_saliency_and_gradcam_maps(run):
    from convolab.explain.pictures import saliency_maps

    x = run.test_set().x_test[0]
    maps = saliency_maps(run, x)
    assert maps.class_index == int(np.argmax(run.predict(x[None])[0]))
    last_conv = [la for la in run.model.layers if type(la).__name__ == "Conv2D"][-1]
    assert maps.score == "logit" and maps.gradcam_layer == last_conv.name
    assert maps.saliency.shape == maps.gradcam.shape == x.shape[:2]
    assert maps.saliency.max() == pytest.approx(1.0) and (maps.saliency > 0).sum() > 20
    assert maps.gradcam.min() >= 0.0 and maps.gradcam.max() <= 1.0
    other = saliency_maps(run, x, class_index=(maps.class_index + 1) % 10)
    assert other.class_index == (maps.class_index + 1) % 10
    assert not np.allclose(other.saliency, maps.saliency)


def test_top_losses_are_the_highest_losses(run):
    from convolab.explain.pictures import top_losses

    ds = run.test_set()
    probs = run.predict(ds.x_test)
    losses = -np.log(np.clip(probs[np.arange(len(ds.y_test)), ds.y_test], 1e-7, 1.0))
    top = top_losses(run, 10)
    assert len(top.indices) == 10
    assert set(top.indices) == set(np.argsort(-losses, kind="stable")[:10])
    assert (np.diff(top.losses) <= 0).all()
    assert top.losses[0] == pytest.approx(losses.max(), rel=1e-5)
    assert (top.predicted != top.true).all()  # the worst losses are all mistakes
    assert top.wrong == int((probs.argmax(axis=1) != ds.y_test).sum())


# ----------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def mlp_run(run, tmp_path_factory):
    """A copy of the run holding an mlp-bn model, which NumPy cannot mirror."""
    from convolab.models import create_model

    copy = tmp_path_factory.mktemp("mlp") / "run"
    shutil.copytree(run.path, copy)
    create_model("mlp-bn").save(copy / "model.keras")
    return copy


@pytest.mark.parametrize("argv, words", [
    (["explain", "@", "missing.png"], ["missing.png", "does not exist"]),
    (["explain", "@", "junk.png"], ["junk.png", "not an image"]),
    (["explain", "@", "test:99999"], ["test:99999", "10000"]),
    (["explain", "@", "test:0", "--position", "26", "0"], ["--position", "0 to 25"]),
    (["explain", "@", "test:0", "--html", "page.txt"], ["--html", ".html"]),
    (["explain", "@"], ["IMAGE"]),
    (["explain", "MLP", "test:0"], ["cannot walk through", "BatchNormalization"]),
    (["explain", "no-such-run", "test:0"], ["no-such-run", "train-numpy"]),
    (["show", "filters", "MLP"], ["Conv2D"]),
    (["show", "saliency", "@"], ["needs an IMAGE"]),
    (["show", "filters", "@", "test:0"], ["takes no IMAGE"]),
    (["show", "saliency", "@", "test:0", "--class", "cat"], ["cat", "not a class"]),
    (["show", "top-losses", "@", "--n", "0"], ["--n"]),
    (["show", "filters", "@", "--out", "f.jpg"], [".png"]),
    (["show", "feature-maps", "no-such-run", "test:0"], ["no-such-run", "does not exist"]),
])
def test_bad_input_is_one_line(run, mlp_run, capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.png").write_bytes(b"this is not a picture")
    argv = [str(run.path) if a == "@" else str(mlp_run) if a == "MLP" else a for a in argv]
    code, out, err = run_cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("convolab: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


def test_cli_explain_writes_the_page_in_spanish(run, capsys, tmp_path):
    page = tmp_path / "es.html"
    code, out, err = run_cli(capsys, "explain", run.path, "test:1", "--no-terminal", "--html",
                             page, "--lang", "es")
    assert code == 0, err
    text = page.read_text()
    assert '<html lang="es">' in text and "Comprobación con Keras" in text
    assert "Un valor de salida paso a paso" in text and "aplanado" in text
    assert '<html lang="en">' in (run.path / "report.html").read_text()  # keeps its own
    code, _, err = run_cli(capsys, "explain", run.path, "test:1", "--lang", "fr")
    assert_user_error(code, err, "--lang 'fr'")
