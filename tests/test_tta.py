"""Test-time augmentation: exact views, averaging, refusals, and the evaluate/predict flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cli_helpers import assert_user_error, run_cli
from convolab.errors import ConvolabError
from convolab.preprocess import prepare_files
from convolab.tta import SHIFTS, check_tta, predict_tta, tta_views


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`image` (H, W) moved right by dx and down by dy, zeros coming in."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_views_are_exact_pixel_shifts_and_mirrors():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 6, 7, 1)).astype("float32")
    views = tta_views(images, "shifts")
    assert len(views) == len(SHIFTS) == 5
    for (dx, dy), view in zip(SHIFTS, views):
        for i in range(3):
            np.testing.assert_array_equal(view[i, :, :, 0], shifted(images[i, :, :, 0], dx, dy))
    flipped = tta_views(images, "shifts-flip")
    assert len(flipped) == 10
    np.testing.assert_array_equal(flipped[5], images[:, :, ::-1])
    np.testing.assert_array_equal(flipped[6][0, :, :, 0], shifted(images[0, :, :, 0], 1, 0)[:, ::-1])


def test_predictions_of_the_views_are_averaged():
    images = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4, 1)

    def first_row(x):  # a stand-in "model": the top row's pixels
        return x[:, 0, :, 0]

    expected = np.mean([first_row(v) for v in tta_views(images, "shifts")], axis=0)
    np.testing.assert_allclose(predict_tta(first_row, images, "shifts"), expected)
    assert not np.allclose(expected, first_row(images))


@pytest.mark.parametrize("kind, dataset, words", [
    ("shift", "mnist", ["unknown test-time augmentation", "did you mean 'shifts'"]),
    ("shifts-flip", "mnist", ["mirrors", "--tta shifts"]),
    ("shifts-flip", "digits", ["mirrors"]),
])
def test_bad_kinds_are_refused_in_one_line(kind, dataset, words):
    with pytest.raises(ConvolabError) as info:
        check_tta(kind, dataset)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words)


def test_flips_are_allowed_where_a_mirror_keeps_the_class():
    check_tta("shifts-flip", "fashion_mnist")
    check_tta(None, "mnist")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import convolab

    out = tmp_path_factory.mktemp("tta") / "run"
    return convolab.train({"data": {"train_samples": 1000}, "train": {"epochs": 1},
                           "out": str(out)}, verbose=0)


def test_evaluate_and_predict_with_tta(capsys, run, tmp_path):
    code, out, err = run_cli(capsys, "evaluate", run.path, "--tta", "shifts", "--json")
    assert code == 0, err
    with_tta = json.loads(out)
    plain = run.evaluate()
    assert with_tta["tta"] == "shifts" and "tta" not in plain
    # the views change the probabilities, yet a 1-pixel shift keeps most digits right
    assert with_tta["test_loss"] != plain["test_loss"]
    assert abs(with_tta["test_accuracy"] - plain["test_accuracy"]) < 0.1

    digit = run.test_set().x_test[0, :, :, 0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    code, out, err = run_cli(capsys, "predict", run.path, tmp_path / "digit.png", "--tta",
                             "shifts", "--json")
    assert code == 0, err
    p = json.loads(out)["predictions"][0]
    batch, _, _ = prepare_files([tmp_path / "digit.png"], run.input_shape,
                                run.preprocessing_style())
    assert p["probability"] == pytest.approx(run.predict(batch, tta="shifts").max(), abs=1e-5)
    assert p["probability"] != pytest.approx(run.predict(batch).max(), abs=1e-7)

    code, _, err = run_cli(capsys, "evaluate", run.path, "--tta", "shifts-flip")
    assert_user_error(code, err, "mirrors", "mnist")
    code, _, err = run_cli(capsys, "predict", run.path, tmp_path / "digit.png", "--tta", "x")
    assert_user_error(code, err, "unknown test-time augmentation")
