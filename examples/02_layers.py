"""02 - The layers: dense, convolution, pooling, recurrent, normalization, regularization,
activation.

What this section of the unit teaches: the kinds of Keras layers a network is made of, what
each does to the shape of the data and how many parameters it learns. One model here uses
one layer of every kind, in this order:

    Conv2D (convolution) -> BatchNormalization (normalization) -> Activation ReLU
    (activation) -> MaxPooling2D (pooling) -> Dropout (regularization) -> Reshape ->
    LSTM (recurrent: reads the 14 rows of feature maps as a sequence) -> Dense ReLU (dense)
    -> Dense softmax

with an L2 penalty on every kernel (regularization again). Its summary is printed, each
layer's parameter count is worked out by hand and checked against Keras, and it is trained
on MNIST. The shipped presets that use each kind are listed too (`lstm-rows` is the unit's
recurrent network, `mlp-bn` its BatchNormalization snippet).

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (10,000 training images, 6 epochs): 79,018 parameters, every count as
        worked out; test accuracy 97.05% (ask >= 95%); 32 s
    tiny budget (600 images, 2 epochs, batch 32): test accuracy 46.62% (ask >= 20%,
        chance is 10%); about 10 s with the imports

    python examples/02_layers.py
"""

import yaml

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
from _budget import output_dir, pick

out = output_dir("02_layers")

# --- 1. The presets, and the layer kinds they use ----------------------------------------
for preset in convolab.list_models():
    print(f"{preset['name']:>14}  {preset['description']}")

# --- 2. One model with a layer of every kind ---------------------------------------------
FILTERS, LSTM_UNITS, HIDDEN = 16, 64, 64
spec = {
    "type": "sequential",
    "description": "one layer of every kind",
    "layers": [
        # convolution: 16 kernels of 3x3 slide over the image; 'same' keeps 28x28
        {"Conv2D": {"filters": FILTERS, "kernel_size": 3, "padding": "same"}},
        # normalization: each channel scaled to mean 0, variance 1 over the batch, then
        # times gamma plus beta (learned). Momentum 0.9 lets its moving statistics, used at
        # test time, settle within a short run (Keras's default is 0.99).
        {"BatchNormalization": {"momentum": 0.9}},
        # activation: ReLU, max(0, x), as its own layer after the normalization
        {"Activation": {"activation": "relu"}},
        # pooling: the largest value of each 2x2 window: 28x28 -> 14x14
        {"MaxPooling2D": {"pool_size": 2}},
        # regularization: a quarter of the values set to 0 at random, in training only
        {"Dropout": {"rate": 0.25}},
        # (14, 14, 16) -> (14, 224): each row of the feature maps becomes one time step
        {"Reshape": {"target_shape": [14, -1]}},
        # recurrent: an LSTM reads the 14 steps and keeps its last state (64 numbers)
        {"LSTM": {"units": LSTM_UNITS}},
        # dense: every input connected to every unit
        {"Dense": {"units": HIDDEN, "activation": "relu"}},
        {"Dense": {"units": "$num_classes", "activation": "softmax"}},
    ],
}
L2 = 1e-4  # regularization: 1e-4 * sum(w^2) of every kernel added to the loss
model = convolab.create_model(spec, input_shape=(28, 28, 1), num_classes=10, l2=L2,
                              name="every_layer_kind")
model.summary()

# --- 3. The parameter counts, worked out -------------------------------------------------
rows_steps, step_width = 14, 14 * FILTERS  # what the LSTM reads: 14 steps of 224 numbers
expected = {
    # kernel_h * kernel_w * input channels * filters, plus one bias per filter
    "Conv2D": 3 * 3 * 1 * FILTERS + FILTERS,
    # gamma and beta (learned) + moving mean and variance (not learned), per channel
    "BatchNormalization": 4 * FILTERS,
    "Activation": 0, "MaxPooling2D": 0, "Dropout": 0, "Reshape": 0,
    # 4 gates (input, forget, cell, output), each with input weights, recurrent weights
    # and a bias: 4 * (units * (input width + units) + units)
    "LSTM": 4 * (LSTM_UNITS * (step_width + LSTM_UNITS) + LSTM_UNITS),
    # inputs * units + one bias per unit
    "Dense": [LSTM_UNITS * HIDDEN + HIDDEN, HIDDEN * 10 + 10],
}
dense_counts = list(expected["Dense"])
print(f"{'layer':<20} {'output shape':<16} {'parameters':>10}  worked out")
for layer in model.layers[2:]:  # after the input and convolab's Rescaling(1/255)
    kind = type(layer).__name__
    worked_out = dense_counts.pop(0) if kind == "Dense" else expected[kind]
    shape = tuple(layer.output.shape[1:])
    print(f"{kind:<20} {str(shape):<16} {layer.count_params():>10,}  {worked_out:,}")
    assert layer.count_params() == worked_out, (
        f"{kind} has {layer.count_params()} parameters, worked out {worked_out}")
total = model.count_params()
not_learned = 2 * FILTERS  # BatchNormalization's moving mean and variance
print(f"total {total:,} parameters, {total - not_learned:,} of them learned by "
      f"backpropagation")
# The L2 penalty is one extra loss term per kernel: Conv2D, LSTM (input and recurrent
# kernels count as one layer's kernel) and the two Dense layers.
print(f"L2 penalty terms added to the loss: {len(model.losses)}")
assert len(model.losses) == 4, f"expected 4 L2 penalty terms, got {len(model.losses)}"

# --- 4. Train it --------------------------------------------------------------------------
spec_file = out / "every_layer_kind.yaml"
spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
run = convolab.train({
    "model": {"name": str(spec_file), "l2": L2},
    "data": {"name": "mnist", "train_samples": pick(full=10_000, tiny=600)},
    "train": {"epochs": pick(full=6, tiny=2), "batch_size": pick(full=128, tiny=32)},
    "out": str(out / "run"),
})
accuracy = run.metrics["test_accuracy"]
print(f"test accuracy {accuracy:.2%} ({run.metrics['parameters']:,} parameters, "
      f"{run.metrics['train_seconds']:.0f} s of training); run directory {run.path}")

# --- 5. The result -------------------------------------------------------------------------
least = pick(full=0.95, tiny=0.20)
assert run.metrics["parameters"] == total, "the trained model should be the one counted above"
assert accuracy >= least, f"test accuracy {accuracy:.2%}, expected >= {least:.0%}"
