"""What the page shows of one input: the prepared image, probabilities, every conv and
pooling layer's feature maps, the first layer's kernels, and, for a place the user clicks,
one convolution written out as `convolab explain` writes it.
"""

from __future__ import annotations

import base64
import io
import math
import threading

import numpy as np

from ..errors import ConvolabError
from .models import ServedModel

#: Layer classes whose outputs are shown as feature maps.
MAP_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
              "AveragePooling2D")
#: Texts translated from variables (the catalog tests read this list).
DYNAMIC_MESSAGES = ("the drawing",)
#: Decimals of the numbers the click explanation sends.
DIGITS = 4


def grid_png(maps: np.ndarray, gap: int = 1) -> tuple[str, int, int]:
    """Channels of `maps` (H, W, C) side by side as one grey PNG (data URL), each channel
    scaled to its own min..max; returns (url, rows, cols) of the grid."""
    h, w, c = maps.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    sheet = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), 40, dtype=np.uint8)
    for k in range(c):
        m = maps[..., k].astype(np.float64)
        low, high = m.min(), m.max()
        tile = np.zeros_like(m) if high <= low else (m - low) / (high - low) * 255
        r, q = divmod(k, cols)
        sheet[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = tile
    return png_url(sheet), rows, cols


def png_url(grey: np.ndarray) -> str:
    """A grey image (H, W) of 0..255 values as a PNG data URL."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(grey.astype(np.uint8), "L").save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _plain(value):
    """Explain blocks as JSON: numbers rounded, arrays as lists, NaN as None."""
    from ..explain import walk_view as wv

    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, wv.Matrix):
        values = np.round(np.asarray(value.values, dtype=np.float64), value.digits)
        return {"matrix": value.title,
                "values": [[None if np.isnan(v) else float(v) for v in row] for row in values],
                "mark": list(value.mark) if value.mark else None,
                "first": [value.first_row, value.first_col], "labels": value.labels}
    if isinstance(value, wv.Side):
        return {"side": [_plain(item) if not isinstance(item, str) else {"op": item}
                         for item in value.items]}
    if isinstance(value, wv.Table):
        return {"table": value.headers, "rows": value.rows, "mark": value.mark_row}
    return None  # a FigureSlot: the page draws its own pictures


class Inspector:
    """Feature maps and explanations of one served model (built once, used per request)."""

    def __init__(self, served: ServedModel):
        import keras

        self.served = served
        model = served.model
        self.layers = [layer for layer in model.layers
                       if type(layer).__name__ in MAP_LAYERS]
        self._probe = (keras.Model(model.inputs, [layer.output for layer in self.layers])
                       if self.layers else None)
        self._walk_lock = threading.Lock()  # the NumPy layers keep per-call caches on self
        first = next((layer for layer in self.layers if type(layer).__name__ == "Conv2D"),
                     None)
        self.first_conv_shape = tuple(first.output.shape[1:3]) if first is not None else None
        self._net, self.explain_note = None, None
        try:
            from ..explain.walkthrough import mirror

            self._net = mirror(served.run)
        except ConvolabError as exc:  # said to web clients: the model's name, not its path
            self.explain_note = str(exc).replace(str(served.run.path), served.name)
        self._kernels = self._kernel_picture(first)

    @property
    def can_explain(self) -> bool:
        """Whether a click can be written out (a plain sequential CNN with a Conv2D)."""
        return self._net is not None and self.first_conv_shape is not None

    @staticmethod
    def _kernel_picture(first) -> dict | None:
        """The first convolution's kernels as a picture, or None without one."""
        if first is None:
            return None
        kernel = np.asarray(first.get_weights()[0])  # (KH, KW, C, F)
        url, rows, cols = grid_png(kernel.mean(axis=2))
        return {"layer": first.name, "shape": list(kernel.shape), "png": url,
                "grid": [rows, cols]}

    def inspect(self, pixels: np.ndarray) -> dict:
        """Everything the page shows for model input `pixels` (H, W, C)."""
        probs = self.served.predict(pixels[None])[0]
        layers = []
        if self._probe is not None:
            with self.served.lock:  # the probe shares the served model's variables
                outputs = self._probe.predict_on_batch(pixels[None])
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for layer, out in zip(self.layers, outputs):
                maps = np.asarray(out)[0]
                url, rows, cols = grid_png(maps)
                layers.append({"name": layer.name, "kind": type(layer).__name__,
                               "shape": list(maps.shape), "png": url, "grid": [rows, cols]})
        return {"model": self.served.name, "classes": self.served.class_names,
                "probabilities": [float(p) for p in probs],
                "input": np.rint(pixels[..., 0]).astype(int).tolist(),
                "layers": layers, "kernels": self._kernels,
                "explain": self.can_explain, "explain_note": self.explain_note}

    def explain(self, pixels: np.ndarray, row: int, col: int, lang: str = "en") -> list[dict]:
        """The walk-through of `pixels` with the first convolution's output at (row, col)
        written out: one {"title", "blocks"} per layer, as `convolab explain` shows it."""
        from ..explain.walk_view import sections
        from ..explain.walkthrough import explain_pixels

        if self._net is None:
            raise ConvolabError(self.explain_note or "this model cannot be walked through")
        from ..i18n import translator

        with self._walk_lock:
            walk = explain_pixels(self.served.run, self._net, pixels, (row, col),
                                  source=translator(lang)("the drawing"),
                                  keras_predict=self.served.predict, shown_as=self.served.name)
        return [{"title": s.title,
                 "blocks": [b for b in map(_plain, s.blocks) if b is not None]}
                for s in sections(walk, lang)]
