"""Train a model from a config and write its run directory.

`train(config)` loads the data, builds the model, fits it with the project callbacks and
finishes the run directory (metrics, plots, report). The run is built in
`<out>.partial/` and renamed when complete; `train(resume=RUN_DIR)` continues a killed run
from its last finished epoch, optimizer state included.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

from . import atomic
from . import run as rundir
from .config import Config, config_from_dict, resolve_config
from .errors import ConvolabError
from .timing import Stopwatch


#: The image sets a finished run can be scored on (see `train`'s `holdout`).
HOLDOUTS = ("test", "validation")


def _as_config(config: Config | dict | None) -> Config:
    if config is None:
        return resolve_config()
    if isinstance(config, Config):
        return config_from_dict(config.to_dict())  # validate a copy
    if isinstance(config, dict):
        return config_from_dict(config)
    raise ConvolabError(f"config must be a Config, a dict or None, got {type(config).__name__}")


def model_label(config: Config) -> str:
    """The model's name: the backbone of a --backbone run, else the preset or spec file."""
    return config.model.backbone or Path(config.model.name).stem


def default_run_dir(config: Config) -> Path:
    """runs/<model>-<dataset>-<time> for a run without --out."""
    model = model_label(config)
    dataset = config.data.name.replace(":", "-").replace("/", "_").replace("\\", "_")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{model}-{dataset[:40]}-{stamp}"


def make_optimizer(cfg, steps_per_epoch: int, learning_rate=None):
    """The Keras optimizer named in `cfg` with its learning-rate schedule (or with
    `learning_rate`, a number or a keras LearningRateSchedule, when given)."""
    import keras

    from .schedules import make_schedule

    lr = learning_rate if learning_rate is not None else make_schedule(
        cfg.lr_schedule, cfg.lr, steps_per_epoch, cfg.epochs)
    # Weight averaging: the optimizer keeps an exponential moving average of the weights.
    ema = {"use_ema": cfg.ema is not None, "ema_momentum": cfg.ema or 0.99}
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=cfg.momentum, **ema)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **ema)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay, **ema)
    return keras.optimizers.RMSprop(learning_rate=lr, **ema)


def build_classifier(config: Config, spec: dict, input_shape, num_classes: int):
    """The model for `config` from its spec, augmentation layers in front when they are on."""
    from .augment import augmentation_layers
    from .models import create_model

    m = config.model
    return create_model(spec, input_shape=input_shape, num_classes=num_classes,
                        dropout=m.dropout, l1=m.l1, l2=m.l2, batchnorm=m.batchnorm, crop=m.crop,
                        preprocessing=augmentation_layers(config.augment, config.seed),
                        name=model_label(config) + ("_transfer" if m.backbone else ""))


def check_single_input(model, config: Config) -> None:
    """Refuse a model that does not take exactly one image input."""
    if len(model.inputs) != 1:
        raise ConvolabError(f"model {config.model.name} has {len(model.inputs)} inputs; "
                            f"training on an image dataset needs exactly one")


def classification_loss(label_smoothing: float):
    """Cross-entropy on integer labels, or on one-hot ones with label smoothing."""
    import keras

    if label_smoothing > 0:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def loss_targets(labels, num_classes: int, label_smoothing: float):
    """`labels` as `classification_loss` takes them: one-hot when smoothing."""
    import keras

    if label_smoothing > 0:
        return keras.utils.to_categorical(labels, num_classes)
    return labels


def _run_dirs(config: Config) -> tuple[Path, Path]:
    """(final_dir, work_dir) for a new run; refuses folders that already exist."""
    final_dir = Path(config.out) if config.out else default_run_dir(config)
    work_dir = rundir.partial_dir(final_dir)
    if final_dir.exists():
        raise ConvolabError(f"run directory {final_dir} already exists; choose another --out "
                            f"or delete it")
    if work_dir.exists():
        raise ConvolabError(f"an interrupted run is at {work_dir}; continue it with "
                            f"`convolab train --resume {final_dir}` or delete that folder")
    return final_dir, work_dir


def _start_run(config: Config, spec: dict, work_dir: Path) -> None:
    """Create `<out>.partial/` with config.yaml and the model spec it will train."""
    work_dir.mkdir(parents=True)
    atomic.write_text(work_dir / rundir.CONFIG_FILE,
                      yaml.safe_dump(config.to_dict(), sort_keys=False))
    atomic.write_text(work_dir / rundir.SPEC_FILE, yaml.safe_dump(spec, sort_keys=False))


