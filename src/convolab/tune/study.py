"""`tune`: run an Optuna study over config fields, each trial an ordinary run directory.

A study folder holds the study (its journal file, unless it lives in a database), one run
directory per trial under `trials/`, and what `results.write_results` makes of them. The
same call continues a study: finished trials count, trials whose worker died are run again
from where their run directory stopped, and a study made with another space, dataset or
base config is refused.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import Config, config_from_dict
from ..errors import ConvolabError
from . import storage as st
from .space import SearchSpace, apply_params, format_value, parse_space

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "hyperband", "none")
MONITORS = ("val_accuracy", "val_loss")
TRIALS_DIR = "trials"
#: The study attribute that records what a study searches and on what.
META_ATTR = "convolab"
#: Marks a trial asked beyond --trials by workers racing for the last one (not counted).
SURPLUS_ATTR = "surplus"
#: Marks a study whose grid points are queued, and each of those trials.
GRID_ATTR = "grid"
ERROR_ATTR, EPOCHS_ATTR, SECONDS_ATTR = "error", "epochs", "train_seconds"


@dataclass
class TuneOptions:
    """How to run a study (the `convolab tune` flags)."""

    study_dir: str  # the study folder
    trials: int = 20  # trials the study should have in all (finished or running)
    timeout: float | None = None  # seconds after which no new trial starts
    storage: str | None = None  # a database URL; None = the journal file in study_dir
    workers: int = 1  # worker processes on this machine
    sampler: str = "tpe"  # tpe, random or grid
    pruner: str = "median"  # median, halving, hyperband or none
    monitor: str = "val_accuracy"  # the objective, a validation metric
    grace: float = st.DEFAULT_GRACE_SECONDS  # a silent trial is dead after this many seconds
    lang: str = "en"  # the language of the study's and the trials' report.html

    def check(self) -> None:
        """Raise a ConvolabError for an option no study can run with."""
        if self.trials < 1:
            raise ConvolabError(f"--trials must be at least 1, got {self.trials}")
        if self.workers < 1:
            raise ConvolabError(f"--workers must be at least 1, got {self.workers}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConvolabError(f"--timeout is in seconds and must be positive, "
                                f"got {self.timeout}")
        for flag, value, choices in (("--sampler", self.sampler, SAMPLERS),
                                     ("--pruner", self.pruner, PRUNERS),
                                     ("--monitor", self.monitor, MONITORS)):
            if value not in choices:
                from ..errors import did_you_mean

                raise ConvolabError(f"{flag} {value!r} is not one of {', '.join(choices)}"
                                    f"{did_you_mean(value, choices)}")
        if not self.grace >= 3 * st.HEARTBEAT_SECONDS:
            raise ConvolabError(f"--grace must be at least {3 * st.HEARTBEAT_SECONDS:g} s (three "
                                f"heartbeats), got {self.grace}")
        if self.storage is not None:
            st.check_storage_url(self.storage, self.workers)
        from ..i18n import check_language

        check_language(self.lang)


def default_study_dir(base: Config) -> Path:
    """studies/<model>-<dataset>: the same command finds the same study again."""
    from ..training import model_label

    dataset = base.data.name.replace(":", "-").replace("/", "_").replace("\\", "_")
    return Path("studies") / f"{model_label(base)}-{dataset[:40]}"


def trial_base(base: Config, monitor: str) -> Config:
    """The config every trial starts from: `base`, its best epoch picked by `monitor`."""
    data = base.to_dict()
    data["out"] = None
    data["train"]["monitor"] = monitor
    config = config_from_dict(data)
    if config.data.validation_split <= 0:
        raise ConvolabError("tuning scores trials on a validation split, and "
                            "data.validation_split is 0; set it, e.g. --validation-split 0.1")
    return config


def _meta(base: Config, space: SearchSpace, monitor: str) -> dict:
    return {"space": space.as_dict(), "base": base.to_dict(), "monitor": monitor,
            "dataset": base.data.name}


def _first_difference(old: dict, new: dict, prefix: str = "") -> str | None:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key} {a!r} there, {b!r} here"
    return None


def check_same_study(study, meta: dict, study_dir: Path) -> None:
    """Refuse to add trials to a study made with another space, dataset or base config."""
    old = study.user_attrs.get(META_ATTR)
    if old is None:
        study.set_user_attr(META_ATTR, meta)
        return
    for what in ("dataset", "monitor", "space", "base"):
        if old.get(what) != meta[what]:
            detail = (_first_difference(old[what], meta[what])
                      if isinstance(meta[what], dict) and isinstance(old.get(what), dict)
                      else f"{old.get(what)!r} there, {meta[what]!r} here")
            raise ConvolabError(f"study {study_dir} was made with another {what} ({detail}); "
                                f"its trials are not mixed with these: use another --study "
                                f"or the study's own settings")


def _study_name(study_dir: Path, url: str | None) -> str:
    return "convolab" if url is None else study_dir.resolve().name


def _sampler(options: TuneOptions, seed: int):
    import optuna

    if options.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if options.sampler == "grid":  # the grid is queued as trials (see `queue_grid`)
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(options: TuneOptions, epochs: int):
    import optuna

    if options.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    if options.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if options.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, epochs))
    return optuna.pruners.NopPruner()


def max_epochs(base: Config, space: SearchSpace) -> int:
    """The most epochs a trial of this study can run."""
    for p in space.params:
        if p.field == "train.epochs":
            return int(max(p.choices) if p.kind == "choice" else p.high)
    return base.train.epochs


def load_study(options: TuneOptions, base: Config, space: SearchSpace, seed_offset: int = 0):
    """The Optuna study of `options.study_dir`, created if new, checked if not."""
    import optuna

    study_dir = Path(options.study_dir)
    storage = st.open_storage(study_dir, options.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if options.monitor.endswith("accuracy") else "minimize"
    name = _study_name(study_dir, options.storage)
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
        trials_so_far = len(existing.trials)
    except KeyError:
        trials_so_far = 0
    seed = base.seed * 1000 + seed_offset + 7919 * trials_so_far  # new draws on each resume
    study = optuna.create_study(
        study_name=name, storage=storage, direction=direction, load_if_exists=True,
        sampler=_sampler(options, seed), pruner=_pruner(options, max_epochs(base, space)))
    check_same_study(study, _meta(base, space, options.monitor), study_dir)
    if options.sampler == "grid" and GRID_ATTR not in study.user_attrs:
        queue_grid(study, space, base.seed)
    return study


def grid_points(space: SearchSpace, seed: int) -> list[dict]:
    """Every combination of the grid's values, in a shuffled (seeded) order."""
    import itertools
    import random

    grid = space.grid()
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    random.Random(seed).shuffle(points)
    return points


