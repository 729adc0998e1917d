"""A convolutional network in NumPy alone: each layer's forward pass with its backward pass
written right under it.

It is the reference the Keras models are checked against (finite differences and Keras's
own outputs and gradients, see tests/test_numpy_ref.py), and a model you can train:

    net = seed_cnn(input_shape=(28, 28, 1), num_classes=10, seed=0)
    history = train_numpy(net, x_train, y_train, x_test, y_test, epochs=2, batch_size=64,
                          optimizer=Adam(1e-3))
    probs = net.predict_proba(raw_images)                # (N, 10)

Layouts are Keras's: images (N, H, W, C), Conv2D kernels (KH, KW, C_in, F), Dense kernels
(D, U), so the weights of a trained Keras model load unchanged (`set_weights`). A layer
computes in the dtype it is given: float32 for training speed, float64 for gradient checks.
Networks built from a spec start with Rescaling(1/255), like convolab's Keras models, so
they take raw 0-255 pixels.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from importlib import resources

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConvolabError, did_you_mean

# ----------------------------------------------------------------------------- helpers


def _pair(value, what: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (Keras accepts both) as a pair of ints >= `minimum`."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum
                                 for v in pair):
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{what} must be {kind} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_padding(padding: str) -> str:
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero rows for 'same' padding, TensorFlow's way: output ceil(size /
    stride); when the total is odd the extra row goes after (bottom / right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(shape_hw, kernel, strides, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) for an (H, W) input."""
    if padding == "valid":
        return (0, 0), (0, 0)
    return (same_padding(shape_hw[0], kernel[0], strides[0]),
            same_padding(shape_hw[1], kernel[1], strides[1]))


def _pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _crop(x: np.ndarray, pads, shape_hw) -> np.ndarray:
    (top, _), (left, _) = pads
    return x[:, top:top + shape_hw[0], left:left + shape_hw[1], :]


def im2col(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]):
    """Every receptive field of an (already padded) batch as one row of a matrix.

    x (N, H, W, C) -> (patches (N*OH*OW, KH*KW*C), OH, OW). A row holds one patch in the
    order (kh, kw, c), the order of a Keras kernel (KH, KW, C, F) reshaped to
    (KH*KW*C, F), so convolution is `patches @ kernel_matrix`.
    """
    (kh, kw), (sh, sw) = kernel, strides
    n, c = x.shape[0], x.shape[3]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, H-KH+1, W-KW+1, C, KH, KW)
    windows = windows[:, ::sh, ::sw]                          # (N, OH, OW, C, KH, KW)
    oh, ow = windows.shape[1:3]
    patches = windows.transpose(0, 1, 2, 4, 5, 3)             # (N, OH, OW, KH, KW, C)
    return patches.reshape(n * oh * ow, kh * kw * c), oh, ow  # (N*OH*OW, KH*KW*C), a copy


def col2im(cols: np.ndarray, x_shape, kernel: tuple[int, int], strides: tuple[int, int],
           oh: int, ow: int) -> np.ndarray:
    """The adjoint of `im2col`: add each patch row back where it came from.

    cols (N*OH*OW, KH*KW*C) -> (N, H, W, C) of the padded input; overlapping patches add up.
    """
    (kh, kw), (sh, sw) = kernel, strides
    n, c = x_shape[0], x_shape[3]
    patches = cols.reshape(n, oh, ow, kh, kw, c)              # (N, OH, OW, KH, KW, C)
    dx = np.zeros(x_shape, dtype=cols.dtype)                  # (N, H, W, C)
    for i in range(kh):
        for j in range(kw):
            dx[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += patches[:, :, :, i, j, :]
    return dx


def glorot_uniform(rng: np.random.Generator, shape, fan_in: int, fan_out: int,
                   dtype) -> np.ndarray:
    """Keras's default kernel initializer: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- layers


class Layer:
    """A layer: `build` makes its parameters, `forward` computes, `backward` sends the
    gradient of the loss on to its input and fills `grads` (same keys as `params`)."""

    kind = "layer"  # Keras-style base name; Sequential makes names unique (dense, dense_1)

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_shape: tuple, rng: np.random.Generator, dtype) -> tuple:
        """Create parameters for inputs of shape (N,) + input_shape; return the output shape."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Rescaling(Layer):
    """x * scale + offset (Keras's Rescaling: raw 0-255 pixels -> 0-1)."""

    kind = "rescaling"

    def __init__(self, scale: float, offset: float = 0.0, name: str | None = None):
        super().__init__(name)
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x, training=False):
        return x * self.scale + self.offset                   # same shape as x

    def backward(self, grad_out):
        return grad_out * self.scale


