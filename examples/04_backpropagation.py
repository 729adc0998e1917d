"""04 - Backpropagation, with the NumPy reference CNN.

What this section of the unit teaches: training computes the loss (cross-entropy of the
softmax) on a batch, then backpropagation sends its gradient back through the layers with
the chain rule, each layer turning the gradient of its output into the gradients of its
weights and of its input; the optimizer then moves every weight a little against its
gradient. `convolab.explain.numpy_ref` is the unit's CNN (`seed-cnn`) in NumPy alone, each
layer's `backward` written right under its `forward`. Here its gradients are checked
against two oracles, on real MNIST digits:

    1. central finite differences, (L(w + h) - L(w - h)) / 2h, in float64;
    2. Keras itself (TensorFlow's GradientTape) for the same weights, in float32;

then one step of gradient descent is taken by hand, and the NumPy network is trained.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (NumPy training on 30,000 images, 1 epoch, Adam 1e-3, batch 64):
        finite differences agree within 1.1e-8 relative error (ask <= 1e-6); Keras's
        gradients within 7.2e-7 of the largest gradient (ask <= 1e-4); one SGD step lowers
        the batch loss (2.2147 -> 2.1131); test accuracy 97.53% (ask >= 95%); 19 s, 11 s
        of it the NumPy epoch (93 s in an earlier run while other work used the CPU)
    tiny budget (500 images, 1 epoch, tested on 1,000): the same checks, test accuracy
        61.30% (ask >= 25%, chance is 10%); about 6 s with the imports

    python examples/04_backpropagation.py
"""

import numpy as np

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
import keras
import tensorflow as tf  # section 3's oracle, GradientTape: the TensorFlow backend (default)
from _budget import pick
from convolab.explain import numpy_ref as nr
from convolab.explain.keras_bridge import from_keras

FINITE_DIFFERENCE_TOL = 1e-6  # max relative error, float64
KERAS_TOL = 1e-4  # max |NumPy - Keras| / max |Keras| per weight array, float32
rng = np.random.default_rng(0)

ds = convolab.load_dataset("mnist", validation_split=0.0,
                           train_samples=pick(full=30_000, tiny=500), seed=0)
x_batch, y_batch = ds.x_train[:8].astype("float64"), ds.y_train[:8]  # (8, 28, 28, 1)

# --- 1. Forward, loss, backward -----------------------------------------------------------
net = nr.seed_cnn(seed=0, dtype="float64")
for _, layer, key in net.parameters():  # small random biases: no ReLU sits exactly at 0
    if key == "bias":
        layer.params[key] = rng.normal(scale=0.05, size=layer.params[key].shape)
loss_fn = nr.SoftmaxCrossEntropy()


def loss_of_batch() -> float:
    return loss_fn.forward(net.forward(x_batch, logits=True), y_batch)


loss = loss_of_batch()                       # forward: logits (8, 10) -> mean cross-entropy
net.backward(loss_fn.backward())             # backward: (softmax - one-hot) / 8, then down
print(f"loss on 8 digits: {loss:.4f} (ln 10 = {np.log(10):.4f} is a blind guess)")

# --- 2. Oracle 1: central finite differences, float64 ------------------------------------
H = 1e-5
print(f"\n{'weights':<16} {'shape':<16} {'entries':>7}  max relative error")
worst_fd = 0.0
for name, layer, key in net.parameters():
    weights, analytic = layer.params[key], layer.grads[key]
    errors = []
    for flat in rng.choice(weights.size, size=min(6, weights.size), replace=False):
        index = np.unravel_index(flat, weights.shape)
        old = weights[index]
        weights[index] = old + H
        up = loss_of_batch()
        weights[index] = old - H
        down = loss_of_batch()
        weights[index] = old
        numeric = (up - down) / (2 * H)
        errors.append(abs(analytic[index] - numeric)
                      / max(abs(analytic[index]) + abs(numeric), 1e-8))
    worst_fd = max(worst_fd, max(errors))
    print(f"{name:<16} {str(weights.shape):<16} {len(errors):>7}  {max(errors):.2g}")

# --- 3. Oracle 2: Keras's own gradients for the same weights, float32 --------------------
keras.utils.set_random_seed(0)
model = convolab.create_model("seed-cnn")    # Keras seed-cnn with its own initial weights
twin = from_keras(model)                     # the same weights in the NumPy network
x32 = x_batch.astype("float32")
with tf.GradientTape() as tape:
    probabilities = model(x32, training=True)
    keras_loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y_batch,
                                                                             probabilities))
keras_grads = [g.numpy() for g in tape.gradient(keras_loss, model.trainable_weights)]
numpy_loss = loss_fn.forward(twin.forward(x32, training=True, logits=True), y_batch)
twin.backward(loss_fn.backward())
print(f"\nKeras loss {float(keras_loss):.6f}, NumPy loss {numpy_loss:.6f}")
worst_keras = 0.0
for (name, layer, key), theirs in zip(twin.parameters(), keras_grads):
    relative = float(np.abs(layer.grads[key] - theirs).max() / np.abs(theirs).max())
    worst_keras = max(worst_keras, relative)
    print(f"{name:<16} max |NumPy - Keras| / max |Keras| = {relative:.2g}")

# --- 4. One step of gradient descent by hand -----------------------------------------------
# w <- w - lr * dL/dw for every weight (numpy_ref.SGD does exactly this).
before = loss_of_batch()
net.backward(loss_fn.backward())
for _, layer, key in net.parameters():
    layer.params[key] -= 0.05 * layer.grads[key]
after = loss_of_batch()
print(f"\none SGD step (lr 0.05) on these 8 digits: loss {before:.4f} -> {after:.4f}")

# --- 5. Train the NumPy network -----------------------------------------------------------
test_images = pick(full=len(ds.x_test), tiny=1_000)
history = nr.train_numpy(nr.seed_cnn(seed=0), ds.x_train, ds.y_train,
                         ds.x_test[:test_images], ds.y_test[:test_images],
                         epochs=1, batch_size=64, optimizer=nr.Adam(1e-3))
for epoch, (acc, test_acc, seconds) in enumerate(zip(history["accuracy"],
                                                     history["test_accuracy"],
                                                     history["seconds"]), start=1):
    print(f"NumPy epoch {epoch}: training accuracy {acc:.2%}, test accuracy {test_acc:.2%} "
          f"({test_images:,} images), {seconds:.1f} s")

# --- 6. The result -------------------------------------------------------------------------
assert worst_fd <= FINITE_DIFFERENCE_TOL, (
    f"backpropagation and finite differences differ by {worst_fd:.2g} (relative)")
assert abs(numpy_loss - float(keras_loss)) <= 1e-5 * float(keras_loss), "losses should agree"
assert worst_keras <= KERAS_TOL, f"NumPy and Keras gradients differ by {worst_keras:.2g}"
assert after < before, f"a small step against the gradient should lower the loss ({after})"
least = pick(full=0.95, tiny=0.25)
final = history["test_accuracy"][-1]
assert final >= least, f"the NumPy CNN reached {final:.2%} test accuracy, expected >= {least:.0%}"
print(f"backpropagation checked (finite differences {worst_fd:.2g}, Keras {worst_keras:.2g}); "
      f"the NumPy CNN reached {final:.2%}")
