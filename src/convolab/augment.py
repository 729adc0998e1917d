"""The unit's ImageDataGenerator parameters, as Keras 3 preprocessing layers.

`ImageDataGenerator` is gone from Keras 3; its random transforms are layers that act only
while training (`training=True`) and are the identity at inference. The mapping, checked by
`tests/test_augment.py` on real images:

| ImageDataGenerator         | meaning                              | Keras 3 layer                               |
|----------------------------|--------------------------------------|---------------------------------------------|
| rotation_range=R (degrees) | angle uniform in [-R, +R] degrees    | RandomRotation(factor=R / 360)              |
| width_shift_range=W        | shift uniform in [-W, +W] x width    | RandomTranslation(width_factor=W)           |
| height_shift_range=H       | shift uniform in [-H, +H] x height   | RandomTranslation(height_factor=H)          |
| shear_range=S (degrees)    | shear angle in [-S, +S] degrees      | RandomShear(x_factor=sin(S)) (random sign)  |
| zoom_range=Z               | x, y scale each in [1-Z, 1+Z]; >1 = smaller | RandomZoom((-Z, Z), (-Z, Z))         |
| horizontal_flip=True       | mirror left-right with p = 0.5       | RandomFlip("horizontal")                    |
| fill_mode                  | nearest / constant(0) / reflect / wrap | fill_mode of every layer above            |
| (not in ImageDataGenerator) elastic_alpha, elastic_sigma | Simard's elastic distortion | RandomElastic (`elastic.py`) |

RandomRotation's factor is a fraction of a full turn (2 pi), so degrees are divided by 360,
not 180 or 2 pi. ImageDataGenerator applies one combined affine map; the layers apply the
same transforms one after another, which interpolates a few more times.
"""

from __future__ import annotations

import math
import warnings

import keras

from .config import FLIP_SENSITIVE_DATASETS, AugmentConfig


def augmentation_layers(cfg: AugmentConfig, seed: int = 0) -> list[keras.layers.Layer]:
    """Keras preprocessing layers equivalent to `cfg`; empty when augmentation is off."""
    if not cfg.enabled:
        return []
    fill = {"fill_mode": cfg.fill_mode, "fill_value": 0.0}
    layers: list[keras.layers.Layer] = []
    if cfg.rotation_range > 0:
        layers.append(keras.layers.RandomRotation(
            factor=cfg.rotation_range / 360.0, seed=seed, name="aug_rotation", **fill))
    if cfg.width_shift_range > 0 or cfg.height_shift_range > 0:
        layers.append(keras.layers.RandomTranslation(
            height_factor=cfg.height_shift_range, width_factor=cfg.width_shift_range,
            seed=seed + 1, name="aug_shift", **fill))
    if cfg.shear_range > 0:
        # ImageDataGenerator moves x by -sin(angle) * y; RandomShear moves it by factor * y
        # with a random sign, so the factor is sin(angle).
        layers.append(keras.layers.RandomShear(
            x_factor=(0.0, math.sin(math.radians(cfg.shear_range))), y_factor=0.0,
            seed=seed + 2, name="aug_shear", **fill))
    if cfg.zoom_range > 0:
        # Independent x and y factors, as ImageDataGenerator draws zx and zy separately.
        z = cfg.zoom_range
        layers.append(keras.layers.RandomZoom(
            height_factor=(-z, z), width_factor=(-z, z), seed=seed + 3, name="aug_zoom",
            **fill))
    if cfg.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 4, name="aug_flip"))
    if cfg.elastic_alpha > 0:
        from .elastic import RandomElastic

        layers.append(RandomElastic(cfg.elastic_alpha, cfg.elastic_sigma, seed=seed + 5,
                                    name="aug_elastic"))
    return layers


def warn_if_flip_wrong(cfg: AugmentConfig, dataset_name: str) -> str | None:
    """Warn (and return the message) when horizontal flips would corrupt the labels."""
    if cfg.enabled and cfg.horizontal_flip and dataset_name in FLIP_SENSITIVE_DATASETS:
        message = (f"augment.horizontal_flip is on for {dataset_name}: mirrored digits are not "
                   f"digits (a flipped 2, 3, 7 changes meaning); turn it off with "
                   f"--set augment.horizontal_flip=false")
        warnings.warn(message, UserWarning, stacklevel=2)
        return message
    return None
