"""03 - How a convolutional layer works, in numbers, on one real MNIST digit.

What this section of the unit teaches: a convolutional layer slides small kernels over the
image; at each place it multiplies the patch under the kernel by the kernel's weights and
adds them up (plus a bias), which gives one value of a feature map; the stride is the step
between places. Pooling keeps the largest value of each window, flattening lines the
feature maps up into one vector, dense layers multiply it by a matrix, and softmax turns
the last layer's scores into probabilities. Here a trained `seed-cnn` (the unit's CNN)
looks at the first MNIST test digit, and every one of those operations is written out with
the NumPy reference network (`convolab.explain`) and checked against Keras.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (10,000 training images, 2 epochs; test accuracy 97.11%): the digit 7
        read as a 7 with probability 1.0000; every layer's output within 4.3e-6 of Keras's
        (ask <= 1e-4); the multiply-add, im2col product, stride 2, pooling, flattening and
        softmax each equal to what the layer computed; 17 s
    tiny budget (600 images, 1 epoch): the same checks (worst difference 2.4e-7), the 7
        read as a 7 with probability 0.18 (the model is barely trained; only the
        agreement is asked); about 10 s with the imports

    python examples/03_conv_layer_maths.py
"""

import numpy as np

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
import keras
from _budget import output_dir, pick
from convolab.explain import numpy_ref
from convolab.explain.walk_html import write_walkthrough_html
from convolab.explain.walkthrough import (ConvStep, DenseStep, FlattenStep, PoolStep,
                                          SoftmaxStep, explain_image)

TOLERANCE = 1e-4  # float32 sums in another order: NumPy and Keras agree to about 1e-6
np.set_printoptions(precision=3, suppress=True, linewidth=120)
out = output_dir("03_conv_layer_maths")

# --- 1. A trained CNN -----------------------------------------------------------------
run = convolab.train({
    "model": {"name": "seed-cnn"},
    "data": {"train_samples": pick(full=10_000, tiny=600)},
    "train": {"epochs": pick(full=2, tiny=1)},
    "out": str(out / "seed-cnn"),
})
print(f"seed-cnn: test accuracy {run.metrics['test_accuracy']:.2%}")

# --- 2. One digit through the network, layer by layer, in NumPy --------------------------
# explain_image copies the Keras weights into the NumPy reference network, walks the image
# through it and refuses if the probabilities differ from Keras's by more than 1e-4.
walk = explain_image(run.path, "test:0")
pixels = walk.image[:, :, 0]  # (28, 28) raw 0-255 pixels
print(f"input: test image 0, label {walk.true_label}; pixels {pixels.shape}, "
      f"{int((pixels > 0).sum())} of them inked")
