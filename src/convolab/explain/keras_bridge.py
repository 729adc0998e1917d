"""Copy a Keras model (or a run directory's model) into the NumPy reference network.

    net = from_run("runs/default")          # same predictions as Run.predict
    probs = net.predict_proba(raw_images)

The Keras layers are read back into a sequential spec and built by `numpy_ref.from_spec`,
then their kernels and biases are loaded with `numpy_ref.set_weights`. Augmentation
layers (Random*) do nothing at inference and are left out.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConvolabError
from . import numpy_ref

#: Keras layer class -> the config keys the NumPy layer takes (same names).
CONFIG_KEYS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "Dense": ("units", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "Flatten": (),
    "Dropout": ("rate",),
    "Rescaling": ("scale", "offset"),
    "Cropping2D": ("cropping",),
    "ReLU": (),
    "Softmax": (),
}
#: Config values the NumPy layers assume (anything else is refused).
REQUIRED = {"data_format": ("channels_last", None), "dilation_rate": ((1, 1), [1, 1], 1),
            "groups": (1,), "max_value": (None,), "negative_slope": (0.0,),
            "threshold": (0.0,), "axis": (-1,)}


def _layer_entry(layer, where: str) -> dict:
    """`{ClassName: args}` for one Keras layer, or a ConvolabError if NumPy lacks it."""
    cls = type(layer).__name__
    if cls not in CONFIG_KEYS:
        raise ConvolabError(f"{where}: layer {layer.name!r} ({cls}) has no NumPy counterpart; "
                            f"the NumPy reference supports {', '.join(CONFIG_KEYS)}")
    config = layer.get_config()
    for key, allowed in REQUIRED.items():
        if key in config and config[key] not in allowed:
            raise ConvolabError(f"{where}: layer {layer.name!r} ({cls}) has {key}="
                                f"{config[key]!r}, which the NumPy reference does not support")
    args = {key: config[key] for key in CONFIG_KEYS[cls] if key in config}
    return {cls: args}


def _weights(layer) -> list:
    if type(layer).__name__ not in ("Conv2D", "Dense"):
        return []
    return [layer.kernel.numpy()] + ([layer.bias.numpy()] if layer.use_bias else [])


def from_keras(model, where: str | None = None) -> numpy_ref.Sequential:
    """A NumPy network computing what the (chain-shaped) Keras `model` computes."""
    where = where or f"Keras model {model.name!r}"
    kept, previous = [], None
    for layer in model.layers:
        try:
            chained = previous is None or layer.input is previous.output
        except (AttributeError, ValueError):  # shared layers, several inputs
            chained = False
        if not chained:
            raise ConvolabError(f"{where}: layer {layer.name!r} does not simply follow the one "
                                f"before it; the NumPy reference covers sequential models")
        previous = layer
        cls = type(layer).__name__
        if cls != "InputLayer" and not cls.startswith("Random"):
            kept.append(layer)
    spec = {"type": "sequential", "layers": [_layer_entry(layer, where) for layer in kept]}
    input_shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    net = numpy_ref.from_spec(spec, input_shape, rescale=None, origin=where)
    numpy_ref.set_weights(net, [w for layer in kept for w in _weights(layer)])
    return net


def from_run(run_dir: str | Path) -> numpy_ref.Sequential:
    """The NumPy network of a run directory's `model.keras`."""
    from ..run import MODEL_FILE, Run

    run = Run.load(run_dir)
    return from_keras(run.model, where=str(Path(run_dir) / MODEL_FILE))
