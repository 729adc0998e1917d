"""A warning for BatchNormalization whose moving statistics cannot settle in the run.

Keras's BatchNormalization starts its moving variance at 1 and its moving mean at 0 and
keeps `momentum**steps` of those starting values. With Keras's default momentum 0.99 a
short run (a few hundred steps) predicts with statistics that are still mostly the
starting values: training accuracy looks fine and test accuracy is near chance.
"""

from __future__ import annotations

import warnings

#: Warn when more than this share of the starting statistics is left at the end of training.
STALE_SHARE = 0.05


def _trainable_batchnorms(layer):
    """Every trainable BatchNormalization in `layer`, looking inside nested models."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.trainable:  # a frozen one runs in inference mode and never updates
            yield layer
        return
    for inner in getattr(layer, "layers", []):
        yield from _trainable_batchnorms(inner)


def warn_if_batchnorm_stale(model, steps: int) -> str | None:
    """Warn (and return the message) when `steps` of training leave BatchNorm statistics stale."""
    worst = max(_trainable_batchnorms(model), key=lambda bn: bn.momentum, default=None)
    if worst is None or steps <= 0:
        return None
    left = float(worst.momentum) ** steps
    if left <= STALE_SHARE:
        return None
    remedy = ("give it momentum 0.9 in the model spec or train longer"
              if worst.momentum > 0.9 else "train longer or give it a lower momentum")
    message = (f"BatchNormalization {worst.name!r} has momentum {worst.momentum} and the run "
               f"has {steps} training steps: its moving statistics keep {left:.0%} of their "
               f"starting values, so test accuracy can be far below training accuracy; "
               f"{remedy}")
    warnings.warn(message, UserWarning, stacklevel=2)
    return message
