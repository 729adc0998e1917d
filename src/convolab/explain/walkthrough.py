"""One image through a trained CNN, layer by layer, computed by the NumPy reference network.

    result = explain_image("runs/default", "test:0")
    result.predicted_name, result.probabilities        # what the model says
    conv = result.steps_of(ConvStep)[0]
    conv.mac.value == conv.pre_activation[conv.mac.row, conv.mac.col, conv.mac.filter]

Every step records what its layer computed (without the batch axis) and the numbers that
show how: for a convolution the multiply-add at one output position written out (patch,
kernel, products, sum + bias) and where that patch and kernel sit in the im2col matrix
product; for max pooling one window and the value it keeps; for ReLU how many values it
zeroed. The run's Keras model must agree with the NumPy network (`MATCH_TOLERANCE`), so
the numbers shown are the ones the model computes. `convolab explain` prints the result
(`walk_terminal`) and writes it as a page (`walk_html`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConvolabError
from ..run import MODEL_FILE, Run
from . import numpy_ref as nr
from .inputs import ModelInput, load_input

#: Largest difference allowed between the NumPy and the Keras probabilities.
MATCH_TOLERANCE = 1e-4


@dataclass
class Step:
    """What one layer did: its name, shapes (no batch axis) and output."""

    name: str
    input_shape: tuple
    output_shape: tuple
    output: np.ndarray


@dataclass
class RescaleStep(Step):
    scale: float
    offset: float


@dataclass
class MultiplyAdd:
    """One output value of a convolution, computed by hand."""

    row: int                    # output position (row, col) and filter
    col: int
    filter: int
    top: int                    # the patch's top-left corner in the zero-padded input
    left: int
    patch: np.ndarray           # (KH, KW, C) input values under the kernel
    kernel: np.ndarray          # (KH, KW, C) the filter's weights
    products: np.ndarray        # (KH, KW, C) patch * kernel
    bias: float
    total: float                # products.sum()
    value: float                # total + bias
    map_value: float            # the layer's feature map (before activation) at that place
    patch_row: int              # the row of the im2col patches matrix that is this patch
    patches_shape: tuple        # (OH*OW, KH*KW*C)
    kernel_matrix_shape: tuple  # (KH*KW*C, F)
    patches_row: np.ndarray     # (KH*KW*C,) that row of the patches matrix
    kernel_column: np.ndarray   # (KH*KW*C,) column `filter` of the kernel matrix

    @property
    def channel_sums(self) -> np.ndarray:
        """(C,) the sum of the products of each input channel."""
        return self.products.sum(axis=(0, 1))


@dataclass
class ConvStep(Step):
    kernel: np.ndarray          # (KH, KW, C, F)
    bias: np.ndarray            # (F,) zeros when the layer has none
    strides: tuple
    padding: str
    pre_activation: np.ndarray  # (OH, OW, F) patches @ kernel matrix + bias
    activation: str | None      # "relu" or None
    zeroed: int                 # values the activation set to 0 (negative ones)
    mac: MultiplyAdd


@dataclass
class ReluStep(Step):
    zeroed: int


@dataclass
class PoolStep(Step):
    pool_size: tuple
    strides: tuple
    row: int                    # output position and channel of the window shown
    col: int
    channel: int
    follows: tuple              # the input position (row, col) the window was picked for
    top: int                    # the window's top-left corner in the (padded) input
    left: int
    window: np.ndarray          # (PH, PW) the values pooled
    kept: float                 # the output value: the window's maximum


@dataclass
class FlattenStep(Step):
    pass


@dataclass
class DropoutStep(Step):
    rate: float


@dataclass
class CropStep(Step):
    cropping: tuple             # ((top, bottom), (left, right)) pixels cut off


@dataclass
class DenseStep(Step):
    kernel_shape: tuple         # (D, U)
    activation: str | None
    zeroed: int
    logits: bool                # True for the layer whose outputs go into the softmax


@dataclass
class SoftmaxStep(Step):
    logits: np.ndarray          # (K,)


@dataclass
class Walkthrough:
    """The whole walk: the input, one step per layer and the prediction."""

    run_dir: Path
    source: str                 # the IMAGE argument
    stem: str
    image: np.ndarray           # (H, W, C) raw 0..255 pixels, as the model takes them
    true_label: int | None
    class_names: list[str]
    steps: list[Step]
    probabilities: np.ndarray   # (K,) from the NumPy network
    keras_probabilities: np.ndarray
    max_abs_diff: float         # between the two

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.predicted]

    def steps_of(self, kind: type) -> list:
        return [s for s in self.steps if isinstance(s, kind)]


def _activation_name(layer) -> str | None:
    act = getattr(layer, "activation", None)
    return None if act is None else "relu" if isinstance(act, nr.ReLU) else type(act).__name__


def _conv_place(layer: nr.Conv2D, pre: np.ndarray, pads, focus, position) -> tuple:
    """(row, col, filter) to write out: `position` for the first convolution (or its
    strongest value), later the output over the same place of the image as `focus`."""
    oh, ow, _ = pre.shape
    if focus is None:
        if position is None:
            return tuple(int(i) for i in np.unravel_index(np.argmax(pre), pre.shape))
        row, col = position
        if not (0 <= row < oh and 0 <= col < ow):
            raise ConvolabError(f"--position {row} {col} is outside the first convolution's "
                                f"output of {oh}x{ow}; use a row from 0 to {oh - 1} and a "
                                f"column from 0 to {ow - 1}")
    else:
        (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
        row = int(np.clip(round((focus[0] + pads[0][0] - kh // 2) / sh), 0, oh - 1))
        col = int(np.clip(round((focus[1] + pads[1][0] - kw // 2) / sw), 0, ow - 1))
    return row, col, int(np.argmax(pre[row, col]))


def _conv_step(layer: nr.Conv2D, x: np.ndarray, focus, position) -> ConvStep:
    out = layer.forward(x)                                    # (1, OH, OW, F)
    _, _, pads, cols, oh, ow = layer.cache
    kernel = layer.params["kernel"]                           # (KH, KW, C, F)
    filters = kernel.shape[3]
    bias = layer.params.get("bias", np.zeros(filters, kernel.dtype))
    kmat = kernel.reshape(-1, filters)                        # (KH*KW*C, F)
    pre = (cols @ kmat + bias).reshape(oh, ow, filters)       # (OH, OW, F)
    row, col, f = _conv_place(layer, pre, pads, focus, position)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    xp = nr._pad(x, pads)[0]                                  # (H+pad, W+pad, C)
    top, left = row * sh, col * sw
    patch = xp[top:top + kh, left:left + kw, :]               # (KH, KW, C)
    products = patch * kernel[..., f]
    total = float(products.astype(np.float64).sum())
    activation = _activation_name(layer)
    mac = MultiplyAdd(row=row, col=col, filter=f, top=top, left=left, patch=patch,
                      kernel=kernel[..., f], products=products, bias=float(bias[f]),
                      total=total, value=total + float(bias[f]),
                      map_value=float(pre[row, col, f]), patch_row=row * ow + col,
                      patches_shape=cols.shape, kernel_matrix_shape=kmat.shape,
                      patches_row=cols[row * ow + col], kernel_column=kmat[:, f])
    return ConvStep(name=layer.name, input_shape=x.shape[1:], output_shape=out.shape[1:],
                    output=out[0], kernel=kernel, bias=bias, strides=layer.strides,
                    padding=layer.padding, pre_activation=pre, activation=activation,
                    zeroed=int((pre < 0).sum()) if activation == "relu" else 0, mac=mac)


def _pool_step(layer: nr.MaxPooling2D, x: np.ndarray, focus, channel: int) -> PoolStep:
    out = layer.forward(x)                                    # (1, OH, OW, C)
    _, _, pads = layer.cache
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    oh, ow = out.shape[1:3]
    row = int(np.clip((focus[0] + pads[0][0]) // sh, 0, oh - 1))
    col = int(np.clip((focus[1] + pads[1][0]) // sw, 0, ow - 1))
    xp = nr._pad(x, pads, value=-np.inf)[0]                   # (H+pad, W+pad, C)
    top, left = row * sh, col * sw
    window = xp[top:top + ph, left:left + pw, channel]        # (PH, PW)
    return PoolStep(name=layer.name, input_shape=x.shape[1:], output_shape=out.shape[1:],
                    output=out[0], pool_size=layer.pool_size, strides=layer.strides,
                    row=row, col=col, channel=channel, follows=tuple(focus), top=top,
                    left=left, window=window,
                    kept=float(out[0, row, col, channel]))


def walk(net: nr.Sequential, image: np.ndarray,
         position: tuple[int, int] | None = None) -> list[Step]:
    """Run one raw image (H, W, C) through `net`, recording each layer as a Step.

    `position` (row, col) picks the output of the first convolution whose multiply-add is
    written out (default: its largest value); later layers follow the same place.
    """
    x = np.asarray(image, dtype=net.dtype)[None]              # (1, H, W, C)
    steps: list[Step] = []
    focus, channel = None, 0
    for i, layer in enumerate(net.layers):
        shape_in = x.shape[1:]
        if isinstance(layer, nr.Conv2D):
            step = _conv_step(layer, x, focus, position)
            focus, channel = (step.mac.row, step.mac.col), step.mac.filter
        elif isinstance(layer, nr.MaxPooling2D):
            step = _pool_step(layer, x, focus or (0, 0), channel)
            focus = (step.row, step.col)
        elif isinstance(layer, nr.Dense):
            out = layer.forward(x)
            kernel = layer.params["kernel"]
            pre = x @ kernel + layer.params.get("bias", 0)    # (1, U)
            activation = _activation_name(layer)
            nxt = net.layers[i + 1] if i + 1 < len(net.layers) else None
            step = DenseStep(layer.name, shape_in, out.shape[1:], out[0], kernel.shape,
                             activation, int((pre < 0).sum()) if activation == "relu" else 0,
                             logits=isinstance(nxt, nr.Softmax))
        elif isinstance(layer, nr.Softmax):
            out = layer.forward(x)
            step = SoftmaxStep(layer.name, shape_in, out.shape[1:], out[0], logits=x[0])
        else:
            out = layer.forward(x)
            common = (layer.name, shape_in, out.shape[1:], out[0])
            if isinstance(layer, nr.Rescaling):
                step = RescaleStep(*common, scale=layer.scale, offset=layer.offset)
            elif isinstance(layer, nr.ReLU):
                step = ReluStep(*common, zeroed=int((x < 0).sum()))
            elif isinstance(layer, nr.Flatten):
                step = FlattenStep(*common)
            elif isinstance(layer, nr.Dropout):
                step = DropoutStep(*common, rate=layer.rate)
            elif isinstance(layer, nr.Cropping2D):
                step = CropStep(*common, cropping=layer.cropping)
            else:  # a layer type added to numpy_ref but not to this walk
                raise ConvolabError(f"layer {layer.name!r} ({type(layer).__name__}) has no "
                                    f"step in the explain walk-through")
        steps.append(step)
        x = step.output[None]
    return steps


def mirror(run: Run) -> nr.Sequential:
    """The run's model as a NumPy network, or a ConvolabError saying why it cannot be."""
    from .keras_bridge import from_keras

    where = str(run.path / MODEL_FILE)
    try:
        net = from_keras(run.model, where=where)
    except ConvolabError as exc:
        raise ConvolabError(f"cannot walk through {run.path}: {exc}; `convolab explain` "
                            f"mirrors plain sequential CNNs (seed-cnn, keras-convnet, fast); "
                            f"`convolab show` draws the filters, feature maps and saliency "
                            f"of other models")
    if not any(isinstance(layer, nr.Conv2D) for layer in net.layers):
        raise ConvolabError(f"cannot walk through {run.path}: its model has no Conv2D layer; "
                            f"`convolab explain` walks through CNNs such as seed-cnn")
    if not isinstance(net.layers[-1], nr.Softmax):
        raise ConvolabError(f"cannot walk through {run.path}: its model does not end with a "
                            f"softmax; `convolab explain` shows class probabilities")
    return net


