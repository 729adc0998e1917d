"""ImageNet weights of the keras.applications bases, fetched like a dataset, and local files.

Each base's `..._notop.h5` comes from the URL Keras itself uses, checked against the hash
Keras passes to `get_file` (taken from keras/src/applications/*.py of Keras 3.15): md5 when
it has 32 hex digits, sha256 when 64, as Keras decides. Keras pins no hash for MobileNetV2;
that file's sha256 is recorded on first download, so a later change is still caught.
Files live in `$CONVOLAB_HOME/keras-applications/` with a small JSON (URL, Keras hash,
sha256); a cached file that no longer matches is deleted and fetched again.

`load_weights` puts a local file (the same `.h5`, or a `.weights.h5` Keras saved) into a
base, turning each way it can fail into one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json
from ..data.cache import cache_dir, check_file, record_file
from ..data.sources import SourceFailed, download, sha256_file
from ..errors import ConvolabError

#: Sub-folder of the cache for these files.
FOLDER = "keras-applications"
_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_TF_KERNELS = "_weights_tf_dim_ordering_tf_kernels"
#: Input sides MobileNetV2 has ImageNet weights for; others use the 224 ones, as in Keras.
MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)
#: EfficientNet's ImageNet weights expect one more per-channel scaling after its
#: Normalization layer, which keras.applications adds only for weights="imagenet".
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class KerasWeights:
    """One `_notop.h5` file: its name, its canonical URL and the hash Keras checks."""

    file: str
    url: str
    file_hash: str | None  # md5 (32 hex) or sha256 (64 hex); None: Keras checks nothing


#: backbone -> (folder URL, file stem, hash of `STEM_notop.h5`, hash of `STEM.h5` with the
#: 1000-class top), as keras.applications fetches them.
_KERAS_FILES = {
    "vgg16": (f"{_GCS}vgg16/", f"vgg16{_TF_KERNELS}", "6d6bbae143d832006294945121d1f1fc",
              "64373286793e3c8b2b4e3219cbf3544b"),
    "resnet50": (f"{_GCS}resnet/", f"resnet50{_TF_KERNELS}", "4d473c1dd8becc155b73f8504c6f6626",
                 "2cb95161c43110f7111970584f804107"),
    "inception_v3": (f"{_GCS}inception_v3/", f"inception_v3{_TF_KERNELS}",
                     "bcbd6486424b2319ff4ef7d526e38f63", "9a0d58056eeedaa3f26cb7ebd46da564"),
    "efficientnet_b0": ("https://storage.googleapis.com/keras-applications/", "efficientnetb0",
                        "50bc09e76180e00e4465e1a485ddc09d", "902e53a9f72be733fc0bcb005b3ebbac"),
}


def _pins(top: bool) -> dict[str, KerasWeights]:
    """The bases' files (`_notop.h5`), or with `top` the whole classifiers' (`.h5`)."""
    pins = {}
    for name, (folder, stem, notop_hash, top_hash) in _KERAS_FILES.items():
        file = f"{stem}.h5" if top else f"{stem}_notop.h5"
        pins[name] = KerasWeights(file, folder + file, top_hash if top else notop_hash)
    return pins


PINS = _pins(top=False)
TOP_PINS = _pins(top=True)


def weights_pin(backbone_name: str, image_size: int | None = None,
                top: bool = False) -> KerasWeights:
    """The file, URL and hash of a keras.applications backbone's ImageNet weights: the base
    without its top, or with `top` the whole 1000-class classifier."""
    if backbone_name == "mobilenet_v2":
        rows = image_size if image_size in MOBILENET_V2_ROWS else 224
        file = f"mobilenet_v2{_TF_KERNELS}_1.0_{rows}{'' if top else '_no_top'}.h5"
        return KerasWeights(file, f"{_GCS}mobilenet_v2/{file}", None)
    pins = TOP_PINS if top else PINS
    if backbone_name not in pins:
        raise ConvolabError(f"backbone {backbone_name!r} has no keras.applications ImageNet "
                            f"weights; choose one of {', '.join([*pins, 'mobilenet_v2'])}")
    return pins[backbone_name]


def keras_hash(path: Path, file_hash: str) -> str:
    """The file's hash in the algorithm Keras picks for `file_hash`: sha256 for 64 hex
    digits, md5 otherwise."""
    digest = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _record(path: Path, pin: KerasWeights) -> None:
    sha = sha256_file(path)
    write_json(_meta_path(path), {"url": pin.url, "file_hash": pin.file_hash, "sha256": sha})
    record_file(path, sha)


def _cache_problem(path: Path, pin: KerasWeights) -> str | None:
    """None when the cached `path` is the verified file; else why not (a file that fails
    its check is deleted)."""
    if not path.is_file():
        return "missing"
    try:
        meta = json.loads(_meta_path(path).read_text())
        recorded = meta["sha256"] if meta["url"] == pin.url and \
            meta["file_hash"] == pin.file_hash else None
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if recorded:
        return check_file(path, recorded)
    if pin.file_hash and keras_hash(path, pin.file_hash) == pin.file_hash:
        _record(path, pin)
        return None
    path.unlink()
    return f"{path.name} was not verified and was deleted"


def imagenet_weights_path(backbone_name: str, image_size: int | None = None,
                          top: bool = False) -> Path:
    """The verified ImageNet `_notop.h5` of a keras.applications backbone (with `top`, the
    whole classifier's `.h5`), from the cache or downloaded into it. `image_size` matters
    only for MobileNetV2, which has weights per input side."""
    pin = weights_pin(backbone_name, image_size, top)
    path = cache_dir() / FOLDER / pin.file
    problem = _cache_problem(path, pin)
    if problem is None:
        return path
    reasons = [f"cache: {problem}"]
    try:
        download(pin.url, path)
        if pin.file_hash and keras_hash(path, pin.file_hash) != pin.file_hash:
            path.unlink()
            algorithm = "sha256" if len(pin.file_hash) == 64 else "md5"
            raise SourceFailed(f"the downloaded file failed its {algorithm} check")
        _record(path, pin)
        return path
    except SourceFailed as exc:
        reasons.append(f"download: {exc}")
    raise ConvolabError(
        f"ImageNet weights of {backbone_name} ({pin.file}) are not available "
        f"({'; '.join(reasons)}); where the network allows, download {pin.url} and pass it "
        f"with --weights PATH (a local .h5 or .weights.h5)")


def _fold_imagenet_scaling(base) -> None:
    """Give an EfficientNet base loaded from Keras's ImageNet `.h5` the extra scaling by
    1/sqrt(stddev) that keras.applications inserts after Normalization for those weights:
    (x - mean) / sqrt(var) / sqrt(s) == (x - mean) / sqrt(var * s)."""
    import keras

    norm = next(layer for layer in base.layers if isinstance(layer, keras.layers.Normalization))
    scale = keras.ops.convert_to_tensor(IMAGENET_STDDEV_RGB, dtype=norm.adapt_variance.dtype)
    norm.adapt_variance.assign(norm.adapt_variance * scale)
    norm.finalize_state()


def load_weights(base, backbone_name: str, path: str | os.PathLike, top: bool = False) -> None:
    """Load a local weights file into a keras.applications `base`: Keras's ImageNet
    `_notop.h5` (legacy layout) or a `.weights.h5` saved from the same base. With `top`,
    `base` is the whole classifier and the file is its `.h5` with the top."""
    path = Path(path)
    fix = (f"pass a .h5 or .weights.h5 saved from a whole {backbone_name} classifier (with "
           f"its 1000-class top)" if top else
           f"pass a .h5 or .weights.h5 saved from a {backbone_name} base without its top")
    if not path.is_file():
        raise ConvolabError(f"{path}: no such weights file; {fix}")
    if not path.name.endswith((".h5", ".hdf5")):
        raise ConvolabError(f"{path}: a weights file must end in .h5 or .weights.h5; {fix}")
    import h5py

    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise ConvolabError(f"{path}: not an HDF5 weights file (wrong format or damaged); "
                            f"{fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns once per object before raising
            base.load_weights(path)
    except OSError as exc:
        raise ConvolabError(f"{path}: cannot read this HDF5 file (truncated or damaged: "
                            f"{_first_line(exc)}); {fix}")
    except Exception as exc:  # Keras raises ValueError and others on a mismatch
        raise ConvolabError(f"{path}: these weights do not fit {backbone_name} "
                            f"({_first_line(exc)}); {fix}")
    if backbone_name == "efficientnet_b0" and not path.name.endswith(".weights.h5"):
        _fold_imagenet_scaling(base)


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split(". ")[0].split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
