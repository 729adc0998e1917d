"""The pooled features of a frozen base, computed once and cached on disk.

While the base is frozen (phase 1, or a whole linear probe) and no augmentation changes
the images, every epoch would push the same pixels through the same base. A run then
computes the base's pooled features (the output of the model's `avg_pool` layer) once,
keeps them in `$CONVOLAB_HOME/features/KEY.npy` and trains the head on them: the same
layer objects, so the full model's weights move, in seconds instead of minutes.

KEY is a sha256 over the layers before the classifier head (their classes and settings,
the whole base's included), every weight of those layers (BatchNormalization's moving
statistics included), the versions of convolab, Keras and the backend, and the image
bytes. Any change of data, weights, image size, preprocessing or code makes a new key, so
a stale entry is never read. The folder is kept under `CACHE_LIMIT_BYTES` (or
`$CONVOLAB_FEATURE_CACHE_MB`): the least recently used files go first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .. import atomic
from ..errors import ConvolabError

#: Bumped when the cache's meaning changes, so old entries stop matching.
FORMAT_VERSION = 1
#: The layer whose output is the cached feature vector.
POOL_LAYER = "avg_pool"
#: The most the features folder may hold; `$CONVOLAB_FEATURE_CACHE_MB` overrides it.
CACHE_LIMIT_BYTES = 4 * 1024**3


def features_dir() -> Path:
    """Where cached features live: `$CONVOLAB_HOME/features`."""
    from ..data.cache import cache_dir

    return cache_dir() / "features"


def _pool_index(model) -> int:
    for index, layer in enumerate(model.layers):
        if layer.name == POOL_LAYER:
            return index
    raise ConvolabError(f"model {model.name} has no {POOL_LAYER!r} layer; features can be "
                        f"cached only for a transfer model (build_transfer_model)")


def feature_extractor(model):
    """A Keras model from the transfer model's input to its pooled base features."""
    import keras

    _pool_index(model)
    return keras.Model(model.input, model.get_layer(POOL_LAYER).output,
                       name=f"{model.name}_features")


def head_model(model):
    """A Keras model from pooled features to the transfer model's class probabilities.

    It calls the transfer model's own layers after `avg_pool` (head, dropout, classifier),
    so training it trains them in `model` too.
    """
    import keras

    index = _pool_index(model)
    width = int(model.get_layer(POOL_LAYER).output.shape[-1])
    inputs = keras.Input(shape=(width,), name="features", dtype="float32")
    x = inputs
    for layer in model.layers[index + 1:]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_head")


def _layer_signature(layer) -> list:
    config = dict(layer.get_config())  # a nested base's config holds all of its layers
    if not hasattr(layer, "layers"):
        config.pop("name", None)  # a generated name says nothing about what it computes
    return [type(layer).__name__, config]


