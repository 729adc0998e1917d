"""What the explain walk-through shows, as a list of sections of simple blocks.

`sections(result)` turns a `walkthrough.Walkthrough` into sections of text lines, number
matrices, tables and figure slots; `walk_terminal` draws them with rich and `walk_html` as a
page, so both show the same content.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..run import MODEL_FILE
from . import walkthrough as wt

#: Values of a vector shown before "…" (a vector one longer is shown whole).
VECTOR_HEAD = 9
#: Side of the feature-map neighbourhood shown around the written-out position.
NEIGHBOURHOOD = 5


@dataclass
class Matrix:
    """A 2-D array of numbers to show, optionally shaded and with one cell marked."""

    title: str
    values: np.ndarray
    digits: int = 3                          # decimals (0: integers)
    shade: tuple[float, float] | None = None  # value range mapped to black..white
    mark: tuple[int, int] | None = None      # (row, col) within `values`
    first_row: int = 0                       # index labels start here
    first_col: int = 0
    labels: bool = False                     # show row and column indices


@dataclass
class Side:
    """Matrices side by side, with operator strings between them ("×", "=")."""

    items: list


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    mark_row: int | None = None


@dataclass
class FigureSlot:
    """A picture the page shows (the terminal leaves it out); see walk_html.FIGURES."""

    key: str
    caption: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)


def number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def tiny(value: float, digits: int = 4) -> str:
    """Like `number`, but values too small for `digits` decimals in scientific notation."""
    return f"{value:.2e}" if 0 < abs(value) < 10 ** -digits * 5 else number(value, digits)


def vector(values: np.ndarray, digits: int = 3) -> str:
    """'[a, b, c, … (N values)]' with the first VECTOR_HEAD values."""
    values = np.ravel(values)
    cut = len(values) > VECTOR_HEAD + 1
    head = ", ".join(number(v, digits) for v in (values[:VECTOR_HEAD] if cut else values))
    more = f", … ({len(values)} values)" if cut else ""
    return f"[{head}{more}]"


def shape(s) -> str:
    return "(" + ", ".join(str(int(v)) for v in s) + ")"


def _input_section(result: wt.Walkthrough) -> Section:
    image = result.image
    h, w, c = image.shape
    grey = image[..., 0]
    whole = bool(np.all(grey == np.round(grey)))
    note = "" if whole else " (rounded to integers)"
    channel = "" if c == 1 else f", channel 0 of {c}"
    truth = ("" if result.true_label is None
             else f"; its label is {result.class_names[result.true_label]}")
    return Section(f"Input: {result.source}", [
        f"The model takes raw pixels 0..255, shape {shape(image.shape)}{truth}. The "
        f"{h}x{w} matrix{channel}{note}, shaded by value:",
        Matrix("input pixels", grey, digits=0, shade=(0.0, 255.0), labels=True),
        FigureSlot("input", "the input image"),
    ])


def _rescale_section(step: wt.RescaleStep) -> Section:
    return Section(f"{step.name}: Rescaling", [
        f"Every value is multiplied by {step.scale:.6g} and {step.offset:g} is added: "
        f"0..255 becomes {step.offset:g}..{255 * step.scale + step.offset:.6g}. Shape stays "
        f"{shape(step.output_shape)}.",
    ])


def _mac_blocks(step: wt.ConvStep, source: str) -> list:
    mac = step.mac
    kh, kw, c = mac.patch.shape
    padded = ", zero-padded" if step.padding == "same" else ""
    where = (f"rows {mac.top}..{mac.top + kh - 1}, columns {mac.left}..{mac.left + kw - 1} "
             f"of its input ({source}{padded})")
    blocks = [f"One output value written out: filter {mac.filter} at row {mac.row}, column "
              f"{mac.col}. The {kh}x{kw} kernel lies on {where}; each input value is "
              f"multiplied by the weight over it and the products are added up."]
    if c == 1:
        blocks.append(Side([Matrix("input patch", mac.patch[..., 0]), "×",
                            Matrix(f"kernel of filter {mac.filter}", mac.kernel[..., 0]), "=",
                            Matrix("products", mac.products[..., 0])]))
        blocks.append(f"sum of the {kh * kw} products = {number(mac.total)}; + bias "
                      f"{number(mac.bias)} = {number(mac.value)}")
    else:
        ch = int(np.argmax(np.abs(mac.channel_sums)))
        blocks.append(f"The patch has {c} channels; channel {ch} (the largest contribution) "
                      f"written out:")
        blocks.append(Side([Matrix(f"input patch, channel {ch}", mac.patch[..., ch]), "×",
                            Matrix(f"kernel {mac.filter}, channel {ch}", mac.kernel[..., ch]),
                            "=", Matrix("products", mac.products[..., ch])]))
        blocks.append(f"channel {ch}'s products add up to {number(mac.channel_sums[ch])}. "
                      f"The same for each of the {c} channels:")
        cols = 8
        sums = np.full(-(-c // cols) * cols, np.nan)
        sums[:c] = mac.channel_sums
        blocks.append(Matrix(f"sum of products per input channel (channel = row × {cols} "
                             f"+ column)", sums.reshape(-1, cols), labels=True))
        blocks.append(f"sum of all {kh * kw * c} products = {number(mac.total)}; + bias "
                      f"{number(mac.bias)} = {number(mac.value)}")
    ok = "✓" if abs(mac.value - mac.map_value) <= 1e-4 * max(1.0, abs(mac.value)) else "✗"
    blocks.append(f"The layer's feature map holds {number(mac.map_value)} at [{mac.row}, "
                  f"{mac.col}, {mac.filter}] {ok} (difference "
                  f"{abs(mac.value - mac.map_value):.1g}).")
    return blocks


def _im2col_blocks(step: wt.ConvStep) -> list:
    mac = step.mac
    rows, k = mac.patches_shape
    oh, ow = step.output_shape[:2]
    return [
        f"The same as one matrix product (im2col): the patches matrix has one row per output "
        f"position ({oh}x{ow} = {rows} rows) and one column per patch value ({k}). Row "
        f"{mac.patch_row} = {mac.row}×{ow} + {mac.col} is this patch, flattened in (row, "
        f"column, channel) order: {vector(mac.patches_row)}.",
        f"The kernel matrix {shape(mac.kernel_matrix_shape)} holds one filter per column; "
        f"column {mac.filter} is this kernel: {vector(mac.kernel_column)}.",
        f"patches {shape(mac.patches_shape)} @ kernel matrix "
        f"{shape(mac.kernel_matrix_shape)} + bias = {rows}x{mac.kernel_matrix_shape[1]}, "
        f"reshaped to {shape(step.output_shape)}; row {mac.patch_row} · column {mac.filter} + "
        f"bias = {number(mac.total)} + {number(mac.bias)} = {number(mac.value)}.",
    ]


def _neighbourhood(step: wt.ConvStep) -> Matrix:
    mac = step.mac
    oh, ow = step.output_shape[:2]
    half = NEIGHBOURHOOD // 2
    r0 = int(np.clip(mac.row - half, 0, max(oh - NEIGHBOURHOOD, 0)))
    c0 = int(np.clip(mac.col - half, 0, max(ow - NEIGHBOURHOOD, 0)))
    part = step.pre_activation[r0:r0 + NEIGHBOURHOOD, c0:c0 + NEIGHBOURHOOD, mac.filter]
    return Matrix(f"feature map {mac.filter} before the activation, rows "
                  f"{r0}..{r0 + part.shape[0] - 1}, columns {c0}..{c0 + part.shape[1] - 1}", part,
                  mark=(mac.row - r0, mac.col - c0), first_row=r0, first_col=c0, labels=True)


def _conv_section(step: wt.ConvStep, first: bool, source: str) -> Section:
    kh, kw, c, f = step.kernel.shape
    blocks = [f"Conv2D: {f} filters of {kh}x{kw}x{c} (kernel {shape(step.kernel.shape)}, bias "
              f"({f},)), stride {step.strides[0]}x{step.strides[1]}, padding "
              f"'{step.padding}': {shape(step.input_shape)} → {shape(step.output_shape)}."]
    if first:
        blocks.append(f"The {f} kernels (weights rounded to 3 decimals):")
        blocks.append(Side([Matrix(f"filter {k}", step.kernel[:, :, 0, k]) if c == 1 else
                            Matrix(f"filter {k}, mean over channels",
                                   step.kernel[:, :, :, k].mean(axis=2)) for k in range(f)]))
        blocks.append(FigureSlot(f"kernels-{step.name}", f"the {f} kernels of {step.name}"))
    blocks += _mac_blocks(step, source)
    blocks += _im2col_blocks(step)
    blocks.append(_neighbourhood(step))
    pre = step.pre_activation
    blocks.append(f"All {f} feature maps {shape(pre.shape)}: values from {number(pre.min())} "
                  f"to {number(pre.max())}, mean {number(pre.mean())}.")
    if step.activation == "relu":
        share = 100 * step.zeroed / pre.size
        blocks.append(f"ReLU: {step.zeroed} of {pre.size} values ({share:.1f}%) were negative"
                      f" and became 0; at [{step.mac.row}, {step.mac.col}, "
                      f"{step.mac.filter}] max({number(step.mac.map_value)}, 0) = "
                      f"{number(step.output[step.mac.row, step.mac.col, step.mac.filter])}.")
    label = "after ReLU" if step.activation == "relu" else "output"
    blocks.append(FigureSlot(f"maps-{step.name}", f"feature maps of {step.name} ({label})"))
    return Section(f"{step.name}: Conv2D", blocks)


def _pool_section(step: wt.PoolStep) -> Section:
    (ph, pw), (sh, sw) = step.pool_size, step.strides
    rows = step.window.shape[0]
    mark = tuple(int(i) for i in np.unravel_index(np.argmax(step.window), step.window.shape))
    (fr, fc), (h, w) = step.follows, step.input_shape[:2]
    inside = (step.top <= fr < step.top + rows
              and step.left <= fc < step.left + step.window.shape[1])
    note = ("" if inside else f" Position [{fr}, {fc}] of the previous layer lies in no "
            f"window (a {ph}x{pw} 'valid' pooling of {h}x{w} leaves the last row or column "
            f"out); the nearest window is shown.")
    return Section(f"{step.name}: MaxPooling2D", [
        f"MaxPooling2D {ph}x{pw}, stride {sh}x{sw}: {shape(step.input_shape)} → "
        f"{shape(step.output_shape)}; each output keeps the largest value of its window, "
        f"channel by channel.",
        Matrix(f"window of channel {step.channel}: rows {step.top}..{step.top + rows - 1}, "
               f"columns {step.left}..{step.left + step.window.shape[1] - 1}", step.window,
               mark=mark, first_row=step.top, first_col=step.left, labels=True),
        f"kept: max = {number(step.kept)} → output [{step.row}, {step.col}, "
        f"{step.channel}].{note}",
        FigureSlot(f"maps-{step.name}", f"feature maps after {step.name}"),
    ])


def _dense_section(step: wt.DenseStep) -> Section:
    d, u = step.kernel_shape
    blocks = [f"Dense: {d} inputs @ kernel ({d}, {u}) + bias ({u},) → {u} values."]
    if step.activation == "relu":
        blocks.append(f"ReLU: {step.zeroed} of {u} values were negative and became 0. First "
                      f"values: {vector(step.output)}.")
    elif step.logits:
        blocks.append(f"These {u} values are the logits, one per class: "
                      f"{vector(step.output)}.")
    else:
        blocks.append(f"First values: {vector(step.output)}.")
    return Section(f"{step.name}: Dense", blocks)


def _softmax_section(step: wt.SoftmaxStep, result: wt.Walkthrough) -> Section:
    logits, probs = step.logits, step.output
    shifted = np.exp(logits - logits.max())
    rows = [[str(name), number(z), tiny(e), tiny(p)]
            for name, z, e, p in zip(result.class_names, logits, shifted, probs)]
    truth = ("" if result.true_label is None else
             f" The label is {result.class_names[result.true_label]}: "
             f"{'right' if result.true_label == result.predicted else 'wrong'}.")
    return Section(f"{step.name}: Softmax", [
        "p_i = exp(z_i − max z) / Σ_j exp(z_j − max z): the logits become probabilities.",
        Table(["class", "logit z", "exp(z − max z)", "probability"], rows,
              mark_row=result.predicted),
        f"Σ exp = {number(shifted.sum())}; probabilities sum to {number(probs.sum(), 6)}. "
        f"Predicted: {result.predicted_name} ({number(probs[result.predicted])}).{truth}",
        FigureSlot("probabilities", "softmax probabilities"),
    ])


def sections(result: wt.Walkthrough) -> list[Section]:
    """The walk-through as sections, in the order of the layers."""
    out = [_input_section(result)]
    first_conv, source = True, "the image"
    for step in result.steps:
        if isinstance(step, wt.RescaleStep):
            out.append(_rescale_section(step))
        elif isinstance(step, wt.ConvStep):
            out.append(_conv_section(step, first_conv, source))
            first_conv = False
        elif isinstance(step, wt.PoolStep):
            out.append(_pool_section(step))
        elif isinstance(step, wt.DenseStep):
            out.append(_dense_section(step))
        elif isinstance(step, wt.SoftmaxStep):
            out.append(_softmax_section(step, result))
        elif isinstance(step, wt.ReluStep):
            out.append(Section(f"{step.name}: ReLU", [
                f"max(x, 0): {step.zeroed} of {int(np.prod(step.input_shape))} values were "
                f"negative and became 0."]))
        elif isinstance(step, wt.FlattenStep):
            out.append(Section(f"{step.name}: Flatten", [
                f"{shape(step.input_shape)} → {step.output_shape[0]} values, read row by row "
                f"with the channels fastest: {vector(step.output)}."]))
        elif isinstance(step, wt.CropStep):
            (top, bottom), (left, right) = step.cropping
            out.append(Section(f"{step.name}: Cropping2D", [
                f"The border is cut off ({top} rows at the top, {bottom} at the bottom, "
                f"{left} columns at the left, {right} at the right): "
                f"{shape(step.input_shape)} → {shape(step.output_shape)}. The layers "
                f"after it never see those pixels, and each convolution has fewer places "
                f"to compute."]))
        elif isinstance(step, wt.DropoutStep):
            out.append(Section(f"{step.name}: Dropout", [
                f"Dropout (rate {step.rate:g}) only acts while training; here the "
                f"{int(np.prod(step.input_shape))} values pass unchanged."]))
        source = ("the rescaled image" if isinstance(step, wt.RescaleStep)
                  else f"the output of {step.name}")
    out.append(Section("Check against Keras", [
        f"{result.run_dir / MODEL_FILE} (Keras) gives the same probabilities: largest difference "
        f"{result.max_abs_diff:.1g} (allowed {wt.MATCH_TOLERANCE:g})."]))
    return out
