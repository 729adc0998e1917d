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


def _input_section(result: wt.Walkthrough, _) -> Section:
    image = result.image
    h, w, c = image.shape
    grey = image[..., 0]
    whole = bool(np.all(grey == np.round(grey)))
    note = "" if whole else _(" (rounded to integers)")
    channel = "" if c == 1 else _(", channel 0 of {c}").format(c=c)
    truth = ("" if result.true_label is None
             else _("; its label is {label}").format(
                 label=result.class_names[result.true_label]))
    return Section(_("Input: {source}").format(source=result.source), [
        _("The model takes raw pixels 0..255, shape {shape}{truth}. The {h}x{w} "
          "matrix{channel}{note}, shaded by value:").format(
              shape=shape(image.shape), truth=truth, h=h, w=w, channel=channel, note=note),
        Matrix(_("input pixels"), grey, digits=0, shade=(0.0, 255.0), labels=True),
        FigureSlot("input", _("the input image")),
    ])


def _rescale_section(step: wt.RescaleStep, _) -> Section:
    return Section(_("{name}: Rescaling").format(name=step.name), [
        _("Every value is multiplied by {scale} and {offset} is added: 0..255 becomes "
          "{offset}..{top}. Shape stays {shape}.").format(
              scale=f"{step.scale:.6g}", offset=f"{step.offset:g}",
              top=f"{255 * step.scale + step.offset:.6g}", shape=shape(step.output_shape)),
    ])


