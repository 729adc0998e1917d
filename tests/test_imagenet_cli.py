"""`convolab imagenet`: real ImageNet weights classify real photos, from the command line."""

import json
import subprocess
import sys

import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")


def convolab(*args):
    proc = subprocess.run([sys.executable, "-m", "convolab", *map(str, args)],
                          capture_output=True, text=True, timeout=600)
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
    (["imagenet", "{photos}", "--backbone", "vgg16"], ["vgg16", "efficientnet_lite0"]),
    (["imagenet", "{photos}", "--backbone", "efficientnet_lite9"], ["did you mean"]),
    (["imagenet", "{photos}", "--top-k", "0"], ["--top-k"]),
])
def test_bad_input_is_one_line(photos, args, words):
    code, _, err = convolab(*[a.format(photos=photos) for a in args])
    assert code == 2 and err.count("\n") == 1 and err.startswith("convolab: error: "), err
    for word in words:
        assert word in err
