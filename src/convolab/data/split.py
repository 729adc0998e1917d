"""Stratified splits and subsets: every class keeps its share of the images.

Both functions return sorted index arrays and depend only on the labels, the size asked
for and the seed, so the same call always gives the same indices.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvolabError


def _allocate(counts: np.ndarray, total: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Split `total` over classes in proportion to `counts`, each within [low, high].

    Largest-remainder rounding: floors first, then one more to the classes with the
    biggest fractional parts, until the total is reached or no class has room.
    """
    exact = counts * (total / counts.sum())
    quota = np.clip(np.floor(exact).astype(np.int64), low, high)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while quota.sum() < total and (quota < high).any():
        for c in order:
            if quota.sum() >= total:
                break
            if quota[c] < high[c]:
                quota[c] += 1
    while quota.sum() > total and (quota > low).any():
        for c in order[::-1]:
            if quota.sum() <= total:
                break
            if quota[c] > low[c]:
                quota[c] -= 1
    return quota


def _pick(y: np.ndarray, quota: np.ndarray, classes: np.ndarray,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Randomly choose quota[c] indices of each class c; return (chosen, the rest), sorted."""
    rng = np.random.default_rng(seed)
    chosen, rest = [], []
    for c, q in zip(classes, quota):
        members = rng.permutation(np.flatnonzero(y == c))
        chosen.append(members[:q])
        rest.append(members[q:])
    return np.sort(np.concatenate(chosen)), np.sort(np.concatenate(rest))


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about `fraction` of the indices of `y`, stratified by class.

    Returns (idx_keep, idx_held). Every class keeps at least one image; a positive
    fraction holds out at least one image when there are two or more.
    """
    y = np.asarray(y)
    if not 0.0 <= fraction < 1.0:
        raise ConvolabError(f"split fraction must be at least 0 and below 1, got {fraction}")
    if len(y) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    classes, counts = np.unique(y, return_counts=True)
    total = int(round(fraction * len(y)))
    if fraction > 0:
        total = max(total, 1)
    held_quota = _allocate(counts, total, np.zeros_like(counts), counts - 1)
    held, keep = _pick(y, held_quota, classes, seed)
    return keep, held


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Choose `n` indices of `y` with every class represented in proportion, sorted."""
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if n < len(classes):
        raise ConvolabError(f"train_samples={n} is smaller than the {len(classes)} classes; "
                            f"ask for at least {len(classes)} so every class is represented")
    if n > len(y):
        raise ConvolabError(f"train_samples={n} is more than the {len(y)} training images; "
                            f"lower it or leave it out to use them all")
    quota = _allocate(counts, n, np.ones_like(counts), counts)
    chosen, _ = _pick(y, quota, classes, seed)
    return chosen
