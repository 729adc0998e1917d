"""scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels) as a convolab Dataset."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .split import stratified_split

#: Seed of the fixed 20% test split, so the test set never depends on the run's seed.
DIGITS_TEST_SEED = 1797
DIGITS_DESCRIPTION = ("scikit-learn handwritten digits: 1,797 images, 8x8 grey, 10 classes "
                      "(20% held out as test); ships with scikit-learn, no download")


def load_digits_dataset() -> Dataset:
    """Load `sklearn.datasets.load_digits()` scaled to 0..255 uint8, shape (N, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (N, 8, 8, 1)
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, 0.2, DIGITS_TEST_SEED)
    return Dataset.from_train_test("digits", x[train], y[train], x[test], y[test],
                                   [str(d) for d in range(10)],
                                   source="scikit-learn load_digits()")
