"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's `lr_find`).

A fresh copy of the model `train` would build takes shuffled training batches while its
learning rate grows exponentially, step by step, from `start_lr` to `end_lr`. The loss of
every step is recorded and smoothed (a moving average with beta 0.98, bias-corrected as
fastai does); the test stops once the smoothed loss passes 4x its minimum (the loss has
diverged) or a loss is NaN or infinite. Three learning rates are read off the smoothed
curve, as fastai's suggestion functions read them:

- valley: the longest valley of the curve (a longest strictly decreasing subsequence of
  the smoothed losses), and the point two thirds of the way down it. This is the one
  recommended, as fastai does. (fastai's own index arithmetic, the middle of the valley's
  middle third, lands half-way down; on MNIST that was at the top of the descent, 7 to 27
  times below the presets' tuned learning rates, and trained 0.5 to 1.6 points worse.)
- minimum/10: the learning rate at the smoothed minimum, divided by 10.
- steepest: where the smoothed loss falls fastest against log(lr).

As in fastai, the first tenth of the planned steps and the last 5 steps run are left out
of the suggestions (the start is noise, the end is the divergence itself).

Nothing is changed: the config is copied, no run directory is written; only
`lr_find.json` and `lr_find.png` go into the output folder.

    from convolab.config import resolve_config
    from convolab.tune.lr_find import lr_find

    result = lr_find(resolve_config(preset="fast"))
    result["recommended"]["lr"]  # e.g. 0.0052
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from .. import atomic
from ..config import Config
from ..errors import ConvolabError

#: The learning rates a sweep starts and ends at, by default (fastai's).
DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
#: The fewest steps a sweep may have: fewer leave nothing to read suggestions from.
MIN_STEPS = 10
#: The default number of steps is one epoch of training, kept within these bounds.
DEFAULT_STEPS_RANGE = (100, 300)
#: Weight of the past in the moving average of the loss (fastai's beta).
SMOOTHING = 0.98
#: The sweep stops once the smoothed loss exceeds this multiple of its minimum.
DIVERGENCE = 4.0
#: Steps left out at the end of the curve when suggesting (fastai's 5).
SKIP_END = 5
#: Where in the longest valley the valley suggestion lies, 0 its top and 1 its bottom
#: (fastai's index arithmetic lands half-way; see the module's docstring).
VALLEY_POSITION = 2 / 3
#: The suggestion recommended as the learning rate to train with.
RECOMMENDED = "valley"
JSON_FILE = "lr_find.json"
PNG_FILE = "lr_find.png"
#: Why a sweep ended, by the code recorded in lr_find.json.
STOP_REASONS = {
    "diverged": f"the smoothed loss passed {DIVERGENCE:g}x its minimum",
    "not-finite": "the loss became NaN or infinite",
    "steps": "every step ran",
}


def check_sweep(start_lr: float, end_lr: float, steps: int | None) -> None:
    """A ConvolabError naming the flag unless the sweep's range and length make sense."""
    for flag, value, example in (("--start-lr", start_lr, DEFAULT_START_LR),
                                 ("--end-lr", end_lr, DEFAULT_END_LR)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise ConvolabError(f"{flag} must be a positive learning rate, got {value!r}; "
                                f"e.g. {flag} {example:g}")
    if start_lr >= end_lr:
        raise ConvolabError(f"--start-lr ({start_lr:g}) must be below --end-lr ({end_lr:g}); "
                            f"the sweep raises the learning rate, e.g. from 1e-7 to 10")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < MIN_STEPS):
        raise ConvolabError(f"--steps must be a whole number of at least {MIN_STEPS}, got "
                            f"{steps!r}; use e.g. {DEFAULT_STEPS_RANGE[0]} to "
                            f"{DEFAULT_STEPS_RANGE[1]}")


def default_steps(train_images: int, batch_size: int) -> int:
    """One epoch of steps, at least 100 and at most 300."""
    low, high = DEFAULT_STEPS_RANGE
    return min(high, max(low, math.ceil(train_images / batch_size)))


def exponential_lrs(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """The learning rate of each of `steps` steps: start_lr first, end_lr last, the same
    factor between any two neighbours."""
    return start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))


