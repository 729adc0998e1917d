"""08 - EarlyStopping, BatchNormalization and ModelCheckpoint.

What this section of the unit teaches: BatchNormalization normalizes each channel over the
batch (and keeps moving averages of its mean and variance for test time), which lets a
network train faster; EarlyStopping stops training when the validation loss has not
improved for `patience` epochs; ModelCheckpoint saves the model each time the validation
loss improves (the unit's ModelCheckpoint('best_model.h5', save_best_only=True)), so the
model you keep is the best one, not the last. Here `seed-cnn` with BatchNormalization after
every convolution and hidden Dense layer trains on a few thousand MNIST digits at a
constant learning rate for up to 30 epochs with patience 3, and the checkpoint is checked:
the kept model's validation loss is that of the best epoch, not of the last.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (4,000 training + 1,000 validation images, up to 30 epochs): stopped
        after 12 epochs, best epoch 9; the kept model's validation loss (0.0614) equals
        the best epoch's, lower than the last epoch's (0.0618); best_model.h5 gives the
        same probabilities; test accuracy 98.32% (ask >= 96%); 31 s
    tiny budget (600 images, up to 4 epochs, patience 2, batch 32): the same checks on
        whichever epoch was best (it ran all 4; stopping is not asked); test accuracy
        92.06% (ask >= 20%, chance is 10%); about 11 s with the imports

    python examples/08_early_stopping_batchnorm_checkpoint.py
"""

import numpy as np

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
import keras
from _budget import output_dir, pick

out = output_dir("08_early_stopping_batchnorm_checkpoint")
DATA = {"name": "mnist", "train_samples": pick(full=5_000, tiny=600), "validation_split": 0.2}

# --- 1. Train with BatchNormalization, EarlyStopping and the best-model checkpoint --------
run = convolab.train({
    "data": DATA,
    # batchnorm: BatchNormalization after every Conv2D and hidden Dense, the ReLU after it
    "model": {"name": "seed-cnn", "batchnorm": True},
    "train": {"epochs": pick(full=30, tiny=4),
              "early_stopping": pick(full=3, tiny=2),  # patience, in epochs
              "monitor": "val_loss",                   # what both callbacks watch
              "lr_schedule": "constant", "lr": 0.003,
              "batch_size": pick(full=128, tiny=32)},
    "save_h5": True,  # also best_model.h5, the unit's ModelCheckpoint file
    "out": str(out / "run"),
})

# --- 2. Where training stopped, and which epoch was kept ---------------------------------
metrics, history = run.metrics, run.history()
best_epoch = metrics["best_epoch"]  # 1-based
print(f"\n{'epoch':>5} {'loss':>8} {'val_loss':>9} {'val_accuracy':>13}")
for row in history:
    epoch = int(row["epoch"]) + 1
    mark = "  <- best: checkpointed" if epoch == best_epoch else ""
    print(f"{epoch:>5} {row['loss']:>8.4f} {row['val_loss']:>9.4f} "
          f"{row['val_accuracy']:>13.2%}{mark}")
print(f"stopped early: {metrics['early_stopped']} after {metrics['epochs_run']} of "
      f"{run.config.train.epochs} epochs; best epoch {best_epoch}")

# --- 3. The kept model is the best epoch's ------------------------------------------------
# Recompute the validation loss of model.keras on the same validation images.
ds = convolab.load_dataset(DATA["name"], validation_split=DATA["validation_split"],
                           train_samples=DATA["train_samples"], seed=0)
probabilities = run.predict(ds.x_val)
kept_val_loss = float(-np.log(np.clip(probabilities[np.arange(len(ds.y_val)), ds.y_val],
                                      1e-7, 1.0)).mean())
best_val_loss = history[best_epoch - 1]["val_loss"]
last_val_loss = history[-1]["val_loss"]
print(f"model.keras: validation loss {kept_val_loss:.4f}; epoch {best_epoch} logged "
      f"{best_val_loss:.4f}, the last epoch {last_val_loss:.4f}")

legacy = keras.saving.load_model(run.path / "best_model.h5", compile=False)
h5_difference = float(np.abs(keras.ops.convert_to_numpy(legacy(ds.x_val.astype("float32")))
                             - probabilities).max())
print(f"best_model.h5 gives the same probabilities (largest difference {h5_difference:.2g})")

# --- 4. What BatchNormalization learned --------------------------------------------------
for layer in run.model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        mean, variance = (np.asarray(w) for w in (layer.moving_mean, layer.moving_variance))
        print(f"{layer.name:<22} momentum {layer.momentum}: moving mean {mean.mean():7.4f}, "
              f"moving variance {variance.mean():.4f} (started at 0 and 1)")
print(f"test accuracy {metrics['test_accuracy']:.2%} ({metrics['train_seconds']:.0f} s of "
      f"training); run directory {run.path}")

# --- 5. The result -------------------------------------------------------------------------
assert abs(kept_val_loss - best_val_loss) <= 1e-4 * max(1.0, best_val_loss), (
    f"model.keras should be the best epoch's model: validation loss {kept_val_loss:.5f}, "
    f"epoch {best_epoch} logged {best_val_loss:.5f}")
assert best_val_loss == min(row["val_loss"] for row in history), "best = lowest val_loss"
assert h5_difference <= 1e-5, f"best_model.h5 differs from model.keras by {h5_difference}"
least = pick(full=0.96, tiny=0.20)
assert metrics["test_accuracy"] >= least, (
    f"test accuracy {metrics['test_accuracy']:.2%}, expected >= {least:.0%}")
if pick(full=True, tiny=False):
    assert metrics["early_stopped"] and metrics["epochs_run"] < 30, (
        f"early stopping should end the run before 30 epochs (ran {metrics['epochs_run']})")
    assert metrics["epochs_run"] - best_epoch == 3, "it stops 3 epochs (patience) after the best"
    assert last_val_loss > best_val_loss, "the last epoch should be worse than the kept one"
