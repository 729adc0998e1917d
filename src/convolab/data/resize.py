"""Resize uint8 images to a square size with Pillow (bilinear; aspect ratio not kept)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize one (H, W) or (H, W, C) uint8 image to (size, size[, C])."""
    squeeze = image.ndim == 3 and image.shape[2] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return out[..., None] if squeeze else out


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch (N, H, W, C) of uint8 images to (N, size, size, C)."""
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i, image in enumerate(images):
        out[i] = resize_image(image, size)
    return out
