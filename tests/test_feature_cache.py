"""The frozen base's feature cache: hits for the same images and base, misses for anything
else (pixels, weights, size), damaged files computed again, the size limit."""

import os

import keras
import numpy as np
import pytest

from convolab.errors import ConvolabError
from convolab.transfer import features
from convolab.transfer.model import build_transfer_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))


def tiny_model(size=32):
    keras.utils.set_random_seed(0)
    return build_transfer_model({"backbone": "efficientnet_lite0", "weights": "none",
                                 "image_size": size}, (8, 8, 1), 3)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (20, 8, 8, 1)).astype("uint8")


def test_same_images_and_base_hit_and_give_the_model_numbers(images):
    model = tiny_model()
    extractor = features.feature_extractor(model)
    first, info = features.cached_features(extractor, images)
    assert not info["hit"] and first.shape == (20, 1280) and first.dtype == np.float32
    again, info = features.cached_features(extractor, images)
    assert info["hit"] and np.array_equal(first, again)
    direct = extractor.predict(images.astype("float32"), verbose=0)
    assert np.allclose(first, direct, atol=1e-5)
    probs = features.head_model(model)(first)
    assert np.allclose(probs, model.predict(images.astype("float32"), verbose=0), atol=1e-5)


def test_other_pixels_weights_or_size_miss(images):
    model = tiny_model()
    extractor = features.feature_extractor(model)
    features.cached_features(extractor, images)
    changed = images.copy()
    changed[3, 4, 4, 0] ^= 1  # one pixel of one image
    assert not features.cached_features(extractor, changed)[1]["hit"]
    stats = next(w for w in extractor.weights if "moving_mean" in w.path)
    before = features.extractor_fingerprint(extractor)
    stats.assign(stats.numpy() + 0.5)  # a BatchNormalization statistic of the base
    assert features.extractor_fingerprint(extractor) != before
    assert not features.cached_features(extractor, images)[1]["hit"]
    bigger = features.feature_extractor(tiny_model(size=40))
    assert not features.cached_features(bigger, images)[1]["hit"]


def test_a_damaged_file_is_computed_again(images):
    extractor = features.feature_extractor(tiny_model())
    first, info = features.cached_features(extractor, images)
    path = features.features_dir() / os.path.basename(info["file"])
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again, info = features.cached_features(extractor, images)
    assert not info["hit"] and np.array_equal(first, again)
    assert features.cached_features(extractor, images)[1]["hit"]


def test_the_least_recently_used_files_go_first(tmp_path, monkeypatch):
    folder = features.features_dir()
    folder.mkdir(parents=True)
    paths = []
    for age, name in enumerate(["old", "middle", "new"]):
        path = folder / f"{name}.npy"
        np.save(path, np.zeros((100, 10), "float32"))
        os.utime(path, (1000 + age, 1000 + age))
        paths.append(path)
    size = paths[0].stat().st_size
    assert features.prune(limit=2 * size) == [paths[0]]
    assert features.prune(keep=paths[1], limit=size) == [paths[2]]
    assert [p.name for p in folder.iterdir()] == ["middle.npy"]
    monkeypatch.setenv("CONVOLAB_FEATURE_CACHE_MB", "lots")
    with pytest.raises(ConvolabError, match="CONVOLAB_FEATURE_CACHE_MB"):
        features.cache_limit_bytes()
    monkeypatch.setenv("CONVOLAB_FEATURE_CACHE_MB", "1.5")
    assert features.cache_limit_bytes() == int(1.5 * 1024**2)
