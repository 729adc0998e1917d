"""Named models: the YAML files in `presets/` are the registry.

    >>> [m["name"] for m in list_models()][:2]
    ['fast', 'keras-convnet']
    >>> model = create_model("keras-convnet", input_shape=(28, 28, 1), num_classes=10)
    >>> model.count_params()
    34826

`create_model` also takes the path of a YAML spec file or a spec dict (see `spec.py`).
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

from ..errors import ConvolabError, did_you_mean
from .regularize import regularize
from .spec import build_model, normalize, read_spec_file


def _preset_folder():
    return resources.files("convolab") / "models" / "presets"


def preset_names() -> list[str]:
    """Names of the shipped model presets (the YAML file names without `.yaml`)."""
    return sorted(p.name[:-5] for p in _preset_folder().iterdir() if p.name.endswith(".yaml"))


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text or \
        Path(text).is_file()


def _locate(name_or_path: str) -> tuple[dict, str, str]:
    """(raw spec, origin for errors, default model name) of a preset name or a file path."""
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ConvolabError(f"model must be a preset name or a YAML spec path, "
                            f"got {name_or_path!r}")
    if name_or_path in preset_names():
        path = _preset_folder() / f"{name_or_path}.yaml"
        return (read_spec_file(Path(str(path))), f"model preset {name_or_path!r}",
                name_or_path)
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        return read_spec_file(path), f"model spec {path}", path.stem or "model"
    raise ConvolabError(f"unknown model {name_or_path!r}"
                        f"{did_you_mean(name_or_path, preset_names())}; choose one of "
                        f"{', '.join(preset_names())} or pass the path of a YAML spec")


def list_models() -> list[dict]:
    """Every preset as {"name", "description", "type"}, sorted by name (read, not built)."""
    models = []
    for name in preset_names():
        spec, _, _ = _locate(name)
        models.append({"name": name, "type": str(spec.get("type", "")),
                       "description": " ".join(str(spec.get("description", "")).split())})
    return models


def read_spec(name_or_path: str) -> dict:
    """The raw spec of a preset name or a YAML spec file (name, file and YAML checked;
    its layers are checked by `load_spec`, which needs Keras)."""
    return _locate(name_or_path)[0]


def load_spec(name_or_path: str) -> dict:
    """The spec dict of a preset name or a YAML spec file, checked for structure.

    Layer classes, argument names and node references are checked here; argument values
    and shapes only when a model is built.
    """
    spec, origin, _ = _locate(name_or_path)
    if not is_transfer(spec):  # a transfer spec is checked when it is built
        normalize(spec, origin)
    return spec


def is_transfer(spec) -> bool:
    """True for a `type: transfer` spec (an ImageNet backbone and a new head)."""
    return isinstance(spec, dict) and spec.get("type") == "transfer"


def create_model(name_or_spec: str | dict, *, input_shape=(28, 28, 1), num_classes=10,
                 dropout: float | None = None, l1: float = 0.0, l2: float = 0.0,
                 batchnorm: bool | None = None, crop: int = 0,
                 preprocessing: list | None = None, name: str | None = None):
    """Build a model that maps raw 0..255 pixels to class probabilities.

    The model is `keras.Input(input_shape)` -> `preprocessing` layers (e.g. augmentation,
    active in training only) -> `Rescaling(1/255, name="rescale")` -> `Cropping2D(crop)`
    when `crop` > 0 -> the spec's body, after the regularization transforms (see
    `regularize.py`):

    - `dropout`: None keeps the spec; 0 removes Dropout; R > 0 sets existing Dropout
      rates to R and adds Dropout(R) before each Dense not already preceded by one.
    - `l1`, `l2`: L1L2 kernel penalty on every Conv*, Dense, LSTM, GRU, SimpleRNN.
    - `batchnorm`: None keeps; False removes BatchNormalization; True adds it after each
      Conv2D and hidden Dense, with the activation moved after it.

    `name_or_spec` is a preset name (see `list_models()`), a YAML spec path or a spec
    dict. `name` names the Keras model; it defaults to the preset or file name.
    """
    if isinstance(name_or_spec, dict):
        spec = copy.deepcopy(name_or_spec)
        default_name = str(spec.get("name") or "model")
        label = spec.get("name") or name
        origin = f"model {label!r}" if label else "model spec (dict)"
    else:
        spec, origin, default_name = _locate(name_or_spec)
    if is_transfer(spec):
        from ..transfer.model import build_transfer_model, refuse_batchnorm

        if dropout is not None:
            spec["dropout"] = dropout
        refuse_batchnorm(batchnorm)
        return build_transfer_model(spec, tuple(input_shape), num_classes,
                                    name or default_name, preprocessing=preprocessing,
                                    crop=crop, l1=l1, l2=l2)
    graph = normalize(spec, origin)
    graph = regularize(graph, dropout=dropout, l1=l1, l2=l2, batchnorm=batchnorm)
    return build_model(graph, input_shape=input_shape, num_classes=num_classes,
                       preprocessing=preprocessing, crop=crop, name=name or default_name)
