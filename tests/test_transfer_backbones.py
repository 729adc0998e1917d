"""Transfer backbones: the registry, building every base small, input adaptation against
keras.applications' own preprocess_input, save/load, the BatchNormalization rule when
unfreezing, block-wise unfreezing, bad input, and the keras.applications weights cache
(served from a loopback HTTP server)."""

from __future__ import annotations

import hashlib
import inspect

import h5py
import keras
import numpy as np
import pytest

from convolab.errors import ConvolabError
from http_server import Server
from convolab.transfer import adapt, backbones, efficientnet_lite
from convolab.transfer import keras_weights as kw
from convolab.transfer.model import build_transfer_model, find_base, freeze_base, unfreeze

NAMES = [b.name for b in backbones.list_backbones()]
KERAS_MODULES = {"vgg16": "vgg16", "resnet50": "resnet50", "inception_v3": "inception_v3",
                 "efficientnet_b0": "efficientnet", "mobilenet_v2": "mobilenet_v2"}


#: (first group, last group, number of groups) of each base's blocks.
BLOCKS = {"vgg16": ("block1", "block5", 5), "resnet50": ("stem", "conv5_block3", 17),
          "inception_v3": ("stem", "mixed10", 12), "efficientnet_b0": ("stem", "top", 18),
          "mobilenet_v2": ("stem", "top", 19), "efficientnet_lite0": ("stem", "top", 18),
          "efficientnet_lite1": ("stem", "top", 23), "efficientnet_lite2": ("stem", "top", 23)}


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def _images(n=8, size=28, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, channels)).astype("float32")


def _spec(name, **changes):
    spec = {"type": "transfer", "backbone": name, "weights": "none",
            "image_size": backbones.get_backbone(name).min_size}
    spec.update(changes)
    return spec


# ---------------------------------------------------------------- registry

