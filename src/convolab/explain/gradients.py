"""The gradient of one class score with respect to a model's input, on any Keras backend.

    g = gradients(scores_fn, x, class_index)      # same shape as x, NumPy

Keras has no backend-neutral gradient, so this is the one place that speaks to the
backend: TensorFlow's GradientTape, torch autograd or jax.grad.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConvolabError


def _tensorflow(model, x, class_index):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x)[:, class_index])
    return tape.gradient(score, x).numpy()


def _torch(model, x, class_index):
    import keras
    import torch

    x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
    score = model(x)[:, class_index].sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad.detach().cpu().numpy()


def _jax(model, x, class_index):
    import jax

    return np.asarray(jax.grad(lambda v: model(v)[:, class_index].sum())(x))


BACKENDS = {"tensorflow": _tensorflow, "torch": _torch, "jax": _jax}


def gradients(model: Callable, x: np.ndarray, class_index: int) -> np.ndarray:
    """d (sum over the batch of model(x)[:, class_index]) / d x, as a float32 array.

    `model` is a Keras model or any function of a tensor built from Keras layers and
    `keras.ops`; it maps x (N, ...) to scores (N, K).
    """
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ConvolabError(f"gradients are not available on the Keras backend {backend!r}; "
                            f"set KERAS_BACKEND to one of {', '.join(BACKENDS)}")
    x = np.asarray(x, dtype="float32")
    return np.asarray(BACKENDS[backend](model, x, class_index), dtype="float32")
