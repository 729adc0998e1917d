"""Input adaptation inside the model, so a saved `model.keras` takes raw 0-255 images.

Two small Keras layers written with `keras.ops` only (any backend), serializable by name:
`GrayscaleToRGB` repeats a single channel three times, and `ImageNetPreprocessing(mode)`
scales pixels exactly as `keras.applications.<module>.preprocess_input` does:

    caffe  VGG16, ResNet50       RGB -> BGR, minus the ImageNet mean (BGR), no scaling
    tf     InceptionV3, MobileNetV2   x / 127.5 - 1
    torch  (DenseNet)            x / 255, minus mean, over std (RGB)
    raw    EfficientNetB0        nothing: the model rescales inside
    lite   EfficientNet-Lite     (x - 127) / 128

`input_adapter` lists the layers a backbone needs in front of it: grey to RGB, a bilinear
`keras.layers.Resizing` to the backbone's side, and the preprocessing.
"""

from __future__ import annotations

import keras

from ..errors import ConvolabError
from . import efficientnet_lite

#: keras.applications.imagenet_utils constants: caffe mean in BGR order, torch mean/std RGB.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch", "raw", "lite")


@keras.saving.register_keras_serializable(package="convolab")
class GrayscaleToRGB(keras.layers.Layer):
    """(..., H, W, 1) -> (..., H, W, 3) by repeating the channel; 3 channels pass through."""

    def compute_output_shape(self, input_shape):
        if input_shape[-1] not in (1, 3):
            raise ConvolabError(f"GrayscaleToRGB got images with {input_shape[-1]} channels; "
                                f"pass 1 (grey) or 3 (RGB) channels")
        return (*input_shape[:-1], 3)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        if inputs.shape[-1] == 1:
            return keras.ops.repeat(inputs, 3, axis=-1)
        return inputs


@keras.saving.register_keras_serializable(package="convolab")
class ImageNetPreprocessing(keras.layers.Layer):
    """Scale RGB 0-255 pixels as an ImageNet base expects; `mode` is one of MODES."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ConvolabError(f"preprocessing mode {mode!r} is not known; use one of "
                                f"{', '.join(MODES)}")
        self.mode = mode

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = keras.ops.flip(x, axis=-1)  # RGB -> BGR
            return x - keras.ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = keras.ops.convert_to_tensor(TORCH_MEAN, dtype=x.dtype)
            std = keras.ops.convert_to_tensor(TORCH_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "lite":
            return (x - efficientnet_lite.MEAN) / efficientnet_lite.STD
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def input_adapter(backbone, image_size: int, channels: int,
                  input_size: tuple[int, int] | None = None) -> list[keras.layers.Layer]:
    """The layers between raw 0-255 images with `channels` channels and the base:
    GrayscaleToRGB for one channel, Resizing to `image_size` unless `input_size` (H, W)
    is already that, then ImageNetPreprocessing of the backbone's mode."""
    from .backbones import check_image_size, get_backbone

    b = get_backbone(backbone)
    check_image_size(b, image_size)
    if channels not in (1, 3):
        raise ConvolabError(f"images with {channels} channels cannot feed {b.name}; pass "
                            f"grey (1 channel) or RGB (3 channel) images")
    layers: list[keras.layers.Layer] = []
    if channels == 1:
        layers.append(GrayscaleToRGB(name="grayscale_to_rgb"))
    if tuple(input_size or ()) != (image_size, image_size):
        layers.append(keras.layers.Resizing(image_size, image_size, interpolation="bilinear",
                                            name="resize"))
    layers.append(ImageNetPreprocessing(b.preprocessing, name="imagenet_preprocessing"))
    return layers
