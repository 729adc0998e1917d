"""05 - The regularizers: Dropout, L1, L2, and the gap between training and validation.

What this section of the unit teaches: a network with many weights and few examples
overfits: it learns its training images almost perfectly and does worse on images it has
not seen. Regularization fights this: Dropout switches a random part of the units off at
every training step, L1 and L2 add the sum of |w| or of w^2 of the weights to the loss, so
that large weights cost something. Here the unit's CNN (`seed-cnn`, 225,034 parameters) is
trained on only 2,000 MNIST digits for 20 epochs, four times: without regularization,
with Dropout 0.5 before each Dense layer, with L1 1e-4 and with L2 1e-3 on every kernel.
For each, the model after the last epoch is scored in inference mode on its training
images and on 1,000 held-out validation images; the difference is the overfitting gap.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run each):
    full budget (2,000 training + 1,000 validation images, 20 epochs, batch 128):
        variant    train acc  val acc  gap (points)  val - train loss  test acc
        baseline     100.00%   96.20%          3.80             0.170    97.00%
        dropout       99.55%   96.20%          3.35             0.110    97.42%
        l1            99.90%   96.20%          3.70             0.131    96.92%
        l2            99.90%   96.60%          3.30             0.133    96.91%
        every regularizer narrows the loss gap (asked) and the accuracy gap a little
        (0.1-0.5 points); test accuracy moves by half a point at most; 81 s
    tiny budget (200 + 100 images, 2 epochs, batch 32): the same table (test accuracy
        39-70%; Dropout, slowest to learn, lowest); checked only that every variant learned
        something (test accuracy >= 20%, chance is 10%); about 20 s with the imports

    python examples/05_regularizers.py
"""

import numpy as np

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
from _budget import output_dir, pick

out = output_dir("05_regularizers")
DATA = {"name": "mnist", "train_samples": pick(full=3_000, tiny=300),
        "validation_split": 1 / 3}
TRAIN = {"epochs": pick(full=20, tiny=2), "batch_size": pick(full=128, tiny=32),
         # keep the model of the last epoch (lowest training loss), not the one with the
         # lowest validation loss, so that each gap is that of a fully trained model
         "monitor": "loss"}
VARIANTS = {  # name -> model overrides (the flags --dropout, --l1, --l2)
    "baseline": {},
    "dropout": {"dropout": 0.5},  # Dropout(0.5) in front of both Dense layers
    "l1": {"l1": 1e-4},           # + 1e-4 * sum |w| over every kernel
    "l2": {"l2": 1e-3},           # + 1e-3 * sum w^2 over every kernel
}

# The same split convolab.train makes from DATA (stratified, seeded), to score the runs on.
ds = convolab.load_dataset(DATA["name"], validation_split=DATA["validation_split"],
                           train_samples=DATA["train_samples"], seed=0)
print(f"{len(ds.x_train):,} training and {len(ds.x_val):,} validation images")


def accuracy_and_loss(run, images, labels):
    """Accuracy and mean cross-entropy of the run's model in inference mode."""
    probabilities = run.predict(images)
    picked = probabilities[np.arange(len(labels)), labels]
    return (float((probabilities.argmax(axis=1) == labels).mean()),
            float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()))


# --- 1. Train the four variants ---------------------------------------------------------
results = {}
for name, regularization in VARIANTS.items():
    run = convolab.train({"data": DATA, "train": TRAIN,
                          "model": {"name": "seed-cnn", **regularization},
                          "out": str(out / name)})
    train_acc, train_loss = accuracy_and_loss(run, ds.x_train, ds.y_train)
    val_acc, val_loss = accuracy_and_loss(run, ds.x_val, ds.y_val)
    results[name] = {"train_acc": train_acc, "val_acc": val_acc, "gap": train_acc - val_acc,
                     "loss_gap": val_loss - train_loss,
                     "test_acc": run.metrics["test_accuracy"],
                     "seconds": run.metrics["train_seconds"]}

# --- 2. The gaps ----------------------------------------------------------------------------
print(f"\n{'variant':<10} {'train acc':>9} {'val acc':>8} {'gap (points)':>13} "
      f"{'val - train loss':>17} {'test acc':>9} {'train s':>8}")
for name, r in results.items():
    print(f"{name:<10} {r['train_acc']:>9.2%} {r['val_acc']:>8.2%} {100 * r['gap']:>13.2f} "
          f"{r['loss_gap']:>17.3f} {r['test_acc']:>9.2%} {r['seconds']:>8.1f}")

# --- 3. The result -------------------------------------------------------------------------
for name, r in results.items():
    least = pick(full=0.93, tiny=0.20)
    assert r["test_acc"] >= least, f"{name}: test accuracy {r['test_acc']:.2%} < {least:.0%}"
if pick(full=True, tiny=False):
    baseline = results["baseline"]
    assert baseline["gap"] > 0.02, (
        f"the baseline should overfit 2,000 images (gap {baseline['gap']:.2%})")
    for name in ("dropout", "l1", "l2"):
        assert results[name]["loss_gap"] < baseline["loss_gap"], (
            f"{name} should narrow the gap between validation and training loss: "
            f"{results[name]['loss_gap']:.3f} against the baseline's {baseline['loss_gap']:.3f}")
