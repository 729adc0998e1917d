"""Deterministic geometric transforms of test images: shift, rotate, scale.

One bilinear affine map about the image centre (scipy.ndimage), new pixels filled with 0
(the background of MNIST-like data). Conventions: `angle` in degrees, positive turns the
image counter-clockwise as displayed; `scale` > 1 enlarges it; `shift=(dx, dy)` moves it
right by dx and down by dy pixels. The identity and whole-pixel shifts reproduce the
pixels exactly.
"""

from __future__ import annotations

import math

import numpy as np


def transform_images(images: np.ndarray, *, angle: float = 0.0, scale: float = 1.0,
                     shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rotate by `angle`, scale by `scale` about the centre, then shift; float32 out.

    Args:
        images: (N, H, W) or (N, H, W, C) pixels, any numeric dtype.
        angle: degrees, counter-clockwise on screen.
        scale: size factor (> 0); 0.5 halves the object, 2 doubles it.
        shift: (dx, dy) pixels, right and down.
    """
    from scipy import ndimage  # here, so that the CLI starts without it

    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    x = np.asarray(images, dtype="float32")
    channels_last = x.ndim == 4
    if channels_last:  # (N, H, W, C) -> (N*C, H, W): one 2-D map per plane
        n, h, w, c = x.shape
        x = x.transpose(0, 3, 1, 2).reshape(n * c, h, w)
    # Output pixel o comes from input pixel i = M (o - centre - t) + centre, with
    # M = R(angle)^T / scale in (row, col) coordinates (rows point down).
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    m = np.array([[cos, sin], [-sin, cos]]) / scale
    centre = (np.array(x.shape[1:], dtype="float64") - 1) / 2
    t = np.array([shift[1], shift[0]], dtype="float64")  # (dy, dx) in (row, col) order
    offset = centre - m @ (centre + t)
    matrix = np.eye(3)
    matrix[1:, 1:] = m
    out = ndimage.affine_transform(x, matrix, offset=np.concatenate([[0.0], offset]),
                                   order=1, mode="constant", cval=0.0)
    if channels_last:
        out = out.reshape(n, c, h, w).transpose(0, 2, 3, 1)
    return out
