"""A transfer model from a YAML-style spec, and freezing / unfreezing its base.

    type: transfer
    backbone: efficientnet_lite0
    weights: imagenet          # imagenet | none | PATH
    image_size: 224            # optional; the backbone's default_size
    dropout: 0.2               # optional, before the classifier
    head: []                   # optional [{LayerClass: {args}}] after pooling

The model takes the dataset's raw 0-255 images: grey to RGB, resize, ImageNet scaling,
the base, global average pooling, the head, dropout, softmax classifier. A pretrained base
is always called with training=False, so its BatchNormalization stays in inference mode
even when unfrozen; a base with `weights: none` trains from scratch, its BatchNormalization
learning as usual (momentum 0.9, so its statistics settle in a short run).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConvolabError, did_you_mean
from . import backbones

#: BatchNormalization momentum of a base trained from scratch (`weights: none`). The bases'
#: own 0.99 (0.999 in MobileNetV2) leaves moving statistics near their starting values for
#: hundreds of steps, so a short run tests at chance (see models/batchnorm_check.py).
SCRATCH_BATCHNORM_MOMENTUM = 0.9

SPEC_KEYS = ("type", "description", "name", "backbone", "weights", "image_size", "dropout",
             "head")


def check_spec(spec: dict) -> dict:
    """The spec with defaults filled in, or a ConvolabError naming the bad key or value."""
    if not isinstance(spec, dict):
        raise ConvolabError(f"transfer spec must be a mapping with `backbone:`, got "
                            f"{type(spec).__name__}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ConvolabError(f"transfer spec: unknown key {key!r}"
                                f"{did_you_mean(str(key), SPEC_KEYS)}; allowed keys: "
                                f"{', '.join(SPEC_KEYS)}")
    if spec.get("type", "transfer") != "transfer":
        raise ConvolabError(f"transfer spec: type {spec['type']!r} is not transfer; write "
                            f"`type: transfer`")
    if "backbone" not in spec:
        raise ConvolabError(f"transfer spec has no `backbone:`; add one of "
                            f"{', '.join(b.name for b in backbones.list_backbones())}")
    b = backbones.get_backbone(spec["backbone"])
    size = spec.get("image_size")
    size = b.default_size if size is None else backbones.check_image_size(b, size)
    weights = backbones.parse_weights(spec.get("weights", "imagenet"))
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise ConvolabError(f"weights file {weights} does not exist; pass imagenet, none or "
                            f"the path of a .h5 / .weights.h5 file for {b.name}")
    dropout = spec.get("dropout", 0.0) or 0.0
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0 <= dropout < 1:
        raise ConvolabError(f"transfer spec: dropout {dropout!r} must be a number in [0, 1); "
                            f"use e.g. 0.2")
    head = spec.get("head") or []
    if not isinstance(head, list):
        raise ConvolabError(f"transfer spec: head must be a list of `- LayerName: {{args}}` "
                            f"entries, got {type(head).__name__}")
    return {"backbone": b, "weights": weights, "image_size": size, "dropout": float(dropout),
            "head": head}


def refuse_batchnorm(batchnorm: bool | None) -> None:
    """A ConvolabError unless `model.batchnorm` is unset: a transfer model keeps its base's
    own BatchNormalization."""
    if batchnorm is not None:
        raise ConvolabError("model.batchnorm adds or removes a preset's BatchNormalization; "
                            "a transfer model keeps its base's own (frozen, in inference "
                            "mode): leave batchnorm unset")


def _head_layers(head: list) -> list:
    """Keras layers for the `head:` entries, checked like a sequential spec's layers."""
    from ..models.spec import check_arg_kinds, layer_arg_names, layer_class

    layers = []
    for i, entry in enumerate(head, start=1):
        where = f"transfer spec, head layer {i}"
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConvolabError(f"{where}: each entry must be one `LayerName: {{args}}` "
                                f"mapping, got {entry!r}")
        ((cls_name, args),) = entry.items()
        cls = layer_class(cls_name, where)
        args = dict(args or {})
        allowed = layer_arg_names(cls)
        for arg in args:
            if arg not in allowed:
                raise ConvolabError(f"{where}: {cls_name} has no argument {arg!r}"
                                    f"{did_you_mean(str(arg), allowed)}")
        check_arg_kinds(cls, args, where)
        try:
            layers.append(cls(**args))
        except Exception as exc:
            raise ConvolabError(f"{where}: {cls_name}({args}) is invalid: "
                                f"{' '.join(str(exc).split())[:200]}")
    return layers


