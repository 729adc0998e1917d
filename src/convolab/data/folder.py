"""Load a dataset from a folder of images, one sub-folder per class.

    PATH/cat/1.png  PATH/dog/7.jpg ...                  20% of each class held out as test
    PATH/train/cat/1.png ...  PATH/test/cat/9.png ...   the given split is used

Class names are the sorted sub-folder names. Hidden files and folders (starting with ".")
are ignored. Images are normalised by `normalize_image` (8 bits, transparency on white); if every
image is greyscale the dataset has one channel, otherwise all are converted to RGB. Images of different sizes are resized to `image_size`
(64 when not given); `image_size` given resizes every image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConvolabError
from .dataset import Dataset
from .images import IMAGE_SUFFIXES, normalize_image, read_image
from .resize import resize_image
from .split import stratified_split

#: Seed of the fixed 20% test split used when the folder has no train/ and test/.
FOLDER_TEST_SEED = 20
#: EXIF orientation tag, and its values that swap width and height.
ORIENTATION_TAG = 0x0112
TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)
#: Square size used when the images differ in size and no image_size was given.
DEFAULT_MIXED_SIZE = 64


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_dirs(root: Path) -> list[Path]:
    classes = [p for p in _visible(root) if p.is_dir()]
    if not classes:
        raise ConvolabError(f"folder {root} has no class sub-folders; put each class's images "
                            f"in its own sub-folder, e.g. {root / 'cat' / '1.png'}")
    if len(classes) == 1:
        raise ConvolabError(f"folder {root} has only one class sub-folder "
                            f"({classes[0].name}); a classifier needs at least two classes")
    return classes


def _image_files(class_dir: Path) -> list[Path]:
    files = []
    for path in _visible(class_dir):
        if path.is_dir():
            raise ConvolabError(f"{path} is a folder inside class folder {class_dir}; class "
                                f"folders must hold only images: move its images up or "
                                f"remove it")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ConvolabError(f"{path} is not an image (PNG, JPEG, GIF, BMP or WebP); "
                                f"remove it from the dataset folder")
        files.append(path)
    if not files:
        raise ConvolabError(f"class folder {class_dir} has no images; add PNG, JPEG, BMP or "
                            f"GIF files or remove the folder")
    return files


def _choose_size(folders: list[Path], class_names: list[str], image_size: int | None,
                 notes: list[str]) -> int | None:
    """The square size every image is resized to as it is read; None keeps them as they are.

    Sizes come from the file headers, so no image is decoded twice and a folder of large
    photos is never held in memory at full resolution.
    """
    sizes = set()
    for folder in folders:
        for name in class_names:
            for path in _image_files(folder / name):
                try:
                    with Image.open(path) as img:
                        width, height = img.size
                        if img.getexif().get(ORIENTATION_TAG) in TRANSPOSED_ORIENTATIONS:
                            width, height = height, width  # normalize_image turns it upright
                        sizes.add((width, height))
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                    continue  # read_image reports the file properly when it is read
    if image_size is not None:
        if sizes != {(image_size, image_size)}:
            notes.append(f"resized all images to {image_size}x{image_size}")
        return image_size
    if len(sizes) > 1:
        notes.append(f"images had {len(sizes)} different sizes; resized all to "
                     f"{DEFAULT_MIXED_SIZE}x{DEFAULT_MIXED_SIZE}")
        return DEFAULT_MIXED_SIZE
    return None


def _read_classes(root: Path, class_names: list[str],
                  size: int | None) -> tuple[list[np.ndarray], list[int]]:
    """Read every image under root/CLASS/ as (H, W) grey or (H, W, 3) RGB arrays."""
    images, labels = [], []
    for label, name in enumerate(class_names):
        for path in _image_files(root / name):
            image = np.asarray(normalize_image(read_image(path)))  # (H, W) or (H, W, 3)
            if size is not None and image.shape[:2] != (size, size):
                image = resize_image(image, size)
            images.append(image)
            labels.append(label)
    return images, labels


def _stack(images: list[np.ndarray], notes: list[str]) -> np.ndarray:
    """One (N, H, W, C) uint8 array: RGB if any image is colour."""
    if any(a.ndim == 3 for a in images):
        if not all(a.ndim == 3 for a in images):
            notes.append("converted greyscale images to RGB because some images are in colour")
        images = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2) for a in images]
    else:
        images = [a[..., None] for a in images]
    return np.stack(images)


def load_folder_dataset(path: str | Path, name: str, image_size: int | None = None) -> Dataset:
    """Load a class-per-sub-folder image dataset (no validation split yet)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise ConvolabError(f"folder {root} does not exist; check the path")
    if not root.is_dir():
        raise ConvolabError(f"{root} is not a folder; pass a folder with one sub-folder per "
                            f"class")
    top = {p.name for p in _visible(root) if p.is_dir()}
    notes: list[str] = []
    if {"train", "test"} <= top:
        class_names = [p.name for p in _class_dirs(root / "train")]
        test_names = [p.name for p in _class_dirs(root / "test")]
        if test_names != class_names:
            raise ConvolabError(f"folder {root}: train/ has classes {class_names} but test/ has "
                                f"{test_names}; give both the same class sub-folders")
        size = _choose_size([root / "train", root / "test"], class_names, image_size, notes)
        train_images, y_train = _read_classes(root / "train", class_names, size)
        test_images, y_test = _read_classes(root / "test", class_names, size)
        x = _stack(train_images + test_images, notes)
        x_train, x_test = x[:len(train_images)], x[len(train_images):]
        y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    else:
        class_names = [p.name for p in _class_dirs(root)]
        size = _choose_size([root], class_names, image_size, notes)
        images, labels = _read_classes(root, class_names, size)
        x, y = _stack(images, notes), np.asarray(labels, np.int64)
        train, test = stratified_split(y, 0.2, FOLDER_TEST_SEED)
        if len(test) == 0:
            raise ConvolabError(f"folder {root} has too few images to hold out a test set; "
                                f"add images or give train/ and test/ sub-folders")
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
        notes.append(f"held out {len(test)} of {len(y)} images (20% of each class) as test")
    return Dataset.from_train_test(name, x_train, y_train, x_test, y_test, class_names,
                                   source=str(root), notes=notes)