def queue_grid(study, space: SearchSpace, seed: int) -> None:
    """Queue each grid point as a trial, once per study.

    Optuna's GridSampler stops the study from inside `optimize`, which the workers here do
    not use: queued trials are the same search, and resume and several workers need nothing
    more.
    """
    for point in grid_points(space, seed):
        study.enqueue_trial(point, user_attrs={GRID_ATTR: True})
    study.set_user_attr(GRID_ATTR, True)


def counted_trials(study) -> list:
    """The trials that count towards --trials: started ones and queued re-runs, not those
    re-run elsewhere, not surplus ones, not grid points still waiting their turn."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs[st.RETRY_OF_ATTR] for t in trials
               if st.RETRY_OF_ATTR in t.user_attrs}
    return [t for t in trials
            if t.number not in retried and not t.user_attrs.get(SURPLUS_ATTR)
            and (t.state != TrialState.WAITING or st.RETRY_OF_ATTR in t.user_attrs)]


def waiting_reruns(study) -> list:
    """Queued re-runs of trials whose worker was lost (they must run before a study ends)."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if st.RETRY_OF_ATTR in t.user_attrs]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return text if isinstance(exc, ConvolabError) else f"{type(exc).__name__}: {text}"


class Worker:
    """Runs trials of one study until it has enough, or time is up."""

    def __init__(self, options: TuneOptions, base: Config, space: SearchSpace, index: int = 0,
                 say=print, orphan_exit: bool = False):
        self.options, self.base, self.space = options, base, space
        self.index, self.say, self.orphan_exit = index, say, orphan_exit
        self.study = load_study(options, base, space, seed_offset=index)
        self.trials_dir = Path(options.study_dir) / TRIALS_DIR
        if not os.environ.get("CONVOLAB_VERBOSE"):
            # Each trial builds a new model: TensorFlow's "N calls triggered tf.function
            # retracing" warnings are expected here, not a problem.
            logging.getLogger("tensorflow").setLevel(logging.ERROR)

    def run(self, deadline: float | None = None) -> None:
        """Run trials until the study has --trials of them (re-runs included) or time is up."""
        try:
            while deadline is None or time.time() < deadline:
                st.requeue_stale_trials(self.study, self.options.grace)
                if (len(counted_trials(self.study)) >= self.options.trials
                        and not waiting_reruns(self.study)):
                    break
                trial = self.study.ask()
                ranked = [t.number for t in counted_trials(self.study)]
                if trial.number in ranked and ranked.index(trial.number) >= self.options.trials:
                    self._put_back(trial)  # over --trials: others took the last places
                    continue
                self.run_trial(trial)
        except (ConvolabError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the database or the journal file went away
            raise ConvolabError(f"the study's storage failed ({_one_line(exc)}); the trials "
                                f"so far are kept: run the same command again to continue")

    def _put_back(self, trial) -> None:
        """Leave a trial asked beyond --trials uncounted; a grid point goes back in the queue
        (it was only taken because a re-run waits behind it)."""
        from optuna.trial import TrialState

        trial.set_user_attr(SURPLUS_ATTR, True)
        self.study.tell(trial, state=TrialState.FAIL)
        if trial.user_attrs.get(GRID_ATTR):
            self.study.enqueue_trial(trial.params, user_attrs={GRID_ATTR: True})

    def run_trial(self, trial) -> None:
        """Train one trial and tell the study how it ended."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        run_dir = Path(trial.user_attrs.get(st.RUN_DIR_ATTR)
                       or (self.trials_dir / f"trial-{trial.number:04d}").resolve())
        trial.set_user_attr(st.RUN_DIR_ATTR, str(run_dir))
        heartbeat = st.Heartbeat(trial, on_orphan=(lambda: os._exit(3)) if self.orphan_exit
                                 else None)
        state, value, error, started = TrialState.FAIL, None, None, time.time()
        try:
            params = self.space.suggest(trial)
            state, value = self._train(trial, params, run_dir)
        except KeyboardInterrupt:
            heartbeat.close()
            st.fail_and_requeue(self.study, self.study._storage.get_trial(trial._trial_id))
            raise
        except Exception as exc:  # the trial fails with its reason; the study goes on
            error = _one_line(exc)
            with contextlib.suppress(UpdateFinishedTrialError):
                trial.set_user_attr(ERROR_ATTR, error)
        finally:
            heartbeat.close()
            _free_models()
        # skip_if_finished: another worker took this trial for lost (and queued it again)
        if state == TrialState.COMPLETE:
            self.study.tell(trial, value, skip_if_finished=True)
        else:
            self.study.tell(trial, state=state, skip_if_finished=True)
        self._report(trial.number, state, value, trial.params, time.time() - started, error)

    def _train(self, trial, params: dict, run_dir: Path):
        """(state, value) of a trial trained (or resumed, or found finished) in `run_dir`."""
        from optuna.trial import TrialState

        from ..run import Run, partial_dir
        from ..training import train
        from .pruning import PruningCallback

        config = apply_params(self.base, params)
        config.out = str(run_dir)
        pruning = PruningCallback(trial, self.options.monitor)
        if (run_dir / "metrics.json").is_file():
            run = Run.load(run_dir)  # finished before its worker died
            if run.config.to_dict() != {**config.to_dict(), "out": run.config.out}:
                raise ConvolabError(f"{run_dir} holds a run with other settings than this "
                                    f"trial's; delete it (or use another --study)")
        elif partial_dir(run_dir).is_dir():
            self._report_history(trial, partial_dir(run_dir))
            run = train(resume=run_dir, verbose=0, extra_callbacks=[pruning],
                        holdout="validation", lang=self.options.lang)
        else:
            run = train(config, verbose=0, extra_callbacks=[pruning], holdout="validation",
                        lang=self.options.lang)
        rows = run.history()
        trial.set_user_attr(EPOCHS_ATTR, len(rows))
        trial.set_user_attr(SECONDS_ATTR, run.metrics.get("train_seconds"))
        if pruning.lost:
            raise ConvolabError("another worker took this trial for lost and runs it again")
        best = rows[run.metrics["best_epoch"] - 1][self.options.monitor]
        if pruning.pruned or not math.isfinite(best):
            return TrialState.PRUNED, None
        return TrialState.COMPLETE, float(best)

    def _report_history(self, trial, work_dir: Path) -> None:
        """Give a resumed trial's pruner the epochs its killed predecessor committed."""
        from ..callbacks import read_backup_state, read_history
        from ..run import BACKUP_DIR, HISTORY_FILE

        state = read_backup_state(work_dir / BACKUP_DIR) or {}
        committed = int(state.get("epochs_done", 0))
        for row in read_history(work_dir / HISTORY_FILE)[:committed]:
            value = row.get(self.options.monitor)
            if value is not None and math.isfinite(float(value)):
                trial.report(float(value), int(row["epoch"]))

    def _report(self, number, state, value, params, seconds, error) -> None:
        who = f"worker {self.index + 1}: " if self.options.workers > 1 else ""
        result = (f"{self.options.monitor} {value:.4f}" if value is not None
                  else state.name.lower())
        params_text = ", ".join(f"{field.rpartition('.')[2]} {format_value(v)}"
                                for field, v in params.items())
        line = f"{who}trial {number} {result}  ({params_text})  {seconds:.1f} s"
        if error:
            line += f"  failed: {error}"
        self.say(line, flush=True)


def _free_models() -> None:
    """Drop the finished trial's models and graphs before the next one is built."""
    import gc
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


def _limit_threads(workers: int) -> None:
    """Split this machine's cores between `workers` processes (set before Keras loads)."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):  # OMP: oneDNN and torch
        os.environ[name] = threads
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"


def _worker_process(payload: dict) -> None:
    """Entry point of a worker process (`--workers K`)."""
    from .. import native_logs

    options = TuneOptions(**payload["options"])
    _limit_threads(options.workers)
    native_logs.quiet_import()
    base = config_from_dict(payload["base"])
    space = parse_space(payload["space"], base)
    try:
        Worker(options, base, space, payload["index"], say=_silent if payload["quiet"] else print,
               orphan_exit=True).run(payload["deadline"])
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # one line, and the parent sees the exit code
        print(f"convolab: error: worker {payload['index'] + 1}: {_one_line(exc)}",
              file=sys.stderr, flush=True)
        sys.exit(1)


def _silent(*args, **kwargs) -> None:
    pass


def tune(base: Config, space: SearchSpace, options: TuneOptions, say=print) -> dict:
    """Run (or continue) the study `options` describe and return its summary (study.json).

    Each trial trains `base` with the values `space` draws, in a run directory under
    `<study>/trials/`, scored on its validation split by `options.monitor`. With
    `options.workers` > 1 the trials run in that many processes on this machine; more
    machines join by running the same call with the same `options.storage`. `say`:
    a print-like function for progress, or None for none (in the workers too).
    """
    from .results import write_results

    quiet, say = say is None, say or _silent
    options.check()
    if options.sampler == "grid":  # refuses a continuous range now, before any folder
        points = len(grid_points(space, 0))
        if options.trials > points:
            say(f"the grid has {points} points: the study runs {points} trials, not "
                f"{options.trials}")
            options.trials = points
    base = trial_base(base, options.monitor)
    study_dir = Path(options.study_dir)
    st.check_same_storage(study_dir, options.storage)
    if options.storage is not None:
        st.open_storage(study_dir, options.storage)  # unreachable: say so before any folder
    study_dir.mkdir(parents=True, exist_ok=True)
    st.record_storage(study_dir, options.storage)
    study = load_study(options, base, space)
    requeued = st.requeue_stale_trials(study, options.grace)
    if requeued:
        say(f"trials {', '.join(map(str, requeued))} lost their worker; they run again "
            f"from their last finished epoch")
    deadline = time.time() + options.timeout if options.timeout else None
    have = len(counted_trials(study))
    say(f"study {study_dir}: {have} of {options.trials} trials so far; "
        f"{options.workers} worker{'s' if options.workers > 1 else ''}", flush=True)
    failed = 0
    if options.workers == 1:
        Worker(options, base, space, say=say).run(deadline)
    else:
        failed = _run_processes(options, base, space, deadline, quiet)
    summary = write_results(load_study(options, base, space), options, say=say)
    if failed:
        raise ConvolabError(f"{failed} of {options.workers} workers stopped with an error "
                            f"(above); the results so far are written: run the same command "
                            f"again to continue")
    return summary


def _run_processes(options: TuneOptions, base: Config, space: SearchSpace,
                   deadline: float | None, quiet: bool) -> int:
    """Run `options.workers` worker processes, wait for them all; how many failed."""
    context = multiprocessing.get_context("spawn")
    payload = {"options": asdict(options), "base": base.to_dict(), "space": space.as_dict(),
               "deadline": deadline, "quiet": quiet}
    processes = [context.Process(target=_worker_process, args=({**payload, "index": i},),
                                 name=f"convolab-tune-{i + 1}")
                 for i in range(options.workers)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.join(timeout=30)
        raise
    return sum(process.exitcode != 0 for process in processes)