def _locate_resume(resume: str | Path) -> tuple[Path, Path]:
    """(final_dir, work_dir) of an interrupted run named by its run or .partial folder."""
    path = Path(resume)
    if path.name.endswith(rundir.PARTIAL_SUFFIX):
        work_dir, final_dir = path, path.with_name(path.name[: -len(rundir.PARTIAL_SUFFIX)])
    else:
        work_dir, final_dir = rundir.partial_dir(path), path
    if not work_dir.is_dir():
        if final_dir.is_dir() and (final_dir / rundir.METRICS_FILE).is_file():
            raise ConvolabError(f"run {final_dir} is already complete; nothing to resume "
                                f"(start a new run to train longer)")
        raise ConvolabError(f"no interrupted run at {resume} (looked for {work_dir}); pass "
                            f"the --out folder of the run that was stopped")
    if not (work_dir / rundir.CONFIG_FILE).is_file():
        raise ConvolabError(f"{work_dir} has no {rundir.CONFIG_FILE}; it cannot be resumed, "
                            f"delete it and train again")
    return final_dir, work_dir


def _read_state(work_dir: Path) -> dict | None:
    from .callbacks import read_backup_state

    try:
        return read_backup_state(work_dir / rundir.BACKUP_DIR)
    except (OSError, ValueError, KeyError) as exc:
        raise ConvolabError(f"the backup of {work_dir} is damaged ({exc}); delete the folder "
                            f"and train again")


def transfer_spec(config: Config) -> dict:
    """The `type: transfer` spec that `--backbone NAME` stands for."""
    m = config.model
    spec = {"type": "transfer", "backbone": m.backbone, "weights": m.weights}
    if m.base_size is not None:
        spec["image_size"] = m.base_size
    if m.dropout is not None:
        spec["dropout"] = m.dropout
    return spec


