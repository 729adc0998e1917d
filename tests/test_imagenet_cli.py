"""`convolab imagenet`: real ImageNet weights classify real photos, from the command line."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")


def convolab(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "convolab", *map(str, args)],
                          capture_output=True, text=True, timeout=600,
                          env=None if env is None else {**os.environ, **env})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(skimage_data.coffee()).convert("L").save(folder / "coffee-grey.jpg")
    return folder


def test_photos_get_their_imagenet_classes(photos):
    code, out, err = convolab("imagenet", photos, "--top-k", "3", "--json")
    assert code == 0, err
    assert err == ""
    top = {p["path"].rsplit("/", 1)[-1]: p["top"] for p in json.loads(out)["predictions"]}
    assert 281 <= top["chelsea.png"][0]["index"] <= 285          # a cat
    assert top["coffee-grey.jpg"][0]["index"] in (967, 968, 504)  # espresso, cup, coffee mug
    assert len(top["chelsea.png"]) == 3


@pytest.mark.parametrize("args, words", [
    (["imagenet", "missing.jpg"], ["missing.jpg", "does not exist"]),
    (["imagenet", "{photos}", "--backbone", "vgg16", "--weights", "{photos}/none.h5"],
     ["none.h5", "no such file", "vgg16"]),
    (["imagenet", "{photos}", "--backbone", "efficientnet_lite9"], ["did you mean"]),
    (["imagenet", "{photos}", "--top-k", "0"], ["--top-k"]),
])
def test_bad_input_is_one_line(photos, args, words):
    code, _, err = convolab(*[a.format(photos=photos) for a in args])
    assert code == 2 and err.count("\n") == 1 and err.startswith("convolab: error: "), err
    for word in words:
        assert word in err


def test_a_keras_classifier_offline_with_nothing_cached_says_what_and_how(photos, tmp_path):
    code, out, err = convolab("imagenet", photos, "--backbone", "vgg16",
                              env={"CONVOLAB_HOME": str(tmp_path / "home"),
                                   "CONVOLAB_OFFLINE": "1"})
    assert code == 2 and err.count("\n") == 1 and out == "", err
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in err  # the file with its top
    assert "https://storage.googleapis.com/" in err and "--weights PATH" in err


def test_a_keras_classifier_from_a_local_weights_file(photos, tmp_path):
    """The path a downloaded file takes, with a MobileNetV2 classifier the test saved: 1000
    ImageNet classes come out (the weights are untrained, so not the right ones)."""
    import keras

    from convolab.transfer.imagenet import imagenet_class_names

    network = keras.applications.MobileNetV2(weights=None, classifier_activation="softmax",
                                             name="mobilenet_v2")
    weights = tmp_path / "mobilenet_v2.weights.h5"
    network.save_weights(weights)
    code, out, err = convolab("imagenet", photos, "--backbone", "mobilenet_v2", "--weights",
                              weights, "--top-k", "2", "--json")
    assert code == 0, err
    predictions = json.loads(out)["predictions"]
    assert len(predictions) == 2
    names = imagenet_class_names()
    for p in predictions:
        assert [t["class"] for t in p["top"]] == [names[t["index"]] for t in p["top"]]
        assert p["top"][0]["probability"] >= p["top"][1]["probability"] > 0