for row in pixels[4:24:2, 4:24]:  # every other row of the centre, as 0-9 shades
    print("   " + "".join(" .:-=+*#%@"[int(v) * 10 // 256] for v in row))

# --- 3. Kernels and feature maps: one value as a multiply-add -----------------------------
conv = walk.steps_of(ConvStep)[0]
mac = conv.mac  # the largest value of the first feature maps, written out
print(f"\nConv2D: {conv.kernel.shape[3]} kernels of shape {conv.kernel.shape[:3]} "
      f"(height, width, input channels); input {conv.input_shape} -> feature maps "
      f"{conv.output_shape}: (28 - 3) / stride 1 + 1 = 26 places a side")
print(f"kernel {mac.filter} at output row {mac.row}, column {mac.col}:")
print("patch (pixels / 255):\n", mac.patch[:, :, 0])
print("kernel:\n", mac.kernel[:, :, 0])
print("patch * kernel:\n", mac.products[:, :, 0])
print(f"sum {mac.total:.4f} + bias {mac.bias:.4f} = {mac.value:.4f}; the feature map holds "
      f"{mac.map_value:.4f}; after ReLU {conv.output[mac.row, mac.col, mac.filter]:.4f}")
assert abs(mac.value - mac.map_value) <= TOLERANCE, "the multiply-add should give the map value"

# The whole layer is one matrix product: every patch is a row of `patches`
# (26*26 places, 3*3*1 values) and every kernel a column of the kernel matrix (9, 32).
im2col_value = float(mac.patches_row @ mac.kernel_column) + mac.bias
print(f"as a matrix product: patches {mac.patches_shape} @ kernels "
      f"{mac.kernel_matrix_shape}; row {mac.patch_row} . column {mac.filter} + bias = "
      f"{im2col_value:.4f}")
assert abs(im2col_value - mac.map_value) <= TOLERANCE, "row . column should give the map value"

# --- 4. Stride: the same kernels, every second place --------------------------------------
strided = numpy_ref.Conv2D(conv.kernel.shape[3], 3, strides=2, activation="relu")
strided.build((28, 28, 1), np.random.default_rng(0), np.dtype("float32"))
strided.params = {"kernel": conv.kernel, "bias": conv.bias}
scaled = walk.steps[0].output[None]  # the Rescaling step's output, (1, 28, 28, 1)
stride2 = strided.forward(scaled)[0]
print(f"\nstride 2: feature maps {stride2.shape}: floor((28 - 3) / 2) + 1 = 13 places a "
      f"side, a quarter of the work")
assert stride2.shape == (13, 13, 32), f"stride 2 should give 13x13 maps, got {stride2.shape}"
assert np.allclose(stride2, conv.output[::2, ::2], atol=TOLERANCE), (
    "stride 2 should compute every second value of the stride-1 feature maps")
keras_conv = keras.layers.Conv2D(32, 3, strides=2, activation="relu")
keras_conv.build((1, 28, 28, 1))
keras_conv.set_weights([conv.kernel, conv.bias])
keras_stride2 = keras.ops.convert_to_numpy(keras_conv(scaled))[0]
print(f"Keras Conv2D(strides=2) with the same weights differs by "
      f"{np.abs(keras_stride2 - stride2).max():.2g}")
assert np.abs(keras_stride2 - stride2).max() <= TOLERANCE, "stride 2 should match Keras"

# --- 5. Pooling, flattening, dense, softmax -----------------------------------------------
pool = walk.steps_of(PoolStep)[0]
print(f"\nMaxPooling2D 2x2 stride 2: {pool.input_shape} -> {pool.output_shape}; the window "
      f"at ({pool.top}, {pool.left}) of channel {pool.channel}:\n{pool.window}\nkeeps "
      f"{pool.kept:.4f}")
assert pool.kept == pool.window.max(), "max pooling should keep the window's largest value"

flat = walk.steps_of(FlattenStep)[0]
last_pool = walk.steps_of(PoolStep)[-1]
print(f"Flatten: {last_pool.output_shape} -> {flat.output_shape}: 5 * 5 * 64 = 1600 "
      f"values, row by row, channels innermost")
assert np.array_equal(flat.output, last_pool.output.reshape(-1)), "Flatten is a reshape"

for dense in walk.steps_of(DenseStep):
    print(f"Dense: {dense.input_shape} @ kernel {dense.kernel_shape} + bias -> "
          f"{dense.output_shape}" + (f", ReLU zeroed {dense.zeroed}" if dense.zeroed else "")
          + (" (the logits)" if dense.logits else ""))

softmax = walk.steps_of(SoftmaxStep)[0]
exp = np.exp(softmax.logits.astype("float64") - softmax.logits.max())
by_hand = exp / exp.sum()  # exp(z_i) / sum_j exp(z_j), shifted by max(z) for safety
print("softmax: exp(logit) / sum of exp(logits)")
for k in np.argsort(-by_hand)[:3]:
    print(f"   class {k}: logit {softmax.logits[k]:8.3f}  probability {by_hand[k]:.4f}")
assert np.allclose(by_hand, softmax.output, atol=1e-6), "softmax by hand should match"

# --- 6. Every layer checked against Keras ------------------------------------------------
# A Keras model that returns every layer's output for the same digit.
layers = [layer for layer in run.model.layers if type(layer).__name__ != "InputLayer"]
inspect = keras.Model(run.model.inputs, [layer.output for layer in layers])
keras_outputs = [keras.ops.convert_to_numpy(o)[0]
                 for o in inspect([walk.image[None].astype("float32")])]
numpy_outputs = [step.output for step in walk.steps if not isinstance(step, SoftmaxStep)]
numpy_outputs[-1] = walk.probabilities  # Keras's last Dense includes the softmax
worst = 0.0
for layer, ours, theirs in zip(layers, numpy_outputs, keras_outputs):
    difference = float(np.abs(ours - theirs).max())
    worst = max(worst, difference)
    print(f"   {layer.name:<16} {str(theirs.shape):<14} NumPy - Keras: {difference:.2g}")
print(f"prediction: {walk.predicted_name} with probability "
      f"{walk.probabilities[walk.predicted]:.4f} (label {walk.true_label})")
page = write_walkthrough_html(walk, out / "walkthrough-test-0.html")
print(f"the whole walk as a page: {page}")

# --- 7. The result -------------------------------------------------------------------------
assert len(numpy_outputs) == len(keras_outputs) == 8, "seed-cnn has 8 layers after the input"
assert worst <= TOLERANCE, f"NumPy and Keras differ by {worst:.2g}, more than {TOLERANCE}"
if pick(full=True, tiny=False):  # a trained model reads this clear 7 right
    assert walk.predicted == walk.true_label == 7, (
        f"test image 0 is a 7; the model read {walk.predicted}")