def test_registry_entries_and_listing():
    assert NAMES == ["vgg16", "resnet50", "inception_v3", "efficientnet_b0", "mobilenet_v2",
                     "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    for b in backbones.list_backbones():
        row = backbones.describe(b.name)
        assert set(row) >= {"name", "default_size", "min_size", "preprocessing",
                            "weights_source", "imagenet_top1"}
        assert b.preprocessing in adapt.MODES and 60 < b.imagenet_top1 < 80
        assert b.family in ("keras.applications", "convolab")
    assert backbones.get_backbone("inception_v3").min_size == 75


@pytest.mark.parametrize("name", list(KERAS_MODULES))
def test_min_size_is_the_one_keras_applications_enforces(name):
    b = backbones.get_backbone(name)
    constructor = getattr(keras.applications, b.constructor)
    below = (b.min_size - 1, b.min_size - 1, 3)
    with pytest.raises(ValueError, match=f"at least {b.min_size}"):
        constructor(include_top=False, weights=None, input_shape=below)
    with pytest.raises(ConvolabError) as excinfo:
        backbones.check_image_size(b, b.min_size - 1)
    assert name in _one_line(excinfo) and f"{b.min_size} px minimum" in str(excinfo.value)


# ---------------------------------------------------------------- every backbone trains

@pytest.mark.parametrize("name", NAMES)
def test_every_backbone_builds_small_and_trains_one_step(name):
    keras.utils.set_random_seed(0)
    model = build_transfer_model(_spec(name), (28, 28, 1), 3, name=f"t_{name}")
    base = find_base(model)
    assert base.name == name and model.get_layer(name) is base
    assert len(base.output.shape) == 4  # no pooling: the last feature map stays available
    freeze_base(model)
    # One step: tracing the graph would cost ~10 s a backbone, running eagerly ~1 s.
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    loss = model.train_on_batch(_images(), np.arange(8) % 3)
    assert np.isfinite(float(np.asarray(loss).ravel()[0]))
    assert tuple(model(_images(2), training=False).shape) == (2, 3)
    groups, labels = backbones.blocks(base, name), backbones.block_labels(base, name)
    assert len(labels) == len(set(labels))
    assert (labels[0], labels[-1], len(labels)) == BLOCKS[name]
    assert sum(groups, []) == [layer.name for layer in base.layers
                               if not isinstance(layer, keras.layers.InputLayer)]


# ---------------------------------------------------------------- preprocessing

@pytest.mark.parametrize("name", NAMES)
def test_preprocessing_matches_the_reference_of_each_backbone(name):
    b = backbones.get_backbone(name)
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    ours = np.asarray(adapt.ImageNetPreprocessing(b.preprocessing)(x))
    if b.family == "convolab":
        reference = efficientnet_lite.preprocess_input(x.copy())
    else:
        module = getattr(keras.applications, KERAS_MODULES[name])
        reference = np.asarray(module.preprocess_input(x.copy()))
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_torch_mode_matches_densenet():
    x = np.random.default_rng(2).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    ours = np.asarray(adapt.ImageNetPreprocessing("torch")(x))
    reference = keras.applications.densenet.preprocess_input(x.copy())
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_grayscale_to_rgb_and_unknown_mode():
    x = _images(2, 5, 1)
    rgb = np.asarray(adapt.GrayscaleToRGB()(x))
    assert rgb.shape == (2, 5, 5, 3) and all(np.array_equal(rgb[..., c], x[..., 0])
                                             for c in range(3))
    three = _images(2, 5, 3)
    assert np.array_equal(np.asarray(adapt.GrayscaleToRGB()(three)), three)
    with pytest.raises(ConvolabError, match="mode 'cafe' is not known"):
        adapt.ImageNetPreprocessing("cafe")
    with pytest.raises(ConvolabError, match="4 channels"):
        adapt.input_adapter("vgg16", 32, 4)


def test_adapter_layers_skip_what_is_not_needed():
    kinds = lambda layers: [type(layer).__name__ for layer in layers]
    assert kinds(adapt.input_adapter("vgg16", 32, 1, (28, 28))) == \
        ["GrayscaleToRGB", "Resizing", "ImageNetPreprocessing"]
    assert kinds(adapt.input_adapter("vgg16", 32, 3, (32, 32))) == ["ImageNetPreprocessing"]


# ---------------------------------------------------------------- save / load

def test_grayscale_layer_round_trips_through_keras_file(tmp_path):
    inputs = keras.Input((6, 6, 1))
    model = keras.Model(inputs, adapt.ImageNetPreprocessing("caffe")(
        adapt.GrayscaleToRGB()(inputs)))
    model.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    x = _images(3, 6, 1)
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_whole_transfer_model_round_trips(tmp_path):
    keras.utils.set_random_seed(1)
    spec = _spec("efficientnet_lite0", dropout=0.2,
                 head=[{"Dense": {"units": 16, "activation": "relu"}}])
    model = build_transfer_model(spec, (28, 28, 1), 4, name="lite_probe")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = _images(4)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  np.asarray(loaded(x, training=False)))
    assert find_base(loaded).name == "efficientnet_lite0"
    features = keras.Model(loaded.input, loaded.get_layer("avg_pool").input)  # Grad-CAM's way
    assert tuple(features(x).shape) == (4, 1, 1, 1280)
    assert [type(layer).__name__ for layer in loaded.layers[1:4]] == \
        ["GrayscaleToRGB", "Resizing", "ImageNetPreprocessing"]


# ---------------------------------------------------------------- freezing

@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(2)
    return build_transfer_model(_spec("mobilenet_v2"), (28, 28, 1), 3, name="mnv2")


def test_unfreeze_all_keeps_batchnorm_statistics_while_convs_learn(mobilenet):
    summary = unfreeze(mobilenet, "all")
    base = find_base(mobilenet)
    bns = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and not any(bn.trainable for bn in bns)
    assert summary["base_trainable_params"] > 0
    convs = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    stats = [np.array(v) for bn in bns for v in (bn.moving_mean, bn.moving_variance)]
    mobilenet.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy", run_eagerly=True)
    mobilenet.fit(_images(), np.arange(8) % 3, batch_size=8, epochs=1, verbose=0)
    after = [np.array(v) for bn in bns for v in (bn.moving_mean, bn.moving_variance)]
    assert all(np.array_equal(a, b) for a, b in zip(stats, after))
    # Every kernel is among the weights the optimizer steps. (Whether one visibly moves
    # is not asked: a randomly initialised MobileNetV2's activations fade to ~1e-10 by
    # its top, so its gradients are ~1e-13 and a step changes a kernel in float32 rounding
    # only, on some backends not at all.)
    trained = {id(v) for v in mobilenet.trainable_weights}
    assert all(id(c.kernel) in trained for c in convs)
    assert not any(id(v) in trained for bn in bns for v in (bn.moving_mean, bn.moving_variance))


