"""Learning-rate schedules by name, as functions of the optimizer step.

Step-based schedules live inside the optimizer, so a resumed run continues exactly where
it stopped (the step counter is part of the saved optimizer state).

- `constant`: lr throughout.
- `step-exp`: the unit's scheduler: lr for the first 10 epochs, then lr * exp(-0.1) per epoch.
- `cosine`: cosine decay from lr to 0 over the run.
- `one-cycle`: warm up from lr/25 to lr over the first 25% of steps, then cosine down to
  lr/10^4 (Smith & Topin's super-convergence schedule, as in fastai).
- `plateau`: lr until val_loss stops improving for 2 epochs, then lr * 0.2
  (ReduceLROnPlateau; a callback, see `train.py`).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from .config import LR_SCHEDULES


@keras.saving.register_keras_serializable(package="convolab")
class StepExp(keras.optimizers.schedules.LearningRateSchedule):
    """Constant `lr` for `hold_epochs` epochs, then multiplied by exp(-0.1) each epoch.

    Args:
        lr: the starting learning rate.
        steps_per_epoch: optimizer steps in one epoch.
        hold_epochs: epochs at constant lr. Defaults to 10.
        rate: decay exponent per epoch. Defaults to 0.1.

    Example:
        >>> s = StepExp(0.01, steps_per_epoch=100)
        >>> round(float(s(1000)), 6)  # epoch 10 (0-based): first decay
        0.009048
    """

    def __init__(self, lr: float, steps_per_epoch: int, hold_epochs: int = 10,
                 rate: float = 0.1):
        if steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch must be positive, received {steps_per_epoch}")
        self.lr = float(lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.hold_epochs = int(hold_epochs)
        self.rate = float(rate)

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        decayed_epochs = ops.maximum(epoch - self.hold_epochs + 1, 0.0)
        return self.lr * ops.exp(-self.rate * decayed_epochs)

    def get_config(self):
        return {"lr": self.lr, "steps_per_epoch": self.steps_per_epoch,
                "hold_epochs": self.hold_epochs, "rate": self.rate}


@keras.saving.register_keras_serializable(package="convolab")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle schedule: cosine warm-up to `lr`, then cosine annealing.

    Args:
        lr: the peak learning rate.
        total_steps: optimizer steps in the whole run.
        warmup: fraction of the steps spent warming up. Defaults to 0.25.
        div_start: the run starts at lr / div_start. Defaults to 25.
        div_end: the run ends at lr / div_end. Defaults to 1e4.

    Example:
        >>> s = OneCycle(0.01, total_steps=100)
        >>> round(float(s(25)), 6)
        0.01
    """

    def __init__(self, lr: float, total_steps: int, warmup: float = 0.25,
                 div_start: float = 25.0, div_end: float = 1e4):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, received {total_steps}")
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"warmup must be in [0, 1), received {warmup}")
        self.lr = float(lr)
        self.total_steps = int(total_steps)
        self.warmup = float(warmup)
        self.div_start = float(div_start)
        self.div_end = float(div_end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm_steps = max(1.0, self.warmup * self.total_steps)
        start, end = self.lr / self.div_start, self.lr / self.div_end
        up = ops.clip(step / warm_steps, 0.0, 1.0)
        down = ops.clip((step - warm_steps) / max(1.0, self.total_steps - warm_steps), 0.0, 1.0)
        lr_up = start + (self.lr - start) * (1.0 - ops.cos(math.pi * up)) / 2.0
        lr_down = end + (self.lr - end) * (1.0 + ops.cos(math.pi * down)) / 2.0
        return ops.where(step < warm_steps, lr_up, lr_down)

    def get_config(self):
        return {"lr": self.lr, "total_steps": self.total_steps, "warmup": self.warmup,
                "div_start": self.div_start, "div_end": self.div_end}


def make_schedule(name: str, lr: float, steps_per_epoch: int, epochs: int):
    """The learning rate to hand the optimizer: a float or a LearningRateSchedule."""
    if name not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule {name!r}; expected one of {LR_SCHEDULES}")
    total = steps_per_epoch * epochs
    if name in ("constant", "plateau"):
        return lr
    if name == "step-exp":
        return StepExp(lr, steps_per_epoch)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total, alpha=0.0)
    return OneCycle(lr, total_steps=total)