class ReLU(Layer):
    """max(x, 0); the gradient passes where x > 0 (at exactly 0 it is 0, as in Keras)."""

    kind = "re_lu"

    def forward(self, x, training=False):
        self.mask = x > 0                                     # same shape as x
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self.mask


class Softmax(Layer):
    """exp(x) / sum(exp(x)) over the last axis, computed after subtracting the row max."""

    kind = "softmax"

    def forward(self, x, training=False):
        e = np.exp(x - x.max(axis=-1, keepdims=True))         # (N, K)
        self.p = e / e.sum(axis=-1, keepdims=True)            # (N, K)
        return self.p

    def backward(self, grad_out):
        # Jacobian-vector product: dx_i = p_i * (g_i - sum_j g_j p_j)
        return self.p * (grad_out - (grad_out * self.p).sum(axis=-1, keepdims=True))


ACTIVATIONS = {None: None, "linear": None, "relu": ReLU, "softmax": Softmax}


def _activation(name) -> Layer | None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of relu, softmax, linear or None, "
                         f"got {name!r}")
    cls = ACTIVATIONS[name]
    return cls() if cls else None


class Conv2D(Layer):
    """2-D convolution as one matrix product: im2col patches @ kernel matrix (+ bias).

    Arguments are Keras's: `strides` (int or pair), `padding` 'valid' or 'same' (zeros;
    for 'same' the odd extra row/column goes bottom/right, as in TensorFlow).
    """

    kind = "conv2d"

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 activation: str | None = None, use_bias: bool = True,
                 name: str | None = None):
        super().__init__(name)
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _check_padding(padding)
        self.activation = _activation(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape, rng, dtype):
        h, w, c = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        self.params = {"kernel": glorot_uniform(rng, (kh, kw, c, self.filters),
                                                kh * kw * c, kh * kw * self.filters, dtype)}
        if self.use_bias:
            self.params["bias"] = np.zeros(self.filters, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        (top, bottom), (left, right) = _pads((h, w), self.kernel_size, self.strides,
                                             self.padding)
        oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
        if oh <= 0 or ow <= 0:
            raise ValueError(f"a {kh}x{kw} kernel does not fit an input of {h}x{w}")
        return oh, ow, self.filters

    def forward(self, x, training=False):
        n, h, w, _ = x.shape                                  # (N, H, W, C)
        pads = _pads((h, w), self.kernel_size, self.strides, self.padding)
        xp = _pad(x, pads)                                    # (N, H+pad, W+pad, C)
        cols, oh, ow = im2col(xp, self.kernel_size, self.strides)  # (N*OH*OW, KH*KW*C)
        kmat = self.params["kernel"].reshape(-1, self.filters)     # (KH*KW*C, F)
        z = cols @ kmat                                       # (N*OH*OW, F)
        if self.use_bias:
            z += self.params["bias"]
        self.cache = (x.shape, xp.shape, pads, cols, oh, ow)
        z = z.reshape(n, oh, ow, self.filters)                # (N, OH, OW, F)
        return self.activation.forward(z) if self.activation else z

    def backward(self, grad_out):
        if self.activation:
            grad_out = self.activation.backward(grad_out)     # (N, OH, OW, F)
        x_shape, xp_shape, pads, cols, oh, ow = self.cache
        g = grad_out.reshape(-1, self.filters)                # (N*OH*OW, F)
        kernel = self.params["kernel"]
        self.grads["kernel"] = (cols.T @ g).reshape(kernel.shape)  # (KH, KW, C, F)
        if self.use_bias:
            self.grads["bias"] = g.sum(axis=0)                # (F,)
        dcols = g @ kernel.reshape(-1, self.filters).T        # (N*OH*OW, KH*KW*C)
        dxp = col2im(dcols, xp_shape, self.kernel_size, self.strides, oh, ow)
        return _crop(dxp, pads, x_shape[1:3])                 # (N, H, W, C)


class MaxPooling2D(Layer):
    """The maximum of each window; the gradient goes to the position of that maximum.

    Ties: the gradient goes to the first maximum in row-major window order. TensorFlow's
    CPU kernel also picks one position per window, but which one among exact ties is not
    guaranteed to match; ties are rare with real-valued activations. 'same' pads with -inf.
    """

    kind = "max_pooling2d"

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 name: str | None = None):
        super().__init__(name)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _check_padding(padding)

    def build(self, input_shape, rng, dtype):
        h, w, c = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        (top, bottom), (left, right) = _pads((h, w), self.pool_size, self.strides,
                                             self.padding)
        oh, ow = (h + top + bottom - ph) // sh + 1, (w + left + right - pw) // sw + 1
        if oh <= 0 or ow <= 0:
            raise ValueError(f"a {ph}x{pw} pool does not fit an input of {h}x{w}")
        return oh, ow, c

    def forward(self, x, training=False):
        h, w = x.shape[1:3]                                   # x (N, H, W, C)
        pads = _pads((h, w), self.pool_size, self.strides, self.padding)
        xp = _pad(x, pads, value=-np.inf)                     # (N, H+pad, W+pad, C)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh, ow = (xp.shape[1] - ph) // sh + 1, (xp.shape[2] - pw) // sw + 1
        out = xp[:, :sh * oh:sh, :sw * ow:sw, :].copy()       # (N, OH, OW, C), offset (0, 0)
        small = np.int8 if ph * pw <= 127 else np.int32
        argmax = np.zeros(out.shape, small)                   # window offset of the maximum
        for k in range(1, ph * pw):                           # offset k = (i, j), row-major
            i, j = divmod(k, pw)
            part = xp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :]  # that offset of every window
            larger = part > out                               # strict: a tie keeps the first
            argmax += larger * (small(k) - argmax)          # = k where larger
            np.maximum(out, part, out=out)
        self.argmax = argmax
        self.cache = (x.shape, xp.shape, pads)
        return out

    def backward(self, grad_out):
        x_shape, xp_shape, pads = self.cache                  # grad_out (N, OH, OW, C)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh, ow = grad_out.shape[1:3]
        dxp = np.zeros(xp_shape, dtype=grad_out.dtype)        # (N, H+pad, W+pad, C)
        for k in range(ph * pw):
            i, j = divmod(k, pw)
            dxp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += grad_out * (self.argmax == k)
        return _crop(dxp, pads, x_shape[1:3])                 # (N, H, W, C)


