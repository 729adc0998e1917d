"""Elastic distortion: a smooth per-image displacement of the size asked for, off at inference.

A linear ramp image I(y, x) = x is resampled exactly by bilinear interpolation, so the
output minus the input is the horizontal displacement field itself: the tests measure
the field's size and smoothness from it.
"""

import numpy as np
import pytest

from convolab.augment import augmentation_layers
from convolab.config import AugmentConfig, resolve_config
from convolab.elastic import RandomElastic, gaussian_matrix
from convolab.errors import ConvolabError

SIZE = 40


def ramp(n=16, axis=1):
    y, x = np.mgrid[:SIZE, :SIZE].astype("float32")
    img = x if axis == 1 else y
    return np.repeat(img[None, :, :, None], n, axis=0)


def field(alpha, sigma, axis=1, seed=3):
    """The displacement along `axis` in the image interior (away from the zero border)."""
    images = ramp(axis=axis)
    out = np.asarray(RandomElastic(alpha, sigma, seed=seed)(images, training=True))
    return (out - images)[:, 8:-8, 8:-8, 0]


def test_gaussian_matrix_rows_sum_to_one_and_blur():
    g = gaussian_matrix(28, 4.0)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-6)
    assert g[14, 14] > g[14, 18] > g[14, 24] > 0


def test_identity_at_inference():
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    layer = RandomElastic(34.0, 4.0, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    assert not np.allclose(np.asarray(layer(images, training=True)), images)


def test_displacement_scales_with_alpha_and_differs_per_image():
    small, big = field(2.0, 4.0), field(4.0, 4.0)  # same seed: the same field, doubled
    np.testing.assert_allclose(big, 2 * small, atol=1e-3)
    rms = np.sqrt((small ** 2).mean())
    assert 0.05 < rms < 2.0
    assert np.abs(small[0] - small[1]).mean() > 0.2 * rms  # each image its own field


def test_both_directions_move():
    assert np.sqrt((field(3.0, 4.0, axis=0) ** 2).mean()) > 0.05


def test_sigma_sets_smoothness():
    def roughness(sigma):
        f = field(3.0, sigma)
        return np.abs(np.diff(f, axis=2)).mean() / np.abs(f).mean()
    assert roughness(6.0) < 0.5 * roughness(1.0)


def test_channels_share_one_field_and_outside_is_zero():
    rng = np.random.default_rng(1)
    gray = rng.random((3, 20, 20, 1)).astype("float32")
    rgb = np.concatenate([gray, 2 * gray, 3 * gray], axis=-1)
    out = np.asarray(RandomElastic(6.0, 3.0, seed=5)(rgb, training=True))
    np.testing.assert_allclose(out[..., 1], 2 * out[..., 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[..., 2], 3 * out[..., 0], rtol=1e-5, atol=1e-5)
    # A field far larger than the image moves most samples off it, where the fill is 0.
    far = np.asarray(RandomElastic(500.0, 8.0, seed=5)(np.ones((8, 20, 20, 1), "float32"),
                                                     training=True))
    assert far.min() == 0.0 and far.mean() < 0.5


def test_config_turns_it_on_and_rejects_bad_values():
    cfg = AugmentConfig(enabled=True, rotation_range=0, width_shift_range=0,
                        height_shift_range=0, zoom_range=0, elastic_alpha=34, elastic_sigma=4)
    (layer,) = augmentation_layers(cfg)
    assert isinstance(layer, RandomElastic) and (layer.alpha, layer.sigma) == (34.0, 4.0)
    assert augmentation_layers(AugmentConfig(enabled=True, rotation_range=0,
                                             width_shift_range=0, height_shift_range=0,
                                             zoom_range=0)) == []
    for bad in ({"elastic_alpha": -1}, {"elastic_sigma": 0}):
        with pytest.raises(ConvolabError, match="elastic"):
            resolve_config(overrides={"augment": bad})


def test_saved_model_round_trip(tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    x = RandomElastic(34.0, 4.0, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = loaded.layers[1]
    assert isinstance(layer, RandomElastic) and (layer.alpha, layer.sigma) == (34.0, 4.0)
    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)