def _progress_mode(verbose: int | str) -> int:
    """0 silent, 1 Keras's live bar, 2 one line per epoch; "auto": a bar on a terminal."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ConvolabError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def train(config: Config | dict | None = None, *, resume: str | Path | None = None,
          verbose: int | str = "auto", argv: list[str] | None = None,
          extra_callbacks: list | None = None, holdout: str = "test", lang: str = "en"):
    """Train the model described by `config` and return the finished `Run`.

    Args:
        config: a Config, a nested dict of overrides, or None for the defaults.
        resume: the run directory of an interrupted run to continue (config is then ignored).
        verbose: progress: "auto" (a live bar on a terminal, one line per epoch otherwise),
            0 (nothing), 1 (bar) or 2 (one line per epoch).
        argv: the command line to record in environment.json. Defaults to sys.argv.
        extra_callbacks: more Keras callbacks for `fit` (they run before the checkpoint).
            In a transfer run's frozen phase without augmentation, `fit` trains the head
            alone on cached features (`transfer.features`): there a callback's
            `self.model` is that head, whose input is the pooled features.
        holdout: the images the finished run is scored on: "test" (the default), or
            "validation" for a tuning trial, which must not see the test set; metrics.json
            then holds `val_accuracy` and `val_loss` and says `evaluated_on`.
        lang: the language of report.html: "en" (the default) or "es".

    Everything the user gave (config, paths, model name, dataset) is checked before Keras
    is imported, so a mistake is answered at once. `metrics.json` records where the
    seconds went (`timing`).
    """
    from .data import load_dataset
    from .models import read_spec
    from .models.registry import is_transfer
    from .transfer.phases import Phase, optimizer_config, phase_at, plan

    if holdout not in HOLDOUTS:
        raise ConvolabError(f"holdout must be one of {', '.join(HOLDOUTS)}, got {holdout!r}")
    from .i18n import check_language

    check_language(lang)
    watch = Stopwatch()
    progress = _progress_mode(verbose)
    if resume is not None:
        final_dir, work_dir = _locate_resume(resume)
        config = config_from_dict(yaml.safe_load((work_dir / rundir.CONFIG_FILE).read_text()))
        spec = yaml.safe_load((work_dir / rundir.SPEC_FILE).read_text())
    else:
        config = _as_config(config)
        final_dir, work_dir = _run_dirs(config)
        config.out = str(final_dir)
        spec = transfer_spec(config) if config.model.backbone else \
            read_spec(config.model.name)
    phases, pretrained = None, False
    if is_transfer(spec):
        from .transfer.model import check_spec, refuse_batchnorm

        pretrained = check_spec(spec)["weights"] is not None
        refuse_batchnorm(config.model.batchnorm)
        phases = plan(config)
    watch.lap("setup")
    d = config.data
    ds = load_dataset(d.name, validation_split=d.validation_split,
                      train_samples=d.train_samples, seed=config.seed,
                      source_dir=d.source_dir, image_size=d.image_size)
    watch.lap("data")

    import keras

    watch.lap("import")
    from .augment import warn_if_flip_wrong
    from .callbacks import (EpochLog, HistoryCSV, PhaseClock, ResumableEarlyStopping,
                            ResumableReduceLROnPlateau, RunCheckpoint, monitor_mode,
                            read_backup_state, read_history)
    from .distribute import DataParallel
    from .models import load_spec
    from .models.batchnorm_check import warn_if_batchnorm_stale

    if resume is not None:
        state = _read_state(work_dir)
    else:
        if not config.model.backbone:
            spec = load_spec(config.model.name)
        state = None
    with DataParallel(config.train.distribute) as parallel:
        keras.utils.set_random_seed(config.seed)
        warn_if_flip_wrong(config.augment, ds.name)
        model = build_classifier(config, spec, ds.input_shape, ds.num_classes)
        check_single_input(model, config)
        t = config.train
        parallel.check_batch(t.batch_size)
        n_outputs = len(model.outputs)

        def per_output(value):
            """Several outputs (auxiliary heads) each take the same loss, metric and labels."""
            return [value] * n_outputs if n_outputs > 1 else value

        if n_outputs > 1 and t.monitor.endswith("accuracy"):
            raise ConvolabError(f"model {config.model.name} has {n_outputs} outputs, so there is "
                                f"no single {t.monitor!r}; monitor val_loss or loss")
        steps_per_epoch = math.ceil(len(ds.x_train) / t.batch_size)
        if phases is None:
            warn_if_batchnorm_stale(model, steps_per_epoch * t.epochs)
        elif not pretrained:  # a base from scratch: its BatchNormalization learns in phase 2 only
            warn_if_batchnorm_stale(model, steps_per_epoch * sum(
                p.epochs for p in phases if p.unfreeze != "none"))
        loss = classification_loss(t.label_smoothing)
        y_train = loss_targets(ds.y_train, ds.num_classes, t.label_smoothing)
        y_val = loss_targets(ds.y_val, ds.num_classes, t.label_smoothing)
        # A plain run is one stage of every epoch; a transfer run has its phases (phases.py).
        stages = phases or [Phase(0, 0, t.epochs, t.lr, "none")]
        epochs_done = int(state["epochs_done"]) if state else 0
        start = phase_at(stages, epochs_done)

        def enter(stage: Phase) -> None:
            """Set what learns in `stage`, then compile with its optimizer."""
            if stage.number:
                from .transfer.model import freeze_base, unfreeze

                if stage.unfreeze == "none":
                    freeze_base(model)
                else:  # a pretrained base keeps its BatchNormalization statistics
                    unfreeze(model, stage.unfreeze, keep_batchnorm_frozen=pretrained)
            model.compile(optimizer=make_optimizer(optimizer_config(config, stage),
                                                   steps_per_epoch),
                          loss=per_output(loss), metrics=per_output(["accuracy"]),
                          steps_per_execution=t.steps_per_execution)
            # Create the optimizer's slots now, not inside the first traced training step: a
            # step that creates variables is traced twice (~0.4 s more for the first step).
            model.optimizer.build(model.trainable_variables)

        enter(stages[start])
        if resume is None:
            _start_run(config, spec, work_dir)  # only now: every check above has passed

        backup_dir = work_dir / rundir.BACKUP_DIR
        initial_epoch, seconds_before, previous_rows = 0, 0.0, []
        if state is not None:
            weights = backup_dir / state["weights"]
            try:
                model.load_weights(weights)
            except Exception as exc:
                reason = " ".join(str(exc).split())[:160]
                raise ConvolabError(f"{weights} cannot be read ({reason}); the backup is "
                                    f"damaged: delete {work_dir} and train again")
            initial_epoch = epochs_done
            seconds_before = float(state.get("train_seconds", 0.0))
            previous_rows = [r for r in read_history(work_dir / rundir.HISTORY_FILE)
                             if r["epoch"] < initial_epoch]
        state = state or {}

        clock = {}  # "start": when fit began; read by extra_state during fit
        resumable = {}  # state key -> callback whose counters must survive a resume
        if t.early_stopping is not None:
            resumable["early_stopping"] = ResumableEarlyStopping(
                monitor=t.monitor, patience=t.early_stopping, mode=monitor_mode(t.monitor),
                resume_state=state.get("early_stopping"))
        if t.lr_schedule == "plateau":
            resumable["plateau"] = ResumableReduceLROnPlateau(
                monitor=t.monitor, factor=0.2, patience=2, min_lr=t.lr / 1000,
                mode=monitor_mode(t.monitor), resume_state=state.get("plateau"))

        def extra_state() -> dict:
            extra = {key: cb.saved_state() for key, cb in resumable.items()}
            extra["train_seconds"] = seconds_before + time.perf_counter() - clock["start"]
            if clock.get("phase"):
                extra["phase"] = clock["phase"]
            return extra

        history = HistoryCSV(work_dir / rundir.HISTORY_FILE, previous_rows=previous_rows)
        callbacks = [history, *resumable.values()]
        if config.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(work_dir / "tensorboard")))
        ema_swap = None
        if t.ema is not None:
            # Validation and the saved best model use the averaged weights; training and the
            # resume weights keep the raw ones (the averages travel in the optimizer state).
            ema_swap = keras.callbacks.SwapEMAWeights()
            callbacks.append(ema_swap)
        callbacks.extend(extra_callbacks or [])
        phase_clock = PhaseClock()  # just before the checkpoint: its epoch_end is the commit
        callbacks.append(phase_clock)
        # Last, so that what it commits includes every other callback's effect on the epoch.
        checkpoint = RunCheckpoint(backup_dir, monitor=t.monitor, initial_state=state,
                                   extra_state=extra_state, ema_swap=ema_swap)
        callbacks.append(checkpoint)
        if progress == 2:
            callbacks.append(EpochLog(t.epochs))

        x_train = ds.x_train.astype("float32")
        validation = None
        if len(ds.x_val):
            validation = (ds.x_val.astype("float32"), per_output(y_val))
        feature_cache: dict = {}  # what the feature cache did, for metrics.json

        def caches_features(stage: Phase) -> bool:
            """A frozen phase without augmentation trains the head on cached base features."""
            return stage.unfreeze == "none" and not config.augment.enabled

        def head_fit(model, x_train, validation):
            """(head, train features, validation) for fitting the head alone (features.py)."""
            from .transfer.features import head_on_features

            say = print if progress else None
            x_val = validation[0] if validation else x_train[:0]
            head, f_train, f_val, info = head_on_features(model, x_train, x_val, say=say)
            feature_cache.update(info)
            head.compile(optimizer=model.optimizer, loss=per_output(loss),
                         metrics=per_output(["accuracy"]),
                         steps_per_execution=t.steps_per_execution)
            checkpoint.saved_model = model
            return head, f_train, (f_val, validation[1]) if validation else None

        watch.lap("build")
        clock["start"] = time.perf_counter()
        if initial_epoch < t.epochs and not state.get("stopped"):
            try:
                for index in range(start, len(stages)):
                    stage = stages[index]
                    if index > start:  # the next phase: the same callbacks carry on
                        if checkpoint.state.get("stopped"):
                            break
                        enter(stage)
                        history.previous_rows = history.rows
                        checkpoint.initial_state = checkpoint.state
                        for cb in resumable.values():
                            cb.resume_state = cb.saved_state()
                    if stage.number:
                        history.columns = {"phase": stage.number}
                        clock["phase"] = stage.number
                    fit_model, fit_x, fit_validation = model, x_train, validation
                    if stage.number and caches_features(stage):
                        fit_model, fit_x, fit_validation = head_fit(model, x_train, validation)
                    fit_model.fit(fit_x, per_output(y_train), batch_size=t.batch_size,
                                  epochs=stage.end_epoch,
                                  initial_epoch=max(initial_epoch, stage.first_epoch),
                                  validation_data=fit_validation, callbacks=callbacks,
                                  verbose=1 if progress == 1 else 0, shuffle=True)
            except Exception:
                if resume is None and read_backup_state(backup_dir) is None:
                    shutil.rmtree(work_dir, ignore_errors=True)  # no epoch finished: nothing kept
                raise
            state = checkpoint.state
    watch.lap("train")
    if "best_file" not in state:
        raise ConvolabError(f"{work_dir} has no finished epoch to resume from; delete the "
                            f"folder and train again")
    # A linear probe's base never changed: its test images go through the cache too.
    probe = phases is not None and all(caches_features(stage) for stage in stages)
    return finish_run(work_dir, final_dir, config, ds, state, argv,
                      watch=watch, training_phases=phase_clock.phases(),
                      feature_cache=feature_cache, probe=probe, holdout=holdout,
                      distributed=parallel.describe(), lang=lang,
                      say=print if progress else None)


def finish_run(work_dir: Path, final_dir: Path, config: Config, ds, state: dict, argv=None,
               *, watch: Stopwatch | None = None, training_phases: dict | None = None,
               feature_cache: dict | None = None, probe: bool = False, holdout: str = "test",
               distributed: dict | None = None, lang: str = "en", say=None):
    """Evaluate the best model on the test set, write metrics/plots/report, publish the run.

    `watch` holds the phases of the command so far and `training_phases` those of `fit`
    (see `callbacks.PhaseClock`); both go into metrics.json's `timing`. `feature_cache`:
    what the frozen-base feature cache did (`transfer.features`), for metrics.json; a
    linear `probe` sends its test images through the cache as well. `holdout`: "test", or
    "validation" to score the run on its validation split and never touch the test set.
    `distributed`: how training was split across devices (`distribute.DataParallel`).
    `lang`: the language of report.html (kept in metrics.json as `report_language`).
    """
    from .callbacks import read_history
    from .environment import describe_environment
    from .evaluate import compute_metrics
    from .report import plot_confusion_matrix, plot_learning_curves, plot_misclassified
    from .report import write_report

    watch = watch or Stopwatch()
    with atomic.atomic_path(work_dir / rundir.MODEL_FILE) as tmp:
        shutil.copyfile(work_dir / rundir.BACKUP_DIR / state["best_file"], tmp)
    run = rundir.Run(work_dir)
    if config.save_h5:
        with atomic.atomic_path(work_dir / rundir.H5_FILE) as tmp:
            run.model.save(tmp)
    feature_cache = dict(feature_cache or {})
    x_eval, y_eval = (ds.x_val, ds.y_val) if holdout == "validation" else (ds.x_test, ds.y_test)
    if not probe:
        probs = run.predict(x_eval)
    else:
        from .transfer.features import predict_from_features

        probs, feature_cache[holdout] = predict_from_features(run.model, x_eval, say=say)
    metrics = compute_metrics(y_eval, probs, ds.class_names)
    if holdout == "validation":
        metrics["val_accuracy"] = metrics.pop("test_accuracy")
        metrics["val_loss"] = metrics.pop("test_loss")
    metrics["evaluated_on"] = holdout
    rows = read_history(work_dir / rundir.HISTORY_FILE)
    metrics.update({
        "dataset": ds.name,
        "model": model_label(config),
        "class_names": list(ds.class_names),
        "train_seconds": round(float(state.get("train_seconds", 0.0)), 2),
        "epochs_run": len(rows),
        "best_epoch": int(state["best_epoch"]) + 1,
        "monitor": config.train.monitor,
        "early_stopped": bool(state.get("stopped")),
        "train_samples": int(len(ds.x_train)),
        "val_samples": int(len(ds.x_val)),
        "test_samples": int(len(ds.x_test)),
        "parameters": int(run.model.count_params()),
        "data_notes": list(ds.notes),
    })
    if feature_cache:
        metrics["feature_cache"] = feature_cache
    if distributed:
        metrics["distributed"] = distributed
    metrics["report_language"] = lang
    atomic.write_json(work_dir / rundir.ENVIRONMENT_FILE,
                      describe_environment(config.seed, argv))
    watch.lap("test")
    plots = work_dir / rundir.PLOTS_DIR
    plots.mkdir(exist_ok=True)
    if rows:
        plot_learning_curves(work_dir / rundir.HISTORY_FILE, plots / "learning_curves.png")
    plot_confusion_matrix(metrics["confusion_matrix"], ds.class_names,
                          plots / "confusion_matrix.png")
    plot_misclassified(x_eval, y_eval, probs.argmax(axis=1), probs, ds.class_names,
                       plots / "misclassified.png")
    watch.lap("plots")
    # The report reads metrics.json; the timing of the report itself is added after it.
    metrics["timing"] = {"training": dict(training_phases or {}), "command": watch.phases()}
    atomic.write_json(work_dir / rundir.METRICS_FILE, metrics)
    write_report(work_dir)
    watch.lap("report")
    metrics["timing"]["command"] = watch.phases()
    atomic.write_json(work_dir / rundir.METRICS_FILE, metrics)
    if final_dir.exists():
        raise ConvolabError(f"run directory {final_dir} appeared while training; the "
                            f"finished run is kept at {work_dir}")
    os.replace(work_dir, final_dir)
    # Only after the rename: a kill before it leaves a backup that --resume can finish from.
    shutil.rmtree(final_dir / rundir.BACKUP_DIR, ignore_errors=True)
    return rundir.Run.load(final_dir)