def _crop_amounts(cropping) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's `cropping` (int, (rows, cols) or ((top, bottom), (left, right))) as pairs."""
    rows_cols = (cropping, cropping) if isinstance(cropping, (int, np.integer)) else cropping
    if not isinstance(rows_cols, (list, tuple)) or len(rows_cols) != 2:
        raise ValueError(f"cropping must be an int, (rows, cols) or ((top, bottom), "
                         f"(left, right)), got {cropping!r}")
    return (_pair(rows_cols[0], "cropping of the rows", minimum=0),
            _pair(rows_cols[1], "cropping of the columns", minimum=0))


class Cropping2D(Layer):
    """Cuts rows and columns off the border, like Keras's Cropping2D; the gradient of the
    cut pixels is 0."""

    kind = "cropping2d"

    def __init__(self, cropping=1, name: str | None = None):
        super().__init__(name)
        self.cropping = _crop_amounts(cropping)

    def build(self, input_shape, rng, dtype):
        (top, bottom), (left, right) = self.cropping
        h, w, c = input_shape
        if top + bottom >= h or left + right >= w:
            raise ValueError(f"cropping {self.cropping} leaves nothing of a {h}x{w} input")
        return (h - top - bottom, w - left - right, c)

    def forward(self, x, training=False):
        (top, bottom), (left, right) = self.cropping
        return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right, :]  # (N, H', W', C)

    def backward(self, grad_out):
        return _pad(grad_out, self.cropping)                  # (N, H, W, C), zeros outside


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C) in row-major order, like Keras's Flatten (channels last)."""

    kind = "flatten"

    def build(self, input_shape, rng, dtype):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self.x_shape = x.shape                                # (N, H, W, C)
        return x.reshape(x.shape[0], -1)                      # (N, H*W*C)

    def backward(self, grad_out):
        return grad_out.reshape(self.x_shape)                 # (N, H, W, C)


