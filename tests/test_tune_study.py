"""`convolab tune` on real MNIST (a few hundred images): the study folder, continuing a
study, refusing another one, failed and lost trials, kill -9 of two workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from cli_helpers import assert_user_error, run_cli
from convolab.config import resolve_config
from convolab.errors import ConvolabError
from convolab.run import Run
from convolab.tune.space import parse_space
from convolab.tune.storage import worker_id
from convolab.tune.study import TuneOptions, load_study, trial_base, tune

TINY = {"data": {"train_samples": 400, "validation_split": 0.25},
        "train": {"epochs": 2, "batch_size": 64}}
SPACE = {"train.lr": {"log": [1e-3, 2e-2]}, "train.batch_size": [32, 64]}


def quiet(*args, **kwargs):
    pass


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = resolve_config(overrides=TINY)
    options = TuneOptions(study_dir=str(tmp_path_factory.mktemp("tune") / "study"), trials=3,
                          pruner="none")
    summary = tune(base, parse_space(SPACE, base), options, say=quiet)
    return base, options, summary


def test_study_folder_holds_trials_results_and_the_best_config(study):
    base, options, summary = study
    folder = Path(options.study_dir)
    assert {p.name for p in folder.iterdir()} >= {"study.journal", "study.json", "study.md",
                                                 "report.html", "plots", "trials", "best"}
    assert json.loads((folder / "study.json").read_text()) == summary
    rows = summary["trials"]
    assert [r["number"] for r in rows] == [0, 1, 2]
    assert all(r["state"] == "complete" and r["epochs"] == 2 for r in rows)
    best = max(rows, key=lambda r: r["value"])
    assert summary["best"]["number"] == best["number"]
    for row in rows:  # each trial is an ordinary run directory, scored on validation only
        run = Run.load(row["run_dir"])
        assert run.config.train.lr == pytest.approx(row["params"]["train.lr"])
        assert run.metrics["evaluated_on"] == "validation"
        assert "test_accuracy" not in run.metrics
        assert run.metrics["val_accuracy"] == pytest.approx(row["value"], abs=0.02)
        assert (Path(row["run_dir"]) / "report.html").is_file()
    assert {p.name for p in (folder / "plots").iterdir()} >= {
        "optimization_history.png", "parallel_coordinate.png", "param_importances.png"}
    table = (folder / "study.md").read_text()
    assert "| trial | state | val_accuracy | train.lr | train.batch_size |" in table
    assert table.count("| complete |") == 3


def test_best_config_trains_as_it_is_and_test_is_scored_once(study):
    base, options, summary = study
    best = summary["best"]
    config = resolve_config(file=best["config"])
    assert config.train.lr == pytest.approx(best["params"]["train.lr"])
    assert config.train.batch_size == best["params"]["train.batch_size"]
    assert config.out is None and config.data.train_samples == 400
    test = best["test"]
    assert test["trial"] == best["number"] and 0.5 < test["test_accuracy"] <= 1.0
    kept = Path(options.study_dir) / "best" / "test_metrics.json"
    before = kept.stat().st_mtime_ns
    again = tune(base, parse_space(SPACE, base), options, say=quiet)  # nothing left to run
    assert len(again["trials"]) == 3 and kept.stat().st_mtime_ns == before


def test_the_same_command_continues_and_more_trials_extend_it(study):
    base, options, _ = study
    more = TuneOptions(**{**options.__dict__, "trials": 4})
    summary = tune(base, parse_space(SPACE, base), more, say=quiet)
    assert [r["number"] for r in summary["trials"]] == [0, 1, 2, 3]
    assert summary["trials_counted"] == 4


@pytest.mark.parametrize("change, words", [
    ({"space": {**SPACE, "train.lr": {"log": [1e-4, 1e-2]}}}, ["another space", "train.lr"]),
    ({"base": {"data": {"name": "fashion_mnist"}}}, ["another dataset", "mnist"]),
    ({"base": {"model": {"dropout": 0.3}}}, ["another base", "model.dropout"]),
])
def test_a_study_made_otherwise_is_refused(study, change, words):
    base, options, _ = study
    other = resolve_config(overrides={**TINY, **change.get("base", {})})
    space = parse_space(change.get("space", SPACE), other)
    with pytest.raises(ConvolabError) as info:
        tune(other, space, options, say=quiet)
    for word in words:
        assert word in str(info.value)


def test_an_invalid_trial_config_fails_with_its_reason_and_the_study_goes_on(tmp_path):
    base = resolve_config(overrides={**TINY, "model": {"batchnorm": True}})
    space = parse_space({"model.backbone": [None, "mobilenet_v2"]}, base)
    options = TuneOptions(study_dir=str(tmp_path / "s"), trials=2, sampler="grid",
                          pruner="none")
    summary = tune(base, space, options, say=quiet)
    by_backbone = {r["params"]["model.backbone"]: r for r in summary["trials"]}
    assert by_backbone["mobilenet_v2"]["state"] == "fail"
    assert "batchnorm" in by_backbone["mobilenet_v2"]["error"]
    assert by_backbone[None]["state"] == "complete"
    assert summary["best"]["number"] == by_backbone[None]["number"]


def study_with_a_lost_trial(folder, trials):
    """(base, space, options) of a study whose trial 0 runs in a process that is gone."""
    base = resolve_config(overrides=TINY)
    space = parse_space(SPACE, base)
    options = TuneOptions(study_dir=str(folder), trials=trials, pruner="none")
    folder.mkdir()
    trial = load_study(options, trial_base(base, "val_accuracy"), space).ask()
    space.suggest(trial)
    this_machine = worker_id().rpartition(":")[0]
    trial.set_user_attr("worker", f"{this_machine}:{2**22 + 7}")  # no such process
    return base, space, options


def test_a_trial_whose_worker_died_runs_again_and_counts_once(tmp_path):
    base, space, options = study_with_a_lost_trial(tmp_path / "s", trials=2)
    summary = tune(base, space, options, say=quiet)
    rows = {r["number"]: r for r in summary["trials"]}
    assert rows[0]["state"] == "fail" and rows[0]["retried_as"] == 1  # queued at once
    assert rows[1]["retry_of"] == 0 and rows[1]["params"] == rows[0]["params"]
    assert sorted(r["state"] for r in summary["trials"]) == ["complete", "complete", "fail"]
    assert summary["trials_counted"] == 2


def _history_rows(folder: Path) -> int:
    return sum(max(0, len(p.read_text().splitlines()) - 1)
               for p in folder.glob("trials/*.partial/history.csv"))


def test_kill_9_of_two_workers_loses_only_running_epochs(tmp_path):
    """The whole tune (parent and both workers) is killed with SIGKILL after the first
    epoch of a trial; the same command then finishes the study, the lost trials resumed
    from their run directories, and no trial is counted twice."""
    space = tmp_path / "space.yaml"
    space.write_text("train.lr: {log: [1e-3, 1e-2]}\n")
    study = tmp_path / "study"
    command = [sys.executable, "-m", "convolab", "tune", "--train-samples", "400",
               "--validation-split", "0.25", "--epochs", "4", "--batch-size", "32",
               "--space", str(space), "--trials", "3", "--workers", "2", "--pruner", "none",
               "--study", str(study)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=tmp_path)
    deadline = time.time() + 240
    while _history_rows(study) < 1:
        assert first.poll() is None, first.stdout.read().decode()
        assert time.time() < deadline, "no trial finished an epoch in 240 s"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(study / "study.journal")))
    before = optuna.load_study(study_name="convolab", storage=journal).trials
    assert any(t.state == optuna.trial.TrialState.RUNNING for t in before)

    second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    assert "lost their worker" in second.stdout
    summary = json.loads((study / "study.json").read_text())
    counted = [r for r in summary["trials"] if "retried_as" not in r]
    assert len(counted) == 3 and all(r["state"] == "complete" for r in counted)
    assert len({r["run_dir"] for r in counted}) == 3
    assert all(r["epochs"] == 4 for r in counted)
    resumed = [r for r in counted if "retry_of" in r]
    assert resumed, summary["trials"]
    for row in resumed:  # resumed from the killed trial's run directory, not from zero
        lost = next(r for r in summary["trials"] if r["number"] == row["retry_of"])
        assert lost["state"] == "fail" and lost["run_dir"] == row["run_dir"]
        assert len(Run.load(row["run_dir"]).history()) == 4


@pytest.mark.parametrize("argv, words", [
    (["--workers", "0"], ["--workers must be at least 1"]),
    (["--trials", "0"], ["--trials must be at least 1"]),
    (["--sampler", "tpee"], ["--sampler 'tpee'", "did you mean 'tpe'"]),
    (["--monitor", "loss"], ["--monitor 'loss'", "val_accuracy"]),
    (["--timeout", "-5"], ["--timeout"]),
    (["--storage", "http://example.org/db"], ["not a database URL"]),
    (["--storage", "sqlite:///x.db", "--workers", "2"], ["database is locked"]),
    (["--storage", "postgresql://user:secret@127.0.0.1:9/db"], ["cannot be reached",
                                                               "user:***@127.0.0.1"]),
    (["--validation-split", "0", "--monitor", "val_accuracy"], ["validation"]),
    (["--space", "missing.yaml"], ["missing.yaml does not exist"]),
    (["--sampler", "grid"], ["grid search needs a list"]),
    (["--out", "x"], ["drop --out", "--study"]),
])
def test_bad_tune_input_is_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch, argv,
                                                       words):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    code, out, err = run_cli(capsys, "tune", "--study", "s", *argv)
    assert_user_error(code, err, *words)
    assert "secret" not in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "studies").exists()
    assert time.perf_counter() - started < 10


def test_a_trial_lost_at_the_very_end_still_runs_again(tmp_path):
    base, space, options = study_with_a_lost_trial(tmp_path / "s", trials=1)
    summary = tune(base, space, options, say=quiet)
    assert [(r["number"], r["state"]) for r in summary["trials"]] == [(0, "fail"),
                                                                       (1, "complete")]
    assert summary["trials_counted"] == 1 and summary["best"]["number"] == 1


def test_a_study_folder_keeps_its_storage(study):
    base, options, _ = study
    other = TuneOptions(**{**options.__dict__, "storage": "sqlite:///elsewhere.db"})
    with pytest.raises(ConvolabError, match="trials in journal; leave out --storage"):
        tune(base, parse_space(SPACE, base), other, say=quiet)


def test_the_pruning_callback_stops_a_trial_another_worker_took():
    import keras
    from optuna.exceptions import UpdateFinishedTrialError

    from convolab.tune.pruning import PruningCallback

    class Taken:
        def report(self, value, step):
            raise UpdateFinishedTrialError("finished elsewhere")

    callback = PruningCallback(Taken(), "val_accuracy")
    callback.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    assert callback.lost and callback.model.stop_training and not callback.pruned


_ORPHAN_CHILD = """
import os, sys, time
from convolab.tune.storage import Heartbeat

class Trial:  # a running trial's bookkeeping, without a storage
    def set_user_attr(self, key, value):
        pass

Heartbeat(Trial(), interval=0.1, on_orphan=lambda: os._exit(3))
print(os.getpid(), flush=True)
time.sleep(60)
"""

_ORPHAN_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=sys.stdout)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited too
        return stat.read().split(") ")[-1][0] != "Z"


def test_a_worker_whose_tune_was_killed_exits_at_its_next_heartbeat():
    """kill -9 of `convolab tune` alone (not its process group) leaves its workers with a
    new parent; each one's heartbeat sees that and ends the worker."""
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT, _ORPHAN_CHILD],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        worker = int(parent.stdout.readline())
        time.sleep(0.3)
        assert _alive(worker), "the worker ended while its parent was alive"
        parent.kill()
        parent.wait()
        deadline = time.time() + 5
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its killed parent by 5 s"
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