def smooth_losses(losses, beta: float = SMOOTHING) -> np.ndarray:
    """The bias-corrected moving average of `losses`, as a sweep computes it step by step.

    Example:
        >>> smooth_losses([2.0, 2.0, 2.0]).round(9).tolist()  # not pulled towards 0
        [2.0, 2.0, 2.0]
    """
    out, average = [], 0.0
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * float(loss)
        out.append(average / (1 - beta ** step))
    return np.array(out)


def loss_of_batch(mean_after: float, images_after: int, mean_before: float,
                  images_before: int) -> float:
    """One batch's loss from Keras's running mean of the epoch before and after it.

    Keras logs the loss as the mean over the epoch so far, each batch weighted by its
    number of images; the batch's own loss is what its images added to that sum.
    """
    added = images_after - images_before
    return (mean_after * images_after - mean_before * images_before) / added


class RangeTest:
    """The sweep's bookkeeping, without Keras: the learning rate of each step, the losses
    seen, their smoothed values and when to stop.

    Args:
        start_lr: learning rate of the first step.
        end_lr: learning rate of the last step.
        steps: the most steps the sweep runs.
        beta: weight of the past in the smoothed loss. Defaults to 0.98.
        divergence: stop once the smoothed loss exceeds this multiple of its minimum.
            Defaults to 4.

    Example:
        >>> test = RangeTest(1e-3, 1e-1, steps=3)
        >>> round(test.lr_at(1), 9)
        0.01
        >>> [test.record(test.lr_at(i), loss) for i, loss in enumerate([2.0, 1.0, 0.5])]
        [None, None, 'steps']
    """

    def __init__(self, start_lr: float, end_lr: float, steps: int, beta: float = SMOOTHING,
                 divergence: float = DIVERGENCE):
        if not 0 < start_lr < end_lr:
            raise ValueError(f"start_lr and end_lr must satisfy 0 < start_lr < end_lr, "
                             f"received {start_lr} and {end_lr}")
        if steps < 2:
            raise ValueError(f"steps must be at least 2, received {steps}")
        self.start_lr, self.end_lr, self.steps = float(start_lr), float(end_lr), int(steps)
        self.beta, self.divergence = float(beta), float(divergence)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.best = math.inf
        self.stop_reason: str | None = None
        self._average = 0.0

    def lr_at(self, step: int) -> float:
        """The learning rate of step `step` (0-based)."""
        fraction = min(step, self.steps - 1) / (self.steps - 1)
        return self.start_lr * (self.end_lr / self.start_lr) ** fraction

    def record(self, lr: float, loss: float) -> str | None:
        """Note one step's learning rate and loss; the reason to stop (see STOP_REASONS),
        or None to go on."""
        self.lrs.append(float(lr))
        self.losses.append(float(loss))
        step = len(self.losses)
        self._average = self.beta * self._average + (1 - self.beta) * float(loss)
        smoothed = self._average / (1 - self.beta ** step)
        self.smoothed.append(smoothed)
        if not (math.isfinite(loss) and math.isfinite(smoothed)):
            self.stop_reason = "not-finite"
        else:
            self.best = min(self.best, smoothed)
            if smoothed > self.divergence * self.best:
                self.stop_reason = "diverged"
            elif step >= self.steps:
                self.stop_reason = "steps"
        return self.stop_reason


def valley_lr(lrs, losses) -> float:
    """fastai's `valley`: the learning rate two thirds down the longest valley of `losses`.

    The valley is a longest strictly decreasing subsequence of the losses, measured as the
    run of that many steps ending where it ends (fastai's reading); ties go to the one that
    ends first.
    """
    losses = np.asarray(losses, dtype=float)
    length = np.ones(len(losses), dtype=int)  # longest decreasing subsequence ending at i
    for i in range(1, len(losses)):
        higher = losses[:i] > losses[i]
        if higher.any():
            length[i] = length[:i][higher].max() + 1
    end = int(np.argmax(length))
    first = end - int(length[end]) + 1
    return float(lrs[first + int(VALLEY_POSITION * (length[end] - 1))])


def minimum_lr(lrs, losses) -> float:
    """fastai's `minimum`: the learning rate of the lowest loss, divided by 10."""
    return float(lrs[int(np.argmin(losses))]) / 10


def steepest_lr(lrs, losses) -> float:
    """fastai's `steep`: the learning rate where the loss falls fastest against log(lr)
    (the left end of the steepest step)."""
    slopes = np.diff(np.asarray(losses, dtype=float)) / np.diff(np.log(np.asarray(lrs)))
    return float(lrs[int(np.argmin(slopes))])