class Dense(Layer):
    """x @ kernel + bias, kernel (D, U) as in Keras."""

    kind = "dense"

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 name: str | None = None):
        super().__init__(name)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = _activation(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 1:
            raise ValueError(f"Dense needs flat inputs, got shape {tuple(input_shape)}; "
                             f"put a Flatten layer before it")
        d = input_shape[0]
        self.params = {"kernel": glorot_uniform(rng, (d, self.units), d, self.units, dtype)}
        if self.use_bias:
            self.params["bias"] = np.zeros(self.units, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return (self.units,)

    def forward(self, x, training=False):
        self.x = x                                            # (N, D)
        z = x @ self.params["kernel"]                         # (N, U)
        if self.use_bias:
            z = z + self.params["bias"]
        return self.activation.forward(z) if self.activation else z

    def backward(self, grad_out):
        if self.activation:
            grad_out = self.activation.backward(grad_out)     # (N, U)
        self.grads["kernel"] = self.x.T @ grad_out            # (D, U)
        if self.use_bias:
            self.grads["bias"] = grad_out.sum(axis=0)         # (U,)
        return grad_out @ self.params["kernel"].T             # (N, D)


class Dropout(Layer):
    """Inverted dropout: while training, zero each value with probability `rate` and
    scale the rest by 1 / (1 - rate); at inference it does nothing."""

    kind = "dropout"

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None):
        super().__init__(name)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def build(self, input_shape, rng, dtype):
        if self.seed is None:  # draw from the network's seeded generator
            self.rng = np.random.default_rng(rng.integers(2**32))
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        keep = 1.0 - self.rate
        self.mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * self.mask                                  # same shape as x

    def backward(self, grad_out):
        return grad_out if self.mask is None else grad_out * self.mask


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, from the logits.

    forward(logits (N, K), labels (N,)) -> mean loss; backward() -> dL/dlogits =
    (softmax(logits) - onehot(labels)) / N. Stable: log-softmax via the row max.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        z = logits - logits.max(axis=1, keepdims=True)        # (N, K)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (N, K)
        self.p, self.labels = np.exp(log_p), np.asarray(labels)
        return float(-log_p[np.arange(len(labels)), self.labels].mean())

    def backward(self) -> np.ndarray:
        grad = self.p.copy()                                  # (N, K)
        grad[np.arange(len(self.labels)), self.labels] -= 1
        return grad / len(self.labels)


# ----------------------------------------------------------------------------- network


class Sequential:
    """Layers applied in order; builds them for `input_shape` (H, W, C) with a seeded rng.

    Names follow Keras (conv2d, conv2d_1, ...) unless a layer has one.
    """

    def __init__(self, layers: list[Layer], input_shape, seed: int = 0, dtype="float32"):
        self.layers = list(layers)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        taken: set[str] = set()
        shape = self.input_shape
        for layer in self.layers:
            base, i = layer.name or layer.kind, 0
            name = base
            while name in taken:
                i += 1
                name = f"{base}_{i}"
            layer.name = name
            taken.add(name)
            shape = layer.build(shape, rng, self.dtype)
        self.output_shape = shape
        self._ran: list[Layer] = []

    def forward(self, x: np.ndarray, training: bool = False, logits: bool = False):
        """Outputs for a batch; with `logits=True` a final Softmax is left out."""
        layers = self.layers
        if logits:
            if not isinstance(layers[-1], Softmax):
                raise ValueError("logits=True needs a network that ends with a Softmax layer")
            layers = layers[:-1]
        for layer in layers:
            x = layer.forward(x, training)
        self._ran = layers
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Backpropagate through the layers the last `forward` ran; fills every `grads`."""
        for layer in reversed(self._ran):
            grad_out = layer.backward(grad_out)
        return grad_out

    def parameters(self) -> Iterator[tuple[str, Layer, str]]:
        """(`layer/key` name, layer, key) for every parameter, in Keras's weight order."""
        for layer in self.layers:
            for key in layer.params:
                yield f"{layer.name}/{key}", layer, key

    def predict_proba(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class probabilities (N, K) for raw inputs, computed batch by batch."""
        out = [self.forward(np.asarray(x[i:i + batch_size], self.dtype))
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out)

    def count_params(self) -> int:
        return sum(layer.params[key].size for _, layer, key in self.parameters())


def get_weights(net: Sequential) -> list[np.ndarray]:
    """Every parameter array in Keras's `model.get_weights()` order (kernel, bias, ...)."""
    return [layer.params[key] for _, layer, key in net.parameters()]


def set_weights(net: Sequential, arrays: list[np.ndarray]) -> None:
    """Load arrays in Keras's weight order (e.g. a trained Keras model's kernels and biases)."""
    slots = list(net.parameters())
    arrays = list(arrays)
    if len(arrays) != len(slots):
        raise ConvolabError(f"got {len(arrays)} weight arrays, the NumPy network needs "
                            f"{len(slots)} ({', '.join(name for name, _, _ in slots)})")
    for (name, layer, key), array in zip(slots, arrays):
        array = np.asarray(array)
        if array.shape != layer.params[key].shape:
            raise ConvolabError(f"weight {name} has shape {array.shape}, the NumPy network "
                                f"needs {layer.params[key].shape}")
        layer.params[key] = array.astype(net.dtype, copy=True)


# ----------------------------------------------------------------------------- optimizers


class SGD:
    """p -= lr * g, or with momentum Keras's v = m * v - lr * g; p += v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0):
        self.lr, self.momentum = float(lr), float(momentum)
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, net: Sequential) -> None:
        for name, layer, key in net.parameters():
            p, g = layer.params[key], layer.grads[key]
            if self.momentum:
                v = self.velocity.setdefault(name, np.zeros_like(p))
                v *= self.momentum
                v -= self.lr * g
                p += v
            else:
                p -= self.lr * g


class Adam:
    """Adam with Keras's defaults and update rule (epsilon added to sqrt(v))."""

    def __init__(self, lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.lr, self.beta_1, self.beta_2, self.epsilon = lr, beta_1, beta_2, epsilon
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.iterations = 0

    def step(self, net: Sequential) -> None:
        self.iterations += 1
        t = self.iterations
        alpha = self.lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for name, layer, key in net.parameters():
            p, g = layer.params[key], layer.grads[key]
            m = self.m.setdefault(name, np.zeros_like(p))
            v = self.v.setdefault(name, np.zeros_like(p))
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            p -= alpha * m / (np.sqrt(v) + self.epsilon)


# ----------------------------------------------------------------------------- building

#: Spec layer class -> NumPy layer class (arguments keep their Keras names).
LAYER_TYPES: dict[str, type[Layer]] = {
    "Conv2D": Conv2D, "MaxPooling2D": MaxPooling2D, "Flatten": Flatten, "Dense": Dense,
    "Dropout": Dropout, "ReLU": ReLU, "Softmax": Softmax, "Rescaling": Rescaling,
    "Cropping2D": Cropping2D,
}
PLACEHOLDERS = ("$num_classes", "$height", "$width", "$channels")


def load_preset(name: str) -> dict:
    """The spec dict of a shipped model preset, read without Keras."""
    import yaml

    folder = resources.files("convolab") / "models" / "presets"
    names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
    if name not in names:
        raise ConvolabError(f"unknown model preset {name!r}{did_you_mean(name, names)}; "
                            f"choose one of {', '.join(names)}")
    return yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))


def _arg_names(cls: type[Layer]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _make_layers(cls_name, args, values: dict, where: str) -> list[Layer]:
    """The NumPy layer(s) for one spec entry; a softmax activation becomes its own layer so
    that training can start the loss from the logits."""
    if cls_name not in LAYER_TYPES:
        raise ConvolabError(f"{where}: layer {cls_name!r} has no NumPy counterpart; the NumPy "
                            f"reference supports {', '.join(LAYER_TYPES)}")
    cls = LAYER_TYPES[cls_name]
    if args is not None and not isinstance(args, dict):
        raise ConvolabError(f"{where}: arguments must be a mapping like {{units: 10}}, "
                            f"got {args!r}")
    args = dict(args or {})
    for arg, value in args.items():
        if arg not in _arg_names(cls):
            raise ConvolabError(f"{where}: argument {arg!r} is not supported by the NumPy "
                                f"reference; it supports {', '.join(_arg_names(cls))}")
        if isinstance(value, str) and value.startswith("$"):
            if value not in values:
                raise ConvolabError(f"{where}: unknown placeholder {value!r}; use one of "
                                    f"{', '.join(PLACEHOLDERS)}")
            args[arg] = values[value]
    head = args.get("activation") == "softmax" and cls_name in ("Dense", "Conv2D")
    if head:
        args["activation"] = None
    try:
        layer = cls(**args)
    except (TypeError, ValueError) as exc:
        raise ConvolabError(f"{where}: {exc}")
    return [layer, Softmax()] if head else [layer]


def from_spec(spec: dict, input_shape=(28, 28, 1), num_classes: int = 10, seed: int = 0,
              dtype="float32", rescale: float | None = 1 / 255,
              origin: str = "model spec") -> Sequential:
    """A NumPy network from a sequential spec dict (a preset's YAML, see `load_preset`).

    `rescale` puts Rescaling(rescale) in front, as convolab's Keras models have; None
    leaves the spec as it is. Unsupported layers or arguments raise a ConvolabError.
    """
    if not isinstance(spec, dict) or spec.get("type") != "sequential" or \
            not isinstance(spec.get("layers"), list):
        kind = spec.get("type") if isinstance(spec, dict) else type(spec).__name__
        raise ConvolabError(f"{origin}: the NumPy reference builds sequential specs "
                            f"(type: sequential with layers:), got {kind!r}")
    h, w, c = input_shape
    values = {"$num_classes": num_classes, "$height": h, "$width": w, "$channels": c}
    layers: list[Layer] = [Rescaling(rescale)] if rescale is not None else []
    for i, entry in enumerate(spec["layers"], start=1):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConvolabError(f"{origin}, layer {i}: expected one `LayerName: {{args}}` "
                                f"mapping, got {entry!r}")
        ((cls_name, args),) = entry.items()
        layers += _make_layers(cls_name, args, values, f"{origin}, layer {i} ({cls_name})")
    try:
        return Sequential(layers, input_shape, seed=seed, dtype=dtype)
    except ValueError as exc:
        raise ConvolabError(f"{origin}: cannot be built for inputs {tuple(input_shape)}: {exc}")


def seed_cnn(input_shape=(28, 28, 1), num_classes: int = 10, seed: int = 0,
             dtype="float32") -> Sequential:
    """The `seed-cnn` preset in NumPy (Rescaling, Conv 32, pool, Conv 64, pool, Flatten,
    Dense 128, Dense softmax)."""
    return from_spec(load_preset("seed-cnn"), input_shape, num_classes, seed, dtype,
                     origin="model preset 'seed-cnn'")


# ----------------------------------------------------------------------------- training


def evaluate_numpy(net: Sequential, x: np.ndarray, y: np.ndarray,
                   batch_size: int = 500) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a network ending in Softmax."""
    loss_fn, total, correct = SoftmaxCrossEntropy(), 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = net.forward(np.asarray(x[i:i + batch_size], net.dtype), logits=True)
        labels = y[i:i + batch_size]
        total += loss_fn.forward(logits, labels) * len(labels)
        correct += int((logits.argmax(axis=1) == labels).sum())
    return total / len(x), correct / len(x)


def train_numpy(net: Sequential, x_train: np.ndarray, y_train: np.ndarray,
                x_test: np.ndarray, y_test: np.ndarray, epochs: int = 2, batch_size: int = 64,
                optimizer: SGD | Adam | None = None, seed: int = 0,
                progress: Callable[[int, int, int, float], None] | None = None) -> dict:
    """Mini-batch training with softmax cross-entropy; the test set is scored each epoch.

    Inputs are cast batch by batch to the network's dtype (raw pixels are fine: a spec
    network rescales them). `progress(epoch, batch, batches, loss)` is called after each
    batch (epoch and batch 1-based). Returns {"loss", "accuracy", "test_loss",
    "test_accuracy", "seconds"}, one value per epoch; loss and accuracy are the means over
    the epoch's batches, seconds the epoch's training time without the test scoring.
    """
    optimizer = optimizer or Adam()
    rng = np.random.default_rng(seed)
    loss_fn = SoftmaxCrossEntropy()
    n = len(x_train)
    batches = -(-n // batch_size)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "test_loss": [],
                                       "test_accuracy": [], "seconds": []}
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = rng.permutation(n)
        total, correct = 0.0, 0
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x, y = x_train[idx].astype(net.dtype), y_train[idx]
            logits = net.forward(x, training=True, logits=True)  # (B, K)
            loss = loss_fn.forward(logits, y)
            net.backward(loss_fn.backward())
            optimizer.step(net)
            total += loss * len(idx)
            correct += int((logits.argmax(axis=1) == y).sum())
            if progress:
                progress(epoch, b + 1, batches, loss)
        history["seconds"].append(time.perf_counter() - started)
        history["loss"].append(total / n)
        history["accuracy"].append(correct / n)
        test_loss, test_accuracy = evaluate_numpy(net, x_test, y_test)
        history["test_loss"].append(test_loss)
        history["test_accuracy"].append(test_accuracy)
    return history
