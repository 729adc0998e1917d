"""06 - Learning-rate schedulers, batch size and epochs: a range test, then a small study.

What this section of the unit teaches: the learning rate, how it changes during training
(the scheduler), the batch size and the number of epochs are hyperparameters: chosen
before training, not learned. The unit's scheduler keeps the rate for 10 epochs, then
multiplies it by exp(-0.1) every epoch. Here:

    1. the four schedules convolab offers, learning rate by epoch;
    2. the learning-rate range test (Smith 2015, fastai's lr_find) on `seed-cnn`: the rate
       grows exponentially batch by batch and the loss is watched; the suggested rate is
       read off the curve (`convolab.tune.lr_find`);
    3. a small Optuna study (`convolab.tune.study`) over the learning rate (around the
       suggestion), the schedule, the batch size and the number of epochs, each trial a
       run scored on its validation split; the best trial is scored once on the test set.

Result it should reach (2-core AMD EPYC VM, TensorFlow CPU, one run):
    full budget (5,000 images, 4,500 train / 500 validation; 10 trials of 1-4 epochs):
        lr-find suggests 0.0059 (valley; minimum/10 0.02, steepest 0.026); the median
        pruner stops 5 of the 10 trials; best trial: lr 0.0045, one-cycle, batch 64, 4
        epochs, validation accuracy 98.80%, test accuracy 97.84% (ask >= 95%); 60 s
    tiny budget (300 images, 20 sweep steps, 2 trials of 1-2 epochs): the same steps;
        best trial's test accuracy 52.66% (ask >= 15%, chance is 10%); about 14 s with
        the imports

    python examples/06_lr_batch_epochs.py
"""

import math

import convolab  # first: it sets TensorFlow's CPU options before Keras loads it
import keras
from _budget import output_dir, pick
from convolab.schedules import make_schedule
from convolab.tune.lr_find import lr_find
from convolab.tune.space import parse_space
from convolab.tune.study import TuneOptions, tune

out = output_dir("06_lr_batch_epochs")

# --- 1. The schedulers: learning rate at the start of some epochs (20 epochs of 100 steps)
STEPS, EPOCHS, LR = 100, 20, 0.003
shown = [0, 5, 9, 10, 15, 19]
print(f"{'epoch':<12}" + "".join(f"{e:>9}" for e in shown))  # epochs counted from 0
for name in ("constant", "step-exp", "cosine", "one-cycle"):
    schedule = make_schedule(name, LR, STEPS, EPOCHS)
    rates = [schedule if isinstance(schedule, float) else
             float(keras.ops.convert_to_numpy(schedule(e * STEPS))) for e in shown]
    print(f"{name:<12}" + "".join(f"{r:>9.2g}" for r in rates))
# The unit's scheduler (Keras's LearningRateScheduler example): epochs 0-9 at lr, then
# x exp(-0.1) per epoch, so epoch 10 (the 11th) runs at lr * exp(-0.1).
unit = make_schedule("step-exp", LR, STEPS, EPOCHS)
at_9, at_10 = (float(keras.ops.convert_to_numpy(unit(e * STEPS))) for e in (9, 10))
assert (math.isclose(at_9, LR, rel_tol=1e-6)
        and math.isclose(at_10, LR * math.exp(-0.1), rel_tol=1e-6)), (
    f"the unit's scheduler should give {LR} at epoch 9 and lr * exp(-0.1) at epoch 10, "
    f"got {at_9} and {at_10}")

# --- 2. The learning-rate range test -----------------------------------------------------
base = {"data": {"name": "mnist", "train_samples": pick(full=5_000, tiny=300)},
        "model": {"name": "seed-cnn"}}
sweep = lr_find(base, steps=pick(full=None, tiny=20), out_dir=out / "lr-find")
suggested = sweep["recommended"]["lr"]
print("suggestions: " + ", ".join(f"{k} {v:.2g}" for k, v in sweep["suggestions"].items())
      + f"; the curve: {sweep['files']['png']}")

# --- 3. A small study ----------------------------------------------------------------------
config = convolab.resolve_config(overrides=base)
space = parse_space({
    "train.lr": {"log": [suggested / 3, suggested * 3]},   # around the suggestion
    "train.lr_schedule": ["constant", "step-exp", "cosine", "one-cycle"],
    "train.batch_size": [32, 64, 128],
    "train.epochs": {"int": pick(full=[1, 4], tiny=[1, 2])},
}, config)
options = TuneOptions(study_dir=str(out / "study"), trials=pick(full=10, tiny=2),
                      sampler="tpe", pruner="median")
summary = tune(config, space, options)
best = summary["best"]
print(f"\nbest trial {best['number']}: validation accuracy {best['value']:.2%} with "
      + ", ".join(f"{k.split('.')[1]} {v:.3g}" if isinstance(v, float) else
                  f"{k.split('.')[1]} {v}" for k, v in best["params"].items()))
test_accuracy = best["test"]["test_accuracy"]
print(f"its test accuracy, measured once: {test_accuracy:.2%}; the study: "
      f"{options.study_dir}/study.md")

# --- 4. The result -------------------------------------------------------------------------
assert 1e-5 < suggested < 1, f"the suggested learning rate {suggested} is out of all reason"
least = pick(full=0.95, tiny=0.15)
assert test_accuracy >= least, f"best trial's test accuracy {test_accuracy:.2%} < {least:.0%}"