def suggestion_window(smoothed, planned_steps: int) -> tuple[int, int]:
    """(first, end) indices of the steps the suggestions read: the first tenth of the
    planned steps and the last SKIP_END steps left out, and everything from the first
    non-finite loss on."""
    smoothed = np.asarray(smoothed, dtype=float)
    bad = np.flatnonzero(~np.isfinite(smoothed))
    usable = int(bad[0]) if len(bad) else len(smoothed)
    return planned_steps // 10, min(usable, len(smoothed) - SKIP_END)


def suggest(lrs, smoothed, planned_steps: int) -> dict[str, float]:
    """{"valley", "minimum/10", "steepest"}: learning rates read off a sweep's smoothed
    losses (see `suggestion_window` for the steps they read)."""
    first, end = suggestion_window(smoothed, planned_steps)
    if end - first < 3:
        raise ConvolabError(f"the sweep ran {len(smoothed)} steps, too few to suggest a "
                            f"learning rate (the first {first} and last {SKIP_END} are left "
                            f"out); lower --start-lr or raise --steps")
    lrs = np.asarray(lrs, dtype=float)[first:end]
    losses = np.asarray(smoothed, dtype=float)[first:end]
    return {"valley": valley_lr(lrs, losses), "minimum/10": minimum_lr(lrs, losses),
            "steepest": steepest_lr(lrs, losses)}


def default_out_dir(config: Config) -> Path:
    """runs/lr-find-<model>-<dataset>-<time>."""
    from ..training import default_run_dir

    return Path("runs") / f"lr-find-{default_run_dir(config).name}"


def sweep_schedule(test: RangeTest):
    """`test`'s exponential learning rates as a Keras schedule of the optimizer's step, so
    that every backend applies them inside the compiled step (on JAX, a rate a callback
    assigns between steps of an epoch never reaches the step)."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(
        test.start_lr, decay_steps=test.steps - 1, decay_rate=test.end_lr / test.start_lr)


def _sweep_callback(test: RangeTest, batch_size: int, train_images: int):
    """A Keras callback that hands `test` each step's loss and learning rate (the one
    `sweep_schedule` gave that step) and stops `fit` when it says."""
    import keras

    class LRRangeTest(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.images, self.mean = 0, 0.0  # the epoch's running mean of the loss so far

        def on_train_batch_end(self, batch, logs=None):
            images = min(batch_size * (batch + 1), train_images)
            mean = float(logs["loss"])
            loss = loss_of_batch(mean, images, self.mean, self.images)
            self.images, self.mean = images, mean
            if test.record(test.lr_at(len(test.losses)), loss):
                self.model.stop_training = True

    return LRRangeTest()


@dataclasses.dataclass(frozen=True)
class _Target:
    """What the sweep trains and which learning rate of the config it stands for."""
    spec: dict
    phase: object | None  # the transfer phase (transfer.phases.Phase), None for a plain model
    pretrained: bool
    lr: float             # the config's learning rate for what is trained
    flag: str             # the flag that sets it


def _target(config: Config) -> _Target:
    """The spec and, for a transfer model, the phase that the sweep trains; checked without
    Keras. A transfer model sweeps its last phase: the whole model with the base unfrozen
    as phase 2 would (--unfreeze), or the head alone for a linear probe."""
    from ..models import read_spec
    from ..models.registry import is_transfer
    from ..training import transfer_spec

    spec = transfer_spec(config) if config.model.backbone else read_spec(config.model.name)
    if not is_transfer(spec):
        return _Target(spec, None, False, config.train.lr, "--lr")
    from ..transfer.model import check_spec, refuse_batchnorm
    from ..transfer.phases import plan

    pretrained = check_spec(spec)["weights"] is not None
    refuse_batchnorm(config.model.batchnorm)
    phase = plan(config)[-1]
    flag = "--lr" if phase.unfreeze == "none" else "--fine-tune-lr"
    return _Target(spec, phase, pretrained, phase.lr, flag)


def _build(config: Config, target: _Target, ds, test: RangeTest, steps_per_epoch: int):
    """The model `train` starts from, compiled for the sweep: the config's optimizer on
    `test`'s learning rates, its loss (label smoothing included), one step per call."""
    import keras

    from ..models import load_spec
    from ..training import (build_classifier, check_single_input, classification_loss,
                            make_optimizer)

    spec = target.spec if config.model.backbone else load_spec(config.model.name)
    keras.utils.set_random_seed(config.seed)
    model = build_classifier(config, spec, ds.input_shape, ds.num_classes)
    check_single_input(model, config)
    if target.phase is not None:
        from ..transfer.model import freeze_base, unfreeze

        if target.phase.unfreeze == "none":
            freeze_base(model)
        else:  # as phase 2 trains: a pretrained base keeps its BatchNormalization frozen
            unfreeze(model, target.phase.unfreeze, keep_batchnorm_frozen=target.pretrained)
    outputs = len(model.outputs)
    loss = classification_loss(config.train.label_smoothing)
    optimizer = make_optimizer(config.train, steps_per_epoch, learning_rate=sweep_schedule(test))
    model.compile(optimizer=optimizer,
                  loss=[loss] * outputs if outputs > 1 else loss, steps_per_execution=1)
    model.optimizer.build(model.trainable_variables)
    return model


