"""The 1000 ImageNet-1k class names and top-k decoding of a classifier's output.

`imagenet_classes.txt` holds one class a line in index order (0 = "tench, Tinca tinca"),
all of a class's WordNet synonyms comma-separated. It is taken from the npm package
`@tensorflow-models/mobilenet@2.1.1` (`dist/imagenet_classes.js`, Apache-2.0), so no
download is needed, unlike `keras.applications.imagenet_utils.decode_predictions`.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from ..errors import ConvolabError

NUM_CLASSES = 1000


@functools.lru_cache(maxsize=2)
def imagenet_class_names(full: bool = False) -> tuple[str, ...]:
    """The 1000 class names by index; the first synonym ("tabby"), or with `full` the
    whole line ("tabby, tabby cat")."""
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    lines = text.splitlines()
    if len(lines) != NUM_CLASSES:
        raise ConvolabError(f"imagenet_classes.txt has {len(lines)} lines, expected "
                            f"{NUM_CLASSES}; reinstall convolab")
    return tuple(lines if full else (line.split(",")[0] for line in lines))


def decode_top_k(probs, k: int = 5, full: bool = False) -> list[list[tuple[int, str, float]]]:
    """The `k` best (class index, name, score) of each row of `probs`, best first.

    `probs` is (1000,) or (N, 1000): probabilities or logits, as the model gives them.
    """
    scores = np.asarray(probs, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[None]
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ConvolabError(f"predictions of shape {np.shape(probs)} are not (N, "
                            f"{NUM_CLASSES}); pass the output of an ImageNet classifier")
    if not 1 <= k <= NUM_CLASSES:
        raise ConvolabError(f"k={k} is not between 1 and {NUM_CLASSES}")
    names = imagenet_class_names(full)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(int(i), names[i], float(row[i])) for i in idx] for row, idx in zip(scores, top)]