def _mac_blocks(step: wt.ConvStep, source: str, _) -> list:
    mac = step.mac
    kh, kw, c = mac.patch.shape
    padded = _(", zero-padded") if step.padding == "same" else ""
    where = _("rows {top}..{bottom}, columns {left}..{right} of its input "
              "({source}{padded})").format(top=mac.top, bottom=mac.top + kh - 1,
                                           left=mac.left, right=mac.left + kw - 1,
                                           source=source, padded=padded)
    blocks = [_("One output value written out: filter {filter} at row {row}, column {col}. "
                "The {kh}x{kw} kernel lies on {where}; each input value is multiplied by the "
                "weight over it and the products are added up.").format(
                    filter=mac.filter, row=mac.row, col=mac.col, kh=kh, kw=kw, where=where)]
    sum_line = _("sum of the {n} products = {total}; + bias {bias} = {value}")
    if c == 1:
        blocks.append(Side([Matrix(_("input patch"), mac.patch[..., 0]), "×",
                            Matrix(_("kernel of filter {filter}").format(filter=mac.filter),
                                   mac.kernel[..., 0]), "=",
                            Matrix(_("products"), mac.products[..., 0])]))
        blocks.append(sum_line.format(n=kh * kw, total=number(mac.total),
                                      bias=number(mac.bias), value=number(mac.value)))
    else:
        ch = int(np.argmax(np.abs(mac.channel_sums)))
        blocks.append(_("The patch has {c} channels; channel {ch} (the largest contribution) "
                        "written out:").format(c=c, ch=ch))
        blocks.append(Side([
            Matrix(_("input patch, channel {ch}").format(ch=ch), mac.patch[..., ch]), "×",
            Matrix(_("kernel {filter}, channel {ch}").format(filter=mac.filter, ch=ch),
                   mac.kernel[..., ch]),
            "=", Matrix(_("products"), mac.products[..., ch])]))
        blocks.append(_("channel {ch}'s products add up to {sum}. The same for each of the "
                        "{c} channels:").format(ch=ch, sum=number(mac.channel_sums[ch]), c=c))
        cols = 8
        sums = np.full(-(-c // cols) * cols, np.nan)
        sums[:c] = mac.channel_sums
        blocks.append(Matrix(_("sum of products per input channel (channel = row × {cols} "
                               "+ column)").format(cols=cols), sums.reshape(-1, cols),
                             labels=True))
        blocks.append(sum_line.format(n=kh * kw * c, total=number(mac.total),
                                      bias=number(mac.bias), value=number(mac.value)))
    ok = "✓" if abs(mac.value - mac.map_value) <= 1e-4 * max(1.0, abs(mac.value)) else "✗"
    blocks.append(_("The layer's feature map holds {value} at [{row}, {col}, {filter}] {ok} "
                    "(difference {diff}).").format(
                        value=number(mac.map_value), row=mac.row, col=mac.col,
                        filter=mac.filter, ok=ok, diff=f"{abs(mac.value - mac.map_value):.1g}"))
    return blocks


def _im2col_blocks(step: wt.ConvStep, _) -> list:
    mac = step.mac
    rows, k = mac.patches_shape
    oh, ow = step.output_shape[:2]
    return [
        _("The same as one matrix product (im2col): the patches matrix has one row per output "
          "position ({oh}x{ow} = {rows} rows) and one column per patch value ({k}). Row "
          "{row} = {r}×{ow} + {c} is this patch, flattened in (row, column, channel) order: "
          "{values}.").format(oh=oh, ow=ow, rows=rows, k=k, row=mac.patch_row, r=mac.row,
                              c=mac.col, values=vector(mac.patches_row)),
        _("The kernel matrix {shape} holds one filter per column; column {filter} is this "
          "kernel: {values}.").format(shape=shape(mac.kernel_matrix_shape), filter=mac.filter,
                                      values=vector(mac.kernel_column)),
        _("patches {patches} @ kernel matrix {kernels} + bias = {rows}x{filters}, reshaped to "
          "{out}; row {row} · column {filter} + bias = {total} + {bias} = {value}.").format(
              patches=shape(mac.patches_shape), kernels=shape(mac.kernel_matrix_shape),
              rows=rows, filters=mac.kernel_matrix_shape[1], out=shape(step.output_shape),
              row=mac.patch_row, filter=mac.filter, total=number(mac.total),
              bias=number(mac.bias), value=number(mac.value)),
    ]


def _neighbourhood(step: wt.ConvStep, _) -> Matrix:
    mac = step.mac
    oh, ow = step.output_shape[:2]
    half = NEIGHBOURHOOD // 2
    r0 = int(np.clip(mac.row - half, 0, max(oh - NEIGHBOURHOOD, 0)))
    c0 = int(np.clip(mac.col - half, 0, max(ow - NEIGHBOURHOOD, 0)))
    part = step.pre_activation[r0:r0 + NEIGHBOURHOOD, c0:c0 + NEIGHBOURHOOD, mac.filter]
    title = _("feature map {filter} before the activation, rows {r0}..{r1}, columns "
              "{c0}..{c1}").format(filter=mac.filter, r0=r0, r1=r0 + part.shape[0] - 1,
                                   c0=c0, c1=c0 + part.shape[1] - 1)
    return Matrix(title, part, mark=(mac.row - r0, mac.col - c0), first_row=r0,
                  first_col=c0, labels=True)


def _conv_section(step: wt.ConvStep, first: bool, source: str, _) -> Section:
    kh, kw, c, f = step.kernel.shape
    blocks = [_("Conv2D: {f} filters of {kh}x{kw}x{c} (kernel {kernel}, bias ({f},)), stride "
                "{sh}x{sw}, padding '{padding}': {inp} → {out}.").format(
                    f=f, kh=kh, kw=kw, c=c, kernel=shape(step.kernel.shape),
                    sh=step.strides[0], sw=step.strides[1], padding=step.padding,
                    inp=shape(step.input_shape), out=shape(step.output_shape))]
    if first:
        blocks.append(_("The {f} kernels (weights rounded to 3 decimals):").format(f=f))
        blocks.append(Side([
            Matrix(_("filter {k}").format(k=k), step.kernel[:, :, 0, k]) if c == 1 else
            Matrix(_("filter {k}, mean over channels").format(k=k),
                   step.kernel[:, :, :, k].mean(axis=2)) for k in range(f)]))
        blocks.append(FigureSlot(f"kernels-{step.name}", _("the {f} kernels of {name}").format(
            f=f, name=step.name)))
    blocks += _mac_blocks(step, source, _)
    blocks += _im2col_blocks(step, _)
    blocks.append(_neighbourhood(step, _))
    pre = step.pre_activation
    blocks.append(_("All {f} feature maps {shape}: values from {low} to {high}, mean "
                    "{mean}.").format(f=f, shape=shape(pre.shape), low=number(pre.min()),
                                      high=number(pre.max()), mean=number(pre.mean())))
    if step.activation == "relu":
        share = 100 * step.zeroed / pre.size
        blocks.append(_("ReLU: {zeroed} of {size} values ({share}%) were negative and became "
                        "0; at [{row}, {col}, {filter}] max({before}, 0) = {after}.").format(
                            zeroed=step.zeroed, size=pre.size, share=f"{share:.1f}",
                            row=step.mac.row, col=step.mac.col, filter=step.mac.filter,
                            before=number(step.mac.map_value),
                            after=number(step.output[step.mac.row, step.mac.col,
                                                     step.mac.filter])))
    caption = (_("feature maps of {name} (after ReLU)") if step.activation == "relu"
               else _("feature maps of {name} (output)"))
    blocks.append(FigureSlot(f"maps-{step.name}", caption.format(name=step.name)))
    return Section(_("{name}: Conv2D").format(name=step.name), blocks)


def _pool_section(step: wt.PoolStep, _) -> Section:
    (ph, pw), (sh, sw) = step.pool_size, step.strides
    rows = step.window.shape[0]
    mark = tuple(int(i) for i in np.unravel_index(np.argmax(step.window), step.window.shape))
    (fr, fc), (h, w) = step.follows, step.input_shape[:2]
    inside = (step.top <= fr < step.top + rows
              and step.left <= fc < step.left + step.window.shape[1])
    note = ("" if inside else _(" Position [{fr}, {fc}] of the previous layer lies in no "
                                "window (a {ph}x{pw} 'valid' pooling of {h}x{w} leaves the "
                                "last row or column out); the nearest window is shown.").format(
        fr=fr, fc=fc, ph=ph, pw=pw, h=h, w=w))
    return Section(_("{name}: MaxPooling2D").format(name=step.name), [
        _("MaxPooling2D {ph}x{pw}, stride {sh}x{sw}: {inp} → {out}; each output keeps the "
          "largest value of its window, channel by channel.").format(
              ph=ph, pw=pw, sh=sh, sw=sw, inp=shape(step.input_shape),
              out=shape(step.output_shape)),
        Matrix(_("window of channel {channel}: rows {r0}..{r1}, columns {c0}..{c1}").format(
            channel=step.channel, r0=step.top, r1=step.top + rows - 1, c0=step.left,
            c1=step.left + step.window.shape[1] - 1), step.window,
            mark=mark, first_row=step.top, first_col=step.left, labels=True),
        _("kept: max = {kept} → output [{row}, {col}, {channel}].").format(
            kept=number(step.kept), row=step.row, col=step.col, channel=step.channel) + note,
        FigureSlot(f"maps-{step.name}", _("feature maps after {name}").format(name=step.name)),
    ])


def _dense_section(step: wt.DenseStep, _) -> Section:
    d, u = step.kernel_shape
    blocks = [_("Dense: {d} inputs @ kernel ({d}, {u}) + bias ({u},) → {u} values.").format(
        d=d, u=u)]
    if step.activation == "relu":
        blocks.append(_("ReLU: {zeroed} of {u} values were negative and became 0. First "
                        "values: {values}.").format(zeroed=step.zeroed, u=u,
                                                    values=vector(step.output)))
    elif step.logits:
        blocks.append(_("These {u} values are the logits, one per class: {values}.").format(
            u=u, values=vector(step.output)))
    else:
        blocks.append(_("First values: {values}.").format(values=vector(step.output)))
    return Section(_("{name}: Dense").format(name=step.name), blocks)


def _softmax_section(step: wt.SoftmaxStep, result: wt.Walkthrough, _) -> Section:
    logits, probs = step.logits, step.output
    shifted = np.exp(logits - logits.max())
    rows = [[str(name), number(z), tiny(e), tiny(p)]
            for name, z, e, p in zip(result.class_names, logits, shifted, probs)]
    truth = ""
    if result.true_label is not None:
        verdict = _("right") if result.true_label == result.predicted else _("wrong")
        truth = _(" The label is {label}: {verdict}.").format(
            label=result.class_names[result.true_label], verdict=verdict)
    return Section(_("{name}: Softmax").format(name=step.name), [
        _("p_i = exp(z_i − max z) / Σ_j exp(z_j − max z): the logits become probabilities."),
        Table([_("class"), _("logit z"), "exp(z − max z)", _("probability")], rows,
              mark_row=result.predicted),
        _("Σ exp = {total}; probabilities sum to {sum}. Predicted: {name} ({p}).").format(
            total=number(shifted.sum()), sum=number(probs.sum(), 6), name=result.predicted_name,
            p=number(probs[result.predicted])) + truth,
        FigureSlot("probabilities", _("softmax probabilities")),
    ])


def sections(result: wt.Walkthrough, lang: str = "en") -> list[Section]:
    """The walk-through as sections, in the order of the layers, in language `lang`."""
    from ..i18n import translator

    _ = translator(lang)
    out = [_input_section(result, _)]
    first_conv, source = True, _("the image")
    for step in result.steps:
        if isinstance(step, wt.RescaleStep):
            out.append(_rescale_section(step, _))
        elif isinstance(step, wt.ConvStep):
            out.append(_conv_section(step, first_conv, source, _))
            first_conv = False
        elif isinstance(step, wt.PoolStep):
            out.append(_pool_section(step, _))
        elif isinstance(step, wt.DenseStep):
            out.append(_dense_section(step, _))
        elif isinstance(step, wt.SoftmaxStep):
            out.append(_softmax_section(step, result, _))
        elif isinstance(step, wt.ReluStep):
            out.append(Section(_("{name}: ReLU").format(name=step.name), [
                _("max(x, 0): {zeroed} of {n} values were negative and became 0.").format(
                    zeroed=step.zeroed, n=int(np.prod(step.input_shape)))]))
        elif isinstance(step, wt.FlattenStep):
            out.append(Section(_("{name}: Flatten").format(name=step.name), [
                _("{inp} → {n} values, read row by row with the channels fastest: "
                  "{values}.").format(inp=shape(step.input_shape), n=step.output_shape[0],
                                      values=vector(step.output))]))
        elif isinstance(step, wt.CropStep):
            (top, bottom), (left, right) = step.cropping
            out.append(Section(_("{name}: Cropping2D").format(name=step.name), [
                _("The border is cut off ({top} rows at the top, {bottom} at the bottom, "
                  "{left} columns at the left, {right} at the right): {inp} → {out}. The "
                  "layers after it never see those pixels, and each convolution has fewer "
                  "places to compute.").format(top=top, bottom=bottom, left=left, right=right,
                                               inp=shape(step.input_shape),
                                               out=shape(step.output_shape))]))
        elif isinstance(step, wt.DropoutStep):
            out.append(Section(_("{name}: Dropout").format(name=step.name), [
                _("Dropout (rate {rate}) only acts while training; here the {n} values pass "
                  "unchanged.").format(rate=f"{step.rate:g}", n=int(np.prod(step.input_shape)))]))
        source = (_("the rescaled image") if isinstance(step, wt.RescaleStep)
                  else _("the output of {name}").format(name=step.name))
    out.append(Section(_("Check against Keras"), [
        _("{model} (Keras) gives the same probabilities: largest difference {diff} (allowed "
          "{allowed}).").format(model=result.run_dir / MODEL_FILE,
                                diff=f"{result.max_abs_diff:.1g}",
                                allowed=f"{wt.MATCH_TOLERANCE:g}")]))
    return out