def _labels(config: Config, ds, outputs: int):
    """The training labels as the loss takes them: one-hot with label smoothing."""
    from ..training import loss_targets

    y = loss_targets(ds.y_train, ds.num_classes, config.train.label_smoothing)
    return [y] * outputs if outputs > 1 else y


def _sweep(config: Config, target: _Target, ds, test: RangeTest) -> None:
    """Train a fresh model on shuffled batches until `test` says stop."""
    batch_size = config.train.batch_size
    steps_per_epoch = math.ceil(len(ds.x_train) / batch_size)
    model = _build(config, target, ds, test, steps_per_epoch)
    callback = _sweep_callback(test, batch_size, len(ds.x_train))
    model.fit(ds.x_train.astype("float32"), _labels(config, ds, len(model.outputs)),
              batch_size=batch_size, epochs=math.ceil(test.steps / steps_per_epoch),
              shuffle=True, callbacks=[callback], verbose=0)


def _finite_or_none(values) -> list:
    """`values` with NaN and infinities as None (JSON has no NaN)."""
    return [float(v) if math.isfinite(v) else None for v in values]


def summary_line(result: dict) -> str:
    """'suggested --lr 0.0021 (valley); minimum/10 0.0032, steepest 0.0009; the config
    has 0.003'."""
    rec, s = result["recommended"], result["suggestions"]
    others = ", ".join(f"{name} {lr:.2g}" for name, lr in s.items() if name != rec["method"])
    return (f"suggested {rec['flag']} {rec['lr']:.2g} ({rec['method']}); {others}; "
            f"the config has {result['config']['lr']:g}")


