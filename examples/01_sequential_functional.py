"""01 - Sequential and Functional models: the same small CNN written both ways.

What this section of the unit teaches: Keras builds a model either as a Sequential stack
(each layer feeds the next) or with the Functional API (each layer is called on the output
of the layers it names, so graphs with branches and joins can be written). For a plain
chain both give the same network. Here the unit's CNN (Conv2D 32 3x3 ReLU, MaxPooling 2x2,
Conv2D 64 3x3 ReLU, MaxPooling 2x2, Flatten, Dense 128 ReLU, Dense softmax) is written as a
convolab model spec of each kind, built, compared layer by layer, and trained on MNIST.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (20,000 training images, 3 epochs each): both models 225,034 parameters,
        the same outputs for the same weights (difference 0); test accuracy 98.39% for
        each, the same to the last digit with the same seed (ask >= 98%); 60 s in all
    tiny budget (600 images, 1 epoch): test accuracy 65.29% for each (ask >= 30%, chance
        is 10%); about 13 s with the imports

    python examples/01_sequential_functional.py
"""

import numpy as np
import yaml

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
import keras
from _budget import output_dir, pick

out = output_dir("01_sequential_functional")

# --- 1. The same CNN as a Sequential spec and as a Functional spec -----------------------
# A spec names Keras layer classes and their arguments; `$num_classes` is filled in from
# the dataset. The Sequential form is a list: each layer takes the previous one's output.
# In plain Keras this is keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(...)...]).
sequential_spec = {
    "type": "sequential",
    "description": "the unit's CNN as a Sequential stack",
    "layers": [
        {"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
        {"MaxPooling2D": {"pool_size": 2, "strides": 2}},
        {"Conv2D": {"filters": 64, "kernel_size": 3, "activation": "relu"}},
        {"MaxPooling2D": {"pool_size": 2, "strides": 2}},
        {"Flatten": {}},
        {"Dense": {"units": 128, "activation": "relu"}},
        {"Dense": {"units": "$num_classes", "activation": "softmax"}},
    ],
}

# The Functional form names every node and the node(s) it is called on, as in
#     x = layers.Conv2D(32, 3, activation="relu")(inputs); x = layers.MaxPooling2D(2)(x) ...
#     model = keras.Model(inputs, outputs)
# Here it is the same chain; the Functional API also allows branches, joins (Add) and
# shared layers (see the `resnet-mini` preset).
functional_spec = {
    "type": "functional",
    "description": "the unit's CNN with the Functional API",
    "inputs": ["image"],
    "nodes": {
        "conv1": {"layer": "Conv2D", "args": {"filters": 32, "kernel_size": 3,
                                              "activation": "relu"}, "inputs": "image"},
        "pool1": {"layer": "MaxPooling2D", "args": {"pool_size": 2, "strides": 2},
                  "inputs": "conv1"},
        "conv2": {"layer": "Conv2D", "args": {"filters": 64, "kernel_size": 3,
                                              "activation": "relu"}, "inputs": "pool1"},
        "pool2": {"layer": "MaxPooling2D", "args": {"pool_size": 2, "strides": 2},
                  "inputs": "conv2"},
        "flat": {"layer": "Flatten", "inputs": "pool2"},
        "hidden": {"layer": "Dense", "args": {"units": 128, "activation": "relu"},
                   "inputs": "flat"},
        "out": {"layer": "Dense", "args": {"units": "$num_classes", "activation": "softmax"},
                "inputs": "hidden"},
    },
    "outputs": ["out"],
}

# --- 2. Build both and compare them -----------------------------------------------------
# convolab puts Input((28, 28, 1)) and Rescaling(1/255) in front of every spec, so both
# models take raw 0-255 pixels.
sequential = convolab.create_model(sequential_spec, input_shape=(28, 28, 1), num_classes=10,
                                   name="sequential_cnn")
functional = convolab.create_model(functional_spec, input_shape=(28, 28, 1), num_classes=10,
                                   name="functional_cnn")
sequential.summary()
functional.summary()


def layer_table(model):
    """(class name, output shape, parameters) of every layer after the input."""
    return [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers if type(layer).__name__ != "InputLayer"]


assert layer_table(sequential) == layer_table(functional), (
    f"the two specs should build the same layers:\n{layer_table(sequential)}\n"
    f"{layer_table(functional)}")
print(f"parameters: Sequential {sequential.count_params():,}, "
      f"Functional {functional.count_params():,}")

# With the same weights the two compute the same function.
functional.set_weights(sequential.get_weights())
ds = convolab.load_dataset("mnist", validation_split=0.1,
                           train_samples=pick(full=20_000, tiny=600), seed=0)
batch = ds.x_test[:64].astype("float32")
difference = float(np.abs(sequential.predict(batch, verbose=0)
                          - functional.predict(batch, verbose=0)).max())
print(f"largest difference of their outputs with the same weights: {difference:.2g}")
assert difference < 1e-6, f"same weights should give the same outputs, differ by {difference}"

# convolab builds both kinds of spec with Keras's Functional API underneath; the unit's
# keras.Sequential, written by hand, is the same network again (Input and Rescaling first,
# as convolab adds them), and with the same weights it computes the same outputs.
by_hand = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.MaxPooling2D(2, strides=2),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.MaxPooling2D(2, strides=2),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
], name="keras_sequential")
by_hand.set_weights(sequential.get_weights())
by_hand_difference = float(np.abs(by_hand.predict(batch, verbose=0)
                                  - sequential.predict(batch, verbose=0)).max())
print(f"keras.Sequential by hand: {by_hand.count_params():,} parameters, largest difference "
      f"{by_hand_difference:.2g}")
assert by_hand.count_params() == sequential.count_params() and by_hand_difference < 1e-6, (
    "the hand-written keras.Sequential should be the same network")

# --- 3. Train both ----------------------------------------------------------------------
# A run trains a model named by preset or by spec file, so each spec is written as YAML.
# The config is the same for both: Adam, one-cycle learning rate 0.003, batch 128.
accuracy = {}
for kind, spec in (("sequential", sequential_spec), ("functional", functional_spec)):
    spec_file = out / f"{kind}.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = convolab.train({
        "model": {"name": str(spec_file)},
        "data": {"name": "mnist", "train_samples": pick(full=20_000, tiny=600)},
        "train": {"epochs": pick(full=3, tiny=1)},
        "out": str(out / kind),
    })
    accuracy[kind] = run.metrics["test_accuracy"]
    print(f"{kind}: test accuracy {accuracy[kind]:.2%} after {run.metrics['epochs_run']} "
          f"epochs, {run.metrics['train_seconds']:.0f} s of training ({run.path})")

# --- 4. The result ----------------------------------------------------------------------
least = pick(full=0.98, tiny=0.30)
for kind, value in accuracy.items():
    assert value >= least, (
        f"the {kind} CNN reached {value:.2%} test accuracy, expected >= {least:.0%}")
print(f"both ways train the same CNN: Sequential {accuracy['sequential']:.2%}, "
      f"Functional {accuracy['functional']:.2%} test accuracy")
