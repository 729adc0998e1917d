"""The in-memory dataset every other part of convolab consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Images as uint8 arrays of shape (N, H, W, C) with integer labels of shape (N,).

    Pixel values are raw 0-255; models rescale them themselves. `x_val` may be empty
    (shape (0, H, W, C)) when no validation split was asked for.
    """

    name: str
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray  # (M, H, W, C) uint8
    y_val: np.ndarray  # (M,) int64
    x_test: np.ndarray  # (K, H, W, C) uint8
    y_test: np.ndarray  # (K,) int64
    class_names: list[str]
    source: str = ""  # where the data came from (cache path, URL, folder)
    notes: list[str] = field(default_factory=list)  # e.g. "resized mixed sizes to 64x64"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_train_test(cls, name: str, x_train, y_train, x_test, y_test,
                        class_names: list[str], source: str = "",
                        notes: list[str] | None = None) -> "Dataset":
        """A dataset with no validation split yet (`load_dataset` makes it)."""
        x_train = np.asarray(x_train)
        return cls(name=name, x_train=x_train, y_train=np.asarray(y_train, np.int64),
                   x_val=x_train[:0].copy(), y_val=np.zeros(0, np.int64),
                   x_test=np.asarray(x_test), y_test=np.asarray(y_test, np.int64),
                   class_names=list(class_names), source=source, notes=list(notes or []))
