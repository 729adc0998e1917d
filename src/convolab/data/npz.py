"""Load a dataset from an .npz file with x_train, y_train, x_test, y_test.

Images may be (N, H, W) or (N, H, W, C) with C 1 or 3, of any integer or float dtype:
floats in [0, 1] are scaled to 0..255. Labels are integers 0..K-1. An optional
`class_names` array names the classes; otherwise they are "0".."K-1".
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConvolabError
from .dataset import Dataset

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an npz file: the four required keys, plus `class_names` if present."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConvolabError(f"npz file {path} does not exist; check the path")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConvolabError(f"{path} is not a readable .npz file ({exc}); "
                            f"write it with numpy.savez")
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ConvolabError(f"{path} holds a single array, not an .npz with keys "
                            f"{', '.join(REQUIRED_KEYS)}; write it with numpy.savez")
    with npz:
        for key in REQUIRED_KEYS:
            if key not in npz.files:
                raise ConvolabError(f"{path} has no key {key!r} (it has "
                                    f"{', '.join(npz.files) or 'none'}); it needs "
                                    f"{', '.join(REQUIRED_KEYS)}")
        arrays = {}
        for key in REQUIRED_KEYS + (("class_names",) if "class_names" in npz.files else ()):
            try:
                arrays[key] = np.asarray(npz[key])
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise ConvolabError(f"{path}: key {key!r} cannot be read ({exc}); "
                                    f"save plain numeric arrays with numpy.savez")
    return arrays


def _images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Check shape and dtype; return float64 or integer values with a channel axis."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise ConvolabError(f"{path}: {key} has shape {x.shape}; it must be (N, H, W) or "
                            f"(N, H, W, C) with C 1 or 3")
    if x.shape[0] == 0:
        raise ConvolabError(f"{path}: {key} holds no images")
    if x.dtype.kind == "b":
        return x.astype(np.uint8) * 255
    if x.dtype.kind not in "iuf":
        raise ConvolabError(f"{path}: {key} has dtype {x.dtype}; use integers 0..255 or "
                            f"floats in [0, 1]")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ConvolabError(f"{path}: {key} contains NaN or infinite values")
    return x


def _to_uint8(x: np.ndarray, scale: float, path: Path, key: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "f":
        x = x * scale
    if x.min() < 0 or x.max() > 255:
        raise ConvolabError(f"{path}: {key} has values from {x.min()} to {x.max()}; use "
                            f"integers 0..255 or floats in [0, 1]")
    return np.rint(x).astype(np.uint8) if x.dtype.kind == "f" else x.astype(np.uint8)


def _labels(y: np.ndarray, n: int, path: Path, key: str, images_key: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ConvolabError(f"{path}: {key} has shape {y.shape}; it must be (N,) integer "
                            f"labels, not one-hot")
    if len(y) != n:
        raise ConvolabError(f"{path}: {key} has {len(y)} labels but {images_key} has {n} "
                            f"images; they must match")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ConvolabError(f"{path}: {key} has dtype {y.dtype}; labels must be integers 0..K-1")
    if len(y) and y.min() < 0:
        raise ConvolabError(f"{path}: {key} has negative labels; they must be 0..K-1")
    return y.astype(np.int64)


def _class_names(arrays: dict, k: int, path: Path) -> list[str]:
    if "class_names" not in arrays:
        return [str(i) for i in range(k)]
    names = arrays["class_names"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise ConvolabError(f"{path}: class_names must be a 1-D array of strings")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    if len(names) < k:
        raise ConvolabError(f"{path}: class_names has {len(names)} names but the labels go up "
                            f"to {k - 1}; give one name per class")
    return names


def load_npz_dataset(path: str | Path, name: str) -> Dataset:
    """Load and check an npz dataset (no validation split yet)."""
    arrays = read_npz(path)
    path = Path(path).expanduser()
    x_train = _images(arrays["x_train"], path, "x_train")
    x_test = _images(arrays["x_test"], path, "x_test")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise ConvolabError(f"{path}: x_test images are {x_test.shape[1:]} but x_train images "
                            f"are {x_train.shape[1:]}; they must match")
    y_train = _labels(arrays["y_train"], len(x_train), path, "y_train", "x_train")
    y_test = _labels(arrays["y_test"], len(x_test), path, "y_test", "x_test")
    floats = [x for x in (x_train, x_test) if x.dtype.kind == "f"]
    scale = 255.0 if floats and max(float(x.max()) for x in floats) <= 1.0 else 1.0
    x_train = _to_uint8(x_train, scale, path, "x_train")
    x_test = _to_uint8(x_test, scale, path, "x_test")
    k = int(max(y_train.max(), y_test.max())) + 1
    class_names = _class_names(arrays, k, path)
    if len(class_names) < 2:
        raise ConvolabError(f"{path}: the labels hold only one class; a classifier needs at "
                            f"least two")
    return Dataset.from_train_test(name, x_train, y_train, x_test, y_test, class_names,
                                   source=str(path))