def test_unfreeze_top_blocks_none_and_too_many(mobilenet):
    base = find_base(mobilenet)
    groups = backbones.blocks(base, "mobilenet_v2")
    summary = unfreeze(mobilenet, 2)
    expected = {name for group in groups[-2:] for name in group
                if base.get_layer(name).weights
                and not isinstance(base.get_layer(name), keras.layers.BatchNormalization)}
    assert set(summary["trainable_layers"]) == expected and expected
    assert backbones.block_labels(base, "mobilenet_v2")[-2:] == ["block_16", "top"]
    summary = unfreeze(mobilenet, "none")
    assert summary["base_trainable_params"] == 0 and not base.trainable_weights
    assert summary["trainable_params"] > 0  # the classifier still learns
    with pytest.raises(ConvolabError) as excinfo:
        unfreeze(mobilenet, len(groups) + 1)
    assert "mobilenet_v2" in _one_line(excinfo) and f"it has {len(groups)}" in str(excinfo.value)
    with pytest.raises(ConvolabError, match="'all', 'none'"):
        unfreeze(mobilenet, "some")
    freeze_base(mobilenet)
    assert not base.trainable_weights


# ---------------------------------------------------------------- bad input

def test_bad_specs_are_one_line_errors():
    with pytest.raises(ConvolabError) as excinfo:
        backbones.get_backbone("resnet5")
    assert "did you mean 'resnet50'" in _one_line(excinfo) and "vgg16" in str(excinfo.value)
    with pytest.raises(ConvolabError) as excinfo:
        build_transfer_model(_spec("inception_v3", image_size=64), (28, 28, 1), 3)
    assert "75 px minimum of inception_v3" in _one_line(excinfo)
    with pytest.raises(ConvolabError) as excinfo:
        build_transfer_model(_spec("vgg16", dropuot=0.2), (28, 28, 1), 3)
    assert "'dropuot'" in _one_line(excinfo) and "did you mean 'dropout'" in str(excinfo.value)
    with pytest.raises(ConvolabError, match="did you mean 'vgg16'"):
        build_transfer_model(_spec("vgg16", backbone="vgg61"), (28, 28, 1), 3)
    with pytest.raises(ConvolabError, match="not imagenet, none or a file path"):
        build_transfer_model(_spec("vgg16", weights=3), (28, 28, 1), 3)
    with pytest.raises(ConvolabError, match="whole number"):
        build_transfer_model(_spec("vgg16", image_size=32.5), (28, 28, 1), 3)
    with pytest.raises(ConvolabError, match="did you mean 'Dense'"):
        build_transfer_model(_spec("vgg16", head=[{"Dens": {"units": 4}}]), (28, 28, 1), 3)


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory):
    """VGG16 base weights (32x32, fresh) as a .weights.h5 and in the legacy .h5 layout
    keras.applications' ImageNet files use."""
    from keras.src.legacy.saving import legacy_h5_format

    folder = tmp_path_factory.mktemp("vgg")
    keras.utils.set_random_seed(3)
    base = backbones.build_base("vgg16", 32, None)
    base.save_weights(folder / "vgg.weights.h5")
    with h5py.File(folder / "vgg_notop.h5", "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, base)
    return base, folder


@pytest.mark.parametrize("file", ["vgg.weights.h5", "vgg_notop.h5"])
def test_local_weights_file_loads_into_the_base(vgg_weights, file):
    base, folder = vgg_weights
    loaded = backbones.build_base("vgg16", 40, folder / file)
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), loaded.get_weights()))


def test_bad_weights_files_are_one_line_errors_naming_them(vgg_weights, tmp_path):
    _, folder = vgg_weights
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(ConvolabError) as excinfo:
        backbones.build_base("vgg16", 32, missing)
    assert f"{missing}: no such weights file" in _one_line(excinfo)
    data = (folder / "vgg.weights.h5").read_bytes()
    truncated = tmp_path / "cut.weights.h5"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ConvolabError) as excinfo:
        backbones.build_base("vgg16", 32, truncated)
    assert str(truncated) in _one_line(excinfo) and "truncated" in str(excinfo.value)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(ConvolabError) as excinfo:
        backbones.build_base("vgg16", 32, junk)
    assert f"{junk}: not an HDF5 weights file" in _one_line(excinfo)
    with pytest.raises(ConvolabError) as excinfo:
        backbones.build_base("mobilenet_v2", 32, folder / "vgg.weights.h5")
    message = _one_line(excinfo)
    assert "vgg.weights.h5: these weights do not fit mobilenet_v2" in message


