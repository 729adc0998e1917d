"""Stop an unpromising trial early: report each epoch to Optuna and ask its pruner."""

from __future__ import annotations

import math

import keras


class PruningCallback(keras.callbacks.Callback):
    """After every epoch, report `monitor` to an Optuna trial; stop if the pruner says so.

    The run is stopped the way early stopping stops it (`model.stop_training`), so a pruned
    trial still ends as a complete run directory; `pruned` then says why it stopped.

    Args:
        trial: the `optuna.Trial` being trained.
        monitor: the logged metric to report, e.g. `"val_accuracy"`.

    Example:
        >>> cb = PruningCallback(trial, "val_accuracy")  # doctest: +SKIP
    """

    def __init__(self, trial, monitor: str):
        super().__init__()
        if not monitor:
            raise ValueError("PruningCallback needs the name of a logged metric, got "
                             f"{monitor!r}")
        self.trial = trial
        self.monitor = monitor
        self.pruned = False
        self.lost = False  # another worker took the trial for lost: stop, it runs elsewhere

    def on_train_begin(self, logs=None):
        self.pruned = False

    def on_epoch_end(self, epoch, logs=None):
        from optuna.exceptions import UpdateFinishedTrialError

        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"PruningCallback reports {self.monitor!r}, which is not in the "
                             f"logs; available: {sorted(logs or {})}")
        value = float(value)
        if math.isnan(value):  # a diverged trial: nothing to compare, stop it
            self.pruned = True
        else:
            try:
                self.trial.report(value, epoch)
                self.pruned = self.trial.should_prune()
            except UpdateFinishedTrialError:
                self.lost = True
        if self.pruned or self.lost:
            self.model.stop_training = True
