"""Test-time augmentation: average the model's probabilities over a few views of each image.

The views are exact whole-pixel shifts (new pixels 0 = background) and, where a mirror
image keeps its class, left-right flips:

- `shifts`: the image and its shifts by one pixel right, left, down and up (5 views);
- `shifts-flip`: those 5 and their mirror images (10 views); refused for digits.

The probabilities of the views are averaged; the result is one (N, classes) array, like a
plain prediction. The cost is one forward pass per view.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .config import FLIP_SENSITIVE_DATASETS
from .errors import ConvolabError, did_you_mean

#: (dx, dy) shifts of the `shifts` views: right and down are positive.
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
KINDS = {"shifts": "the image and its 1-pixel shifts right, left, down and up (5 views)",
         "shifts-flip": "those 5 views and their mirror images (10 views)"}


def check_tta(kind: str | None, dataset: str) -> None:
    """Raise a one-line ConvolabError for an unknown kind or flips on flip-sensitive data."""
    if kind is None:
        return
    if kind not in KINDS:
        raise ConvolabError(f"unknown test-time augmentation {kind!r}"
                            f"{did_you_mean(kind, KINDS)}; choose one of {', '.join(KINDS)}")
    if kind.endswith("-flip") and dataset in FLIP_SENSITIVE_DATASETS:
        raise ConvolabError(f"--tta {kind} mirrors the images, but a mirrored {dataset} "
                            f"image is another class (a flipped 2 is no 2); use --tta shifts")


def tta_views(images: np.ndarray, kind: str) -> list[np.ndarray]:
    """The views of `images` (N, H, W, C) that `kind` averages over, float32."""
    from .evidence.transforms import transform_images

    images = np.asarray(images, dtype="float32")
    views = [images if (dx, dy) == (0, 0) else transform_images(images, shift=(dx, dy))
             for dx, dy in SHIFTS]
    if kind.endswith("-flip"):
        views += [view[:, :, ::-1] for view in views]
    return views


def predict_tta(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                kind: str) -> np.ndarray:
    """The mean of `predict(view)` over the views of `images`: (N, classes) probabilities."""
    views = tta_views(images, kind)
    return sum(predict(view) for view in views) / len(views)
