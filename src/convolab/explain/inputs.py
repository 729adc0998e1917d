"""The one image that `convolab explain` and `convolab show` look at.

An IMAGE argument is either an image file, prepared exactly as `convolab predict` prepares
it, or `test:INDEX`, the INDEX-th image (0-based) of the run's test set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConvolabError
from ..run import Run

TEST_PREFIX = "test:"


@dataclass
class ModelInput:
    """One prepared image: raw 0..255 float32 pixels (H, W, C) and where they came from."""

    pixels: np.ndarray
    source: str                 # the IMAGE argument as given
    stem: str                   # a file-name-safe name: the file's stem or "test-INDEX"
    true_label: int | None      # known for test images only


def _safe_stem(name: str) -> str:
    """`name` with anything but letters, digits, '-', '_' and '.' replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


def _test_image(run: Run, image: str) -> ModelInput:
    text = image[len(TEST_PREFIX):]
    if not text.isdigit():
        raise ConvolabError(f"image {image!r}: after 'test:' give the index of a test image, "
                            f"e.g. test:0")
    index = int(text)
    ds = run.test_set()
    if index >= len(ds.x_test):
        raise ConvolabError(f"image {image!r}: the test set of {run.path} has "
                            f"{len(ds.x_test)} images; use an index from 0 to "
                            f"{len(ds.x_test) - 1}")
    pixels = np.asarray(ds.x_test[index], dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return ModelInput(pixels, image, f"test-{index}", int(ds.y_test[index]))


def check_image_arg(image: str) -> None:
    """A ConvolabError at once (before any model is loaded) for an IMAGE argument that is
    neither `test:INDEX` nor an existing file."""
    image = str(image)
    if image.startswith(TEST_PREFIX):
        if not image[len(TEST_PREFIX):].isdigit():
            raise ConvolabError(f"image {image!r}: after 'test:' give the index of a test "
                                f"image, e.g. test:0")
        return
    path = Path(image)
    if not path.exists():
        raise ConvolabError(f"image {image} does not exist; check the path (or use "
                            f"test:INDEX for a test image)")
    if path.is_dir():
        raise ConvolabError(f"image {image} is a folder; give one image file (or test:INDEX)")


def load_input(run: Run, image: str) -> ModelInput:
    """The model input for IMAGE (a file path or `test:INDEX`), as `convolab predict` makes it."""
    image = str(image)
    if image.startswith(TEST_PREFIX):
        return _test_image(run, image)
    from ..data.images import read_image
    from ..preprocess import prepare_image

    pixels = prepare_image(read_image(image), run.input_shape, run.preprocessing_style())
    return ModelInput(pixels, image, _safe_stem(Path(image).stem), None)