def build_transfer_model(spec: dict, input_shape: tuple, num_classes: int,
                         name: str = "transfer", *, preprocessing: list | None = None,
                         crop: int = 0, l1: float = 0.0, l2: float = 0.0):
    """raw images (input_shape, 0-255) -> [preprocessing] -> [crop] -> adapter -> base ->
    pool -> head -> softmax.

    `preprocessing`: layers on the raw pixels first (augmentation, active in training
    only); `crop`: pixels cut from every border; `l1`, `l2`: a kernel penalty on the
    head's Dense layers and the classifier (the base keeps its own). The base is the
    layer named after the backbone (`find_base`); its last feature map in this graph is
    `model.get_layer("avg_pool").input` (for Grad-CAM). Nothing is frozen here: see
    `freeze_base` and `unfreeze`.
    """
    import keras

    from ..models.spec import check_input_shape
    from . import adapt

    s = check_spec(spec)
    height, width, channels = check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConvolabError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    b = s["backbone"]
    head = _head_layers(s["head"])
    if l1 or l2:
        for layer in head:
            if isinstance(layer, keras.layers.Dense) and layer.kernel_regularizer is None:
                layer.kernel_regularizer = keras.regularizers.L1L2(l1=l1, l2=l2)
    base = backbones.build_base(b, s["image_size"], s["weights"])
    if s["weights"] is None:
        for bn in _batchnorms(base):
            bn.momentum = SCRATCH_BATCHNORM_MOMENTUM
    inputs = keras.Input(shape=(height, width, channels), name="pixels", dtype="float32")
    x = inputs
    for layer in preprocessing or []:
        x = layer(x)
    if crop:
        if 2 * crop >= min(height, width):
            raise ConvolabError(f"crop {crop} leaves nothing of {height}x{width} images; use a "
                                f"crop below {(min(height, width) + 1) // 2}")
        x = keras.layers.Cropping2D(crop, name="crop")(x)
        height, width = height - 2 * crop, width - 2 * crop
    for layer in adapt.input_adapter(b, s["image_size"], channels, (height, width)):
        x = layer(x)
    x = base(x, training=False) if s["weights"] is not None else base(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    for layer in head:
        try:
            x = layer(x)
        except Exception as exc:
            raise ConvolabError(f"transfer spec, head layer {layer.name}: fails on the pooled "
                                f"features of shape {tuple(x.shape)}: "
                                f"{' '.join(str(exc).split())[:200]}")
    if s["dropout"]:
        x = keras.layers.Dropout(s["dropout"], name="top_dropout")(x)
    penalty = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions",
                                 kernel_regularizer=penalty)(x)
    return keras.Model(inputs, outputs, name=name)


def find_base(model):
    """The backbone base inside a transfer model (the layer named after its backbone)."""
    names = {b.name for b in backbones.list_backbones()}
    for layer in model.layers:
        if layer.name in names and hasattr(layer, "layers"):
            return layer
    raise ConvolabError(f"model {model.name} holds no backbone base (a layer named one of "
                        f"{', '.join(sorted(names))}); build it with build_transfer_model")


def _batchnorms(layer):
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        yield layer
    for inner in getattr(layer, "layers", []):
        yield from _batchnorms(inner)


def _trainable_summary(model) -> dict:
    base = find_base(model)
    count = lambda weights: int(sum(math.prod(w.shape) for w in weights))
    return {"base": base.name,
            "trainable_layers": [layer.name for layer in base.layers
                                 if layer.trainable and layer.weights],
            "base_trainable_weights": len(base.trainable_weights),
            "base_trainable_params": count(base.trainable_weights),
            "trainable_params": count(model.trainable_weights),
            "non_trainable_params": count(model.non_trainable_weights)}


def freeze_base(model) -> dict:
    """Freeze the whole base (a linear probe trains only the head); what is trainable."""
    find_base(model).trainable = False
    return _trainable_summary(model)


def unfreeze(model, which, keep_batchnorm_frozen: bool = True) -> dict:
    """Make the base trainable: "all", "none" (stays frozen) or an int N, the top N groups
    of `backbones.blocks`. BatchNormalization layers in the base stay frozen (the Keras
    fine-tuning rule, keras#20285) unless `keep_batchnorm_frozen` is False (a base trained
    from scratch). Recompile the model afterwards. Returns what is trainable: layer names
    and parameter counts."""
    base = find_base(model)
    b = backbones.get_backbone(base.name)
    if which == "none":
        base.trainable = False
        return _trainable_summary(model)
    if which == "all":
        chosen = None
    elif isinstance(which, int) and not isinstance(which, bool) and which >= 0:
        groups = backbones.blocks(base, b)
        if which > len(groups):
            raise ConvolabError(f"cannot unfreeze the top {which} blocks of {b.name}: it has "
                                f"{len(groups)}; use a number up to {len(groups)} or 'all'")
        chosen = {name for group in groups[len(groups) - which:] for name in group}
    else:
        raise ConvolabError(f"unfreeze {which!r} is not 'all', 'none' or a whole number of "
                            f"blocks; pass e.g. 2")
    base.trainable = True
    for layer in base.layers:
        layer.trainable = chosen is None or layer.name in chosen
    if keep_batchnorm_frozen:
        for bn in _batchnorms(base):
            bn.trainable = False
    return _trainable_summary(model)