def explain_image(run_dir: str | Path, image: str,
                  position: tuple[int, int] | None = None) -> Walkthrough:
    """Walk IMAGE (a file or `test:INDEX`) through the run's model in NumPy (see module doc)."""
    run = Run.load(run_dir)
    net = mirror(run)
    model_input: ModelInput = load_input(run, image)
    return explain_pixels(run, net, model_input.pixels, position, source=model_input.source,
                          stem=model_input.stem, true_label=model_input.true_label)


def explain_pixels(run: Run, net: nr.Sequential, pixels: np.ndarray,
                   position: tuple[int, int] | None = None, *, source: str = "the image",
                   stem: str = "image", true_label: int | None = None,
                   keras_predict=None, shown_as: str | None = None) -> Walkthrough:
    """Walk model input `pixels` (H, W, C) through `net`, checked against Keras.

    `keras_predict`: a function (N, H, W, C) -> probabilities to check against; defaults
    to the run's own `predict`. `shown_as`: the name the walk gives the run instead of its
    folder (a server does not show its paths).
    """
    steps = walk(net, pixels, position)
    probabilities = steps[-1].output
    keras_probabilities = (keras_predict or run.predict)(pixels[None])[0]
    diff = float(np.abs(probabilities - keras_probabilities).max())
    if not diff <= MATCH_TOLERANCE:
        raise ConvolabError(f"the NumPy reference and Keras disagree on {source} by "
                            f"{diff:.2g} (more than {MATCH_TOLERANCE}); the walk-through "
                            f"would not show what {shown_as or run.path / MODEL_FILE} "
                            f"computes, so it is not written")
    return Walkthrough(run_dir=Path(shown_as) if shown_as else run.path, source=source,
                       stem=stem, image=pixels, true_label=true_label,
                       class_names=run.class_names, steps=steps, probabilities=probabilities,
                       keras_probabilities=keras_probabilities, max_abs_diff=diff)