def extractor_fingerprint(extractor) -> str:
    """sha256 of what the extractor computes: its layers and their settings, its weights,
    and the versions of the code that runs them (convolab, Keras, the backend)."""
    import keras

    from .. import __version__

    digest = hashlib.sha256()
    signature = {"format": FORMAT_VERSION, "backend": keras.backend.backend(),
                 "versions": [__version__, keras.__version__, _backend_version()],
                 "input": list(extractor.input_shape[1:]),
                 "layers": [_layer_signature(layer) for layer in extractor.layers]}
    digest.update(json.dumps(signature, sort_keys=True, default=str).encode())
    for weight in extractor.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _backend_version() -> str:
    import importlib.metadata

    import keras

    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(
        keras.backend.backend(), keras.backend.backend())
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def images_fingerprint(images: np.ndarray) -> str:
    """sha256 of an image array (its dtype, shape and bytes)."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{images.dtype}{images.shape}".encode())
    digest.update(images.tobytes())
    return digest.hexdigest()


def _extract(extractor, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The extractor's outputs for `images`, padded to whole batches: one traced shape
    however many images, so repeated calls do not retrace."""
    count = len(images)
    padded = -(-count // batch_size) * batch_size
    batch = np.zeros((padded, *images.shape[1:]), "float32")
    batch[:count] = images
    outputs = extractor.predict(batch, batch_size=batch_size, verbose=0)
    return np.asarray(outputs[:count], dtype="float32")


def _read(path: Path, rows: int) -> np.ndarray | None:
    """The cached array at `path` if it is whole and has `rows` rows, else None."""
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if features.ndim != 2 or len(features) != rows or features.dtype != np.float32:
        return None
    return features


def cache_limit_bytes() -> int:
    """The features folder's size limit: `$CONVOLAB_FEATURE_CACHE_MB` or CACHE_LIMIT_BYTES."""
    text = os.environ.get("CONVOLAB_FEATURE_CACHE_MB", "").strip()
    if not text:
        return CACHE_LIMIT_BYTES
    try:
        return max(0, int(float(text) * 1024**2))
    except ValueError:
        raise ConvolabError(f"CONVOLAB_FEATURE_CACHE_MB={text!r} is not a number of "
                            f"megabytes; set e.g. 2048, or unset it for "
                            f"{CACHE_LIMIT_BYTES // 1024**2}")


def prune(keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Delete the least recently used cached features until the folder fits `limit` bytes
    (default `cache_limit_bytes()`); `keep` is never deleted. Returns what was deleted."""
    limit = cache_limit_bytes() if limit is None else limit
    files = []
    for path in features_dir().glob("*.npy"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    deleted = []
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(path)
    return deleted


def cached_features(extractor, images: np.ndarray, *, fingerprint: str | None = None,
                    batch_size: int = 128, say=None) -> tuple[np.ndarray, dict]:
    """(features (N, D) float32, info) for `images`, from the cache when it has them.

    `fingerprint`: `extractor_fingerprint(extractor)` when the caller already has it.
    `say`: called with one line before features are computed (long work shows itself).
    info: {"hit": bool, "images": N, "seconds": s, "images_per_second": r or None, "file"}.
    A damaged cache file is recomputed and replaced.
    """
    started = time.perf_counter()
    fingerprint = fingerprint or extractor_fingerprint(extractor)
    key = hashlib.sha256(f"{fingerprint}:{images_fingerprint(images)}".encode()).hexdigest()
    path = features_dir() / f"{key[:32]}.npy"
    features = _read(path, len(images)) if path.is_file() else None
    if features is not None:
        try:
            os.utime(path)  # recently used: the last to be pruned
        except OSError:
            pass
    info = {"hit": features is not None, "images": int(len(images)), "file": str(path)}
    if features is None:
        if say is not None:
            say(f"computing the frozen base's features of {len(images):,} images "
                f"(cached for later runs)")
        computing = time.perf_counter()
        features = _extract(extractor, images, batch_size)
        seconds = time.perf_counter() - computing
        info["images_per_second"] = round(len(images) / seconds, 1) if seconds > 0 else None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic.atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, features, allow_pickle=False)
            prune(keep=path)
        except OSError:
            pass  # a read-only cache only costs the recomputation next time
    info["seconds"] = round(time.perf_counter() - started, 3)
    return features, info


def head_on_features(model, x_train: np.ndarray, x_val: np.ndarray, say=None):
    """(head, train features, validation features, info) for training `model`'s head alone.

    `head` is `head_model(model)`; info is {"train": ..., "val": ...} from `cached_features`.
    """
    extractor = feature_extractor(model)
    fingerprint = extractor_fingerprint(extractor)
    f_train, info_train = cached_features(extractor, x_train, fingerprint=fingerprint, say=say)
    info = {"train": info_train}
    if len(x_val):
        f_val, info["val"] = cached_features(extractor, x_val, fingerprint=fingerprint, say=say)
    else:
        f_val = np.zeros((0, f_train.shape[1]), "float32")
    return head_model(model), f_train, f_val, info


def predict_from_features(model, images: np.ndarray, say=None) -> tuple[np.ndarray, dict]:
    """(probabilities, info) of `model` on `images` through the feature cache: the same
    numbers as `model.predict`, without running the base again for images it has seen."""
    import keras

    features, info = cached_features(feature_extractor(model), images, say=say)
    probs = head_model(model)(features, training=False)
    return np.asarray(keras.ops.convert_to_numpy(probs)), info
