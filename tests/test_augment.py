"""ImageDataGenerator parameters -> Keras layers: the transforms are what the user meant.

Each test draws many random transforms of a synthetic image and measures the result
(angle, shift, scale) with image moments, so a wrong unit (radians vs degrees, a fraction
of 2 pi vs of pi) fails.
"""

import math

import numpy as np
import pytest

from convolab.augment import augmentation_layers, warn_if_flip_wrong
from convolab.config import AugmentConfig

N = 300  # random draws per test


def only(**params):
    base = dict(enabled=True, rotation_range=0, width_shift_range=0, height_shift_range=0,
                shear_range=0, zoom_range=0, horizontal_flip=False, fill_mode="constant")
    base.update(params)
    return AugmentConfig(**base)


def apply(cfg, image):
    (layer,) = augmentation_layers(cfg, seed=1)
    batch = np.repeat(image[None, :, :, None], N, axis=0).astype("float32")
    return np.asarray(layer(batch, training=True))[..., 0]


def moments(img):
    """(centre x, centre y, principal-axis angle in degrees, sd along x, sd along y)."""
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    w = img / img.sum()
    cx, cy = (w * xs).sum(), (w * ys).sum()
    cxx, cyy = (w * (xs - cx) ** 2).sum(), (w * (ys - cy) ** 2).sum()
    cxy = (w * (xs - cx) * (ys - cy)).sum()
    angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy))
    return cx, cy, angle, math.sqrt(cxx), math.sqrt(cyy)


def bar(horizontal=True, size=56):
    img = np.zeros((size, size), "float32")
    c = size // 2
    if horizontal:
        img[c - 1 : c + 1, 8 : size - 8] = 255
    else:
        img[8 : size - 8, c - 1 : c + 1] = 255
    return img


def test_rotation_range_is_in_degrees():
    out = apply(only(rotation_range=30), bar())
    angles = np.array([moments(o)[2] for o in out])
    assert np.abs(angles).max() <= 31.5
    assert angles.max() > 26 and angles.min() < -26  # uses the whole +-30 range


def test_shift_ranges_are_fractions_of_the_size():
    img = np.zeros((40, 40), "float32")
    img[18:22, 18:22] = 255
    out = apply(only(width_shift_range=0.1), img)
    dx = np.array([moments(o)[0] for o in out]) - moments(img)[0]
    dy = np.array([moments(o)[1] for o in out]) - moments(img)[1]
    assert np.abs(dx).max() <= 4.0 + 0.5 and np.abs(dx).max() > 3.0  # 10% of 40 px
    assert np.abs(dy).max() < 0.5
    out = apply(only(height_shift_range=0.2), img)
    dy = np.array([moments(o)[1] for o in out]) - moments(img)[1]
    assert np.abs(dy).max() <= 8.5 and np.abs(dy).max() > 6.5


def test_shear_range_is_an_angle_in_degrees():
    out = apply(only(shear_range=20), bar(horizontal=False))
    # A vertical bar sheared along x by angle a tilts a degrees from vertical.
    tilt = np.array([90 - abs(moments(o)[2]) for o in out])
    assert tilt.max() <= 21.5 and tilt.max() > 16


def test_zoom_range_scales_x_and_y_independently():
    img = np.zeros((56, 56), "float32")
    img[18:38, 18:38] = 255
    out = apply(only(zoom_range=0.25), img)
    sx0, sy0 = moments(img)[3:]
    sx = np.array([moments(o)[3] for o in out]) / sx0
    sy = np.array([moments(o)[4] for o in out]) / sy0
    # ImageDataGenerator: zoom z in [1-Z, 1+Z] samples z times the area, so size scales 1/z.
    assert sx.min() >= 1 / 1.25 - 0.03 and sx.max() <= 1 / 0.75 + 0.03
    assert sx.max() > 1.2 and sx.min() < 0.85
    assert np.abs(sx - sy).max() > 0.1  # independent, as ImageDataGenerator draws zx, zy


def test_horizontal_flip_mirrors_some_images():
    img = np.zeros((10, 10), "float32")
    img[2:8, 1:3] = 255
    out = apply(only(horizontal_flip=True), img)
    flipped = [np.allclose(o, img[:, ::-1]) for o in out]
    same = [np.allclose(o, img) for o in out]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0.3 < np.mean(flipped) < 0.7


def test_layers_are_identity_at_inference():
    cfg = AugmentConfig(enabled=True, rotation_range=30, shear_range=10, zoom_range=0.2,
                        horizontal_flip=True)
    img = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    for layer in augmentation_layers(cfg):
        assert np.allclose(np.asarray(layer(img, training=False)), img)


def test_off_means_no_layers():
    assert augmentation_layers(AugmentConfig(enabled=False, rotation_range=30)) == []


def test_flip_on_digits_warns():
    cfg = AugmentConfig(enabled=True, horizontal_flip=True)
    with pytest.warns(UserWarning, match="horizontal_flip"):
        assert warn_if_flip_wrong(cfg, "mnist")
    assert warn_if_flip_wrong(cfg, "fashion_mnist") is None
