"""Everything after training works on a transfer run: the report, evaluate, predict on photos
of any size and colour, export (ONNX and SavedModel within 1e-5 of Keras), Grad-CAM on the
base (`show saliency`), and clear words where a picture needs a plain CNN.

The run: EfficientNet-Lite0 (weights from a file, 96 px: a 3x3 last feature map) on a folder of
real photo crops (scikit-image's cat and coffee pictures) of mixed sizes, resized to 40x40
RGB."""

import keras
import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

import convolab
from backends import export_needs_tensorflow
from cli_helpers import assert_user_error, run_cli
from convolab.explain.pictures import saliency_maps
from convolab.export import export_run

TOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Cached features go to a folder of this module's, not the user's convolab cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONVOLAB_HOME", str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, image in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        (root / name).mkdir()
        height, width, _ = image.shape
        for i in range(15):
            size = int(rng.integers(60, 140))
            y, x = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
            Image.fromarray(image[y:y + size, x:x + size]).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(photo_folder, tmp_path_factory):
    from convolab.transfer import backbones

    # A weights file stands for pretrained weights: the base runs in inference mode, as
    # with ImageNet weights.
    weights = tmp_path_factory.mktemp("weights") / "lite0.weights.h5"
    keras.utils.set_random_seed(0)  # the same base whatever ran before
    backbones.build_base("efficientnet_lite0", 96, None).save_weights(weights)
    out = tmp_path_factory.mktemp("transfer-run") / "run"
    return convolab.train({
        "data": {"name": f"folder:{photo_folder}", "image_size": 40, "validation_split": 0.2},
        "model": {"backbone": "efficientnet_lite0", "weights": str(weights), "base_size": 96},
        "transfer": {"freeze_epochs": 1, "unfreeze": "all"},
        "train": {"epochs": 2, "batch_size": 8}, "out": str(out)}, verbose=0)


def test_the_run_and_its_report_name_the_backbone(run):
    assert run.input_shape == (40, 40, 3)
    assert run.metrics["model"] == "efficientnet_lite0"
    assert run.metrics["test_samples"] == 6 and run.class_names == ["cat", "coffee"]
    html = (run.path / "report.html").read_text()
    assert "efficientnet_lite0" in html


def test_evaluate_from_the_command_line(run, capsys):
    code, out, err = run_cli(capsys, "evaluate", run.path)
    assert code == 0, err
    assert f"test accuracy {run.metrics['test_accuracy']:.4f}" in out


def test_predict_photos_of_any_size_and_colour(run, tmp_path, capsys):
    grey = tmp_path / "grey-small.jpg"
    Image.fromarray(skdata.coffee()[:23, :31]).convert("L").save(grey)
    rgba = tmp_path / "wide-rgba.png"
    Image.fromarray(skdata.chelsea()[:50, :90]).convert("RGBA").save(rgba)
    results, errors = run.predict_files([str(grey), str(rgba)], top_k=2)
    assert errors == [] and len(results) == 2
    for r in results:
        assert r["label"] in ("cat", "coffee")
        assert sum(p for _, p in r["top"]) == pytest.approx(1.0, abs=1e-4)
    code, out, err = run_cli(capsys, "predict", run.path, grey, rgba)
    assert code == 0, err
    assert "grey-small.jpg" in out and "wide-rgba.png" in out


@export_needs_tensorflow
@pytest.mark.parametrize("fmt", ["onnx", "tf_saved_model"])
def test_export_matches_keras(run, tmp_path, fmt):
    result = export_run(run.path, fmt, out=tmp_path / f"model-{fmt}")
    assert result.samples == 6 and result.max_abs_diff <= TOL


def test_saliency_weighs_the_base_feature_maps(run, capsys):
    pixels = run.test_set().x_test[0]
    maps = saliency_maps(run, pixels)
    assert maps.gradcam_layer.startswith("efficientnet_lite0")
    assert maps.gradcam_grid == (3, 3)
    assert maps.saliency.shape == maps.gradcam.shape == (40, 40)
    assert maps.saliency.max() == pytest.approx(1.0)  # the gradient reaches the pixels
    assert 0.0 <= maps.gradcam.min() and maps.gradcam.max() == pytest.approx(1.0)
    assert np.ptp(maps.gradcam) > 0.1  # it tells places apart
    code, out, err = run_cli(capsys, "show", "saliency", run.path, "test:0")
    assert code == 0, err
    assert (run.path / "plots" / "saliency-test-0.png").is_file()


@pytest.mark.parametrize("kind", ["filters", "feature-maps"])
def test_pictures_of_a_plain_cnn_say_why_not(run, capsys, kind):
    args = [kind, run.path] + (["test:0"] if kind == "feature-maps" else [])
    code, _, err = run_cli(capsys, "show", *args)
    assert_user_error(code, err, "transfer run", "saliency")