def plot_lr_find(result: dict, out_png: str | Path) -> Path:
    """Draw the sweep of `result` (smoothed loss against lr on a log axis, each step's loss
    faint, the suggestions and the config's lr marked) into `out_png`, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lrs, smoothed = np.array(result["lrs"]), np.array(result["smoothed_losses"], dtype=float)
    raw = np.array(result["losses"], dtype=float)
    finite = np.isfinite(smoothed)
    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(lrs, raw, color="tab:blue", alpha=0.25, lw=0.9, label="loss of each step")
    ax.plot(lrs, smoothed, color="tab:blue", lw=2.2, label="smoothed loss")
    ax.set_xscale("log")
    # The y-axis shows the curve up to the steps the suggestions read; the divergence
    # after them leaves the top of the plot.
    end = max(result["suggestion_steps"][1], 1)
    low, high = np.nanmin(np.minimum(raw[:end], smoothed[:end])), np.nanmax(smoothed[:end])
    margin = 0.08 * (high - low or 1.0)
    ax.set_ylim(max(0.0, low - margin), high + margin)
    colors = {"valley": "tab:green", "minimum/10": "tab:orange", "steepest": "tab:purple"}
    rec = result["recommended"]
    for name, lr in result["suggestions"].items():
        y = float(np.interp(np.log(lr), np.log(lrs[finite]), smoothed[finite]))
        chosen = " (suggested)" if name == rec["method"] else ""
        ax.axvline(lr, color=colors[name], lw=0.8, ls=":")
        ax.plot([lr], [y], "o", ms=10 if chosen else 8, color=colors[name], zorder=5,
                markeredgecolor="black", label=f"{name}: {lr:.2g}{chosen}")
    config = result["config"]
    ax.axvline(config["lr"], color="gray", ls="--", lw=1.2,
               label=f"the config's {rec['flag']}: {config['lr']:g}")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(f"LR range test: {config['model']} on {config['dataset']}, "
                 f"{config['optimizer']}, batch {config['batch_size']}\n"
                 f"{result['steps_run']} steps, stopped: {result['stopped_because']}",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="x", alpha=0.1)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    with atomic.atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(out_png)


def lr_find(config: Config | dict | None = None, *, start_lr: float = DEFAULT_START_LR,
            end_lr: float = DEFAULT_END_LR, steps: int | None = None,
            out_dir: str | Path | None = None, say=print) -> dict:
    """Run the learning-rate range test for `config` and write its json and plot.

    Args:
        config: a Config, a nested dict of overrides, or None for the defaults; not changed.
        start_lr: learning rate of the first step. Defaults to 1e-7.
        end_lr: learning rate of the last step. Defaults to 10.
        steps: the most steps to run. Defaults to one epoch, within 100 to 300.
        out_dir: the folder for lr_find.json and lr_find.png; it must not exist yet.
            Defaults to runs/lr-find-<model>-<dataset>-<time>.
        say: called with a line of progress at the start and the end; None for silence.

    Returns the content of lr_find.json (learning rates, losses, suggestions, the
    recommended learning rate, why the sweep stopped, ...) with `files`, the paths of the
    two files. Every input is checked before Keras is imported and the folder is created
    only once the sweep has given its suggestions.
    """
    from ..data import load_dataset
    from ..training import _as_config, model_label

    check_sweep(start_lr, end_lr, steps)
    config = _as_config(config)
    out = Path(out_dir) if out_dir else default_out_dir(config)
    if out.exists():
        raise ConvolabError(f"lr-find output folder {out} already exists; choose another "
                            f"--out or delete it")
    target = _target(config)
    d, t = config.data, config.train
    ds = load_dataset(d.name, validation_split=d.validation_split,
                      train_samples=d.train_samples, seed=config.seed,
                      source_dir=d.source_dir, image_size=d.image_size)
    steps = steps or default_steps(len(ds.x_train), t.batch_size)
    say = say or (lambda line: None)
    say(f"lr-find: {model_label(config)} on {ds.name}, {t.optimizer}, batch {t.batch_size}: "
        f"up to {steps} steps, learning rate {start_lr:.0e} to {end_lr:g}")
    started = time.perf_counter()
    test = RangeTest(start_lr, end_lr, steps)
    _sweep(config, target, ds, test)
    seconds = round(time.perf_counter() - started, 2)
    suggestions = suggest(test.lrs, test.smoothed, steps)
    reason = test.stop_reason or "steps"
    say(f"stopped after {len(test.losses)} steps at learning rate {test.lrs[-1]:.2g}: "
        f"{STOP_REASONS[reason]} ({seconds:.1f} s)")
    first, end = suggestion_window(test.smoothed, steps)
    result = {
        "lrs": test.lrs,
        "losses": _finite_or_none(test.losses),
        "smoothed_losses": _finite_or_none(test.smoothed),
        "suggestions": suggestions,
        "recommended": {"method": RECOMMENDED, "lr": suggestions[RECOMMENDED],
                        "flag": target.flag},
        "steps": steps,
        "steps_run": len(test.losses),
        "stop_reason": reason,
        "stopped_because": STOP_REASONS[reason],
        "start_lr": start_lr,
        "end_lr": end_lr,
        "smoothing": SMOOTHING,
        "divergence": DIVERGENCE,
        "suggestion_steps": [first, end],
        "config": {"model": model_label(config), "dataset": ds.name,
                   "optimizer": t.optimizer, "batch_size": t.batch_size,
                   "lr": target.lr, "lr_flag": target.flag, "lr_schedule": t.lr_schedule,
                   "label_smoothing": t.label_smoothing, "seed": config.seed,
                   "train_images": int(len(ds.x_train)),
                   "trained": ("the whole model" if target.phase is None else
                               "the head" if target.phase.unfreeze == "none" else
                               f"the head and the base (unfreeze {target.phase.unfreeze})")},
        "seconds": seconds,
    }
    with atomic.atomic_dir(out) as work:
        work.mkdir(parents=True)
        atomic.write_json(work / JSON_FILE, result)
        plot_lr_find(result, work / PNG_FILE)
    return {**result, "files": {"json": str(out / JSON_FILE), "png": str(out / PNG_FILE)}}