def test_efficientnet_b0_from_the_keras_h5_gets_its_imagenet_scaling(tmp_path):
    from keras.src.legacy.saving import legacy_h5_format

    base = backbones.build_base("efficientnet_b0", 32, None)
    norm = next(layer for layer in base.layers if isinstance(layer, keras.layers.Normalization))
    norm.adapt_variance.assign(np.array([0.05, 0.06, 0.07], "float32"))
    norm.finalize_state()
    with h5py.File(tmp_path / "efficientnetb0_notop.h5", "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, base)
    loaded = backbones.build_base("efficientnet_b0", 32, tmp_path / "efficientnetb0_notop.h5")
    norm2 = next(layer for layer in loaded.layers
                 if isinstance(layer, keras.layers.Normalization))
    np.testing.assert_allclose(np.array(norm2.adapt_variance),
                               np.array([0.05, 0.06, 0.07]) * kw.IMAGENET_STDDEV_RGB, rtol=1e-6)


# ---------------------------------------------------------------- keras.applications weights

def test_pins_are_the_ones_in_the_installed_keras_source():
    for name, module in KERAS_MODULES.items():
        module = "resnet" if module == "resnet50" else module
        source = inspect.getsource(getattr(keras.src.applications, module))
        pin = kw.weights_pin(name, 224)
        assert pin.url.startswith("https://storage.googleapis.com/")
        assert pin.file.endswith(("_notop.h5", "_no_top.h5"))
        if pin.file_hash:
            assert pin.file_hash in source
    assert kw.PINS["vgg16"].url == keras.src.applications.vgg16.WEIGHTS_PATH_NO_TOP
    assert kw.PINS["inception_v3"].url == \
        keras.src.applications.inception_v3.WEIGHTS_PATH_NO_TOP
    assert kw.PINS["resnet50"].url == \
        keras.src.applications.resnet.BASE_WEIGHTS_PATH + kw.PINS["resnet50"].file
    assert kw.PINS["efficientnet_b0"].url == \
        keras.src.applications.efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5"
    assert kw.weights_pin("mobilenet_v2", 96).url == \
        keras.src.applications.mobilenet_v2.BASE_WEIGHT_PATH + \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    assert kw.weights_pin("mobilenet_v2", 75).file.endswith("_224_no_top.h5")


def test_offline_with_an_empty_cache_says_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    with pytest.raises(ConvolabError) as excinfo:
        backbones.build_base("vgg16", 32, "imagenet")
    message = _one_line(excinfo)
    pin = kw.PINS["vgg16"]
    assert pin.file in message and pin.url in message and "--weights PATH" in message
    assert "skipped (CONVOLAB_OFFLINE=1)" in message
    folder = tmp_path / "home" / kw.FOLDER
    assert not folder.exists() or not any(folder.iterdir())


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVOLAB_OFFLINE", raising=False)
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_cached_file_that_no_longer_matches_is_fetched_again(server, monkeypatch, tmp_path,
                                                             algorithm):
    body = bytes(range(256)) * 40
    server.files["/tiny_notop.h5"] = body
    pin = kw.KerasWeights("tiny_notop.h5", server.base + "/tiny_notop.h5",
                          hashlib.new(algorithm, body).hexdigest())
    monkeypatch.setitem(kw.PINS, "vgg16", pin)
    path = kw.imagenet_weights_path("vgg16")
    assert path == tmp_path / "home" / kw.FOLDER / "tiny_notop.h5"
    assert path.read_bytes() == body and len(server.requests) == 1
    assert kw.imagenet_weights_path("vgg16") == path and len(server.requests) == 1
    path.write_bytes(body[:-1] + b"\x00")  # damaged in the cache
    assert kw.imagenet_weights_path("vgg16").read_bytes() == body
    assert len(server.requests) == 2


def test_download_that_fails_its_hash_is_refused_and_not_kept(server, monkeypatch, tmp_path):
    server.files["/tiny_notop.h5"] = b"something else"
    pin = kw.KerasWeights("tiny_notop.h5", server.base + "/tiny_notop.h5", "0" * 32)
    monkeypatch.setitem(kw.PINS, "vgg16", pin)
    with pytest.raises(ConvolabError) as excinfo:
        kw.imagenet_weights_path("vgg16")
    assert "failed its md5 check" in _one_line(excinfo) and "--weights PATH" in str(excinfo.value)
    assert not (tmp_path / "home" / kw.FOLDER / "tiny_notop.h5").exists()
    server.files.clear()
    with pytest.raises(ConvolabError, match="HTTP error 404"):
        kw.imagenet_weights_path("vgg16")
