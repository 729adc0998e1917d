"""The learning-rate range test (`convolab lr-find`): its bookkeeping and suggestions on
synthetic loss curves (exact, no Keras), then real sweeps on a small MNIST subset: the
learning rates the optimizer used, the stop at 4x the smoothed minimum, suggestions that
train, the json and the plot, the command line and its bad inputs."""

import json
import math
import sys

import numpy as np
import pytest
from PIL import Image

from backends import BACKEND
from cli_helpers import assert_user_error, run_cli
from convolab.config import resolve_config
from convolab.errors import ConvolabError
from convolab.tune import lr_find as lf

SMALL = {"data": {"train_samples": 800}, "train": {"batch_size": 32}}
STEPS, START, END = 80, 1e-7, 10.0


# --- bookkeeping, without Keras -------------------------------------------------------

def test_learning_rates_grow_by_the_same_factor_from_start_to_end():
    test = lf.RangeTest(1e-6, 1.0, steps=61)
    lrs = np.array([test.lr_at(i) for i in range(61)])
    assert lrs[0] == pytest.approx(1e-6, rel=1e-12) and lrs[-1] == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10 ** 0.1, rtol=1e-12)  # 6 decades, 60 steps
    np.testing.assert_allclose(lf.exponential_lrs(1e-6, 1.0, 61), lrs, rtol=1e-12)


def test_smoothed_loss_is_the_bias_corrected_moving_average():
    losses = [2.3, 2.1, 2.2, 1.5, 1.0]
    test = lf.RangeTest(1e-5, 1.0, steps=50)
    for loss in losses:
        test.record(1e-3, loss)
    average, expected = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = 0.98 * average + 0.02 * loss
        expected.append(average / (1 - 0.98 ** i))
    np.testing.assert_allclose(test.smoothed, expected, rtol=1e-12)
    np.testing.assert_allclose(lf.smooth_losses(losses), expected, rtol=1e-12)
    assert test.smoothed[0] == pytest.approx(2.3)  # no pull towards the zero it starts at


def test_stops_at_the_first_step_whose_smoothed_loss_passes_4x_its_minimum():
    losses = np.concatenate([np.linspace(2.3, 0.2, 40), np.geomspace(0.2, 200, 40)])
    smoothed = lf.smooth_losses(losses)
    running_min = np.minimum.accumulate(smoothed)
    expected = int(np.flatnonzero(smoothed > 4 * running_min)[0])  # 0-based step
    test = lf.RangeTest(1e-7, 10, steps=len(losses))
    reasons = [test.record(1e-3, loss) for loss in losses[:expected + 1]]
    assert reasons[:-1] == [None] * expected and reasons[-1] == "diverged"
    assert 40 < expected < 79  # it did run past the minimum, and stopped before the end
    assert test.smoothed[-1] > 4 * min(test.smoothed)


def test_stops_on_a_nan_loss_and_after_the_last_step():
    test = lf.RangeTest(1e-7, 10, steps=20)
    assert [test.record(1e-3, x) for x in (2.3, 2.2, float("nan"))] == [None, None, "not-finite"]
    test = lf.RangeTest(1e-7, 10, steps=12)
    assert [test.record(1e-3, 2.3) for _ in range(12)][-2:] == [None, "steps"]


def test_batch_losses_come_back_from_keras_running_means():
    # Keras logs the epoch's mean loss so far, each batch weighted by its images.
    batch_losses, sizes = [2.3, 1.9, 2.05, 0.7], [32, 32, 32, 4]  # 100 images, batch 32
    seen, total, recovered, before = 0, 0.0, [], (0.0, 0)
    for loss, size in zip(batch_losses, sizes):
        seen, total = seen + size, total + loss * size
        mean = total / seen
        recovered.append(lf.loss_of_batch(mean, seen, *before))
        before = (mean, seen)
    np.testing.assert_allclose(recovered, batch_losses, rtol=1e-12)


# --- suggestions on synthetic curves (exact) --------------------------------------------

def test_valley_is_two_thirds_down_the_longest_decreasing_stretch():
    lrs = np.geomspace(1e-6, 1.0, 80)
    losses = np.concatenate([np.full(20, 2.3),               # 0-19: flat, no decrease
                             np.linspace(2.2, 0.5, 40),      # 20-59: the valley
                             np.linspace(0.6, 3.0, 20)])     # 60-79: divergence
    # The longest decreasing subsequence: one flat point (19), then 20..59: 41 points.
    assert lf.valley_lr(lrs, losses) == lrs[19 + 26]  # 2/3 of the 40 steps down


def test_valley_steps_over_a_bump_and_prefers_the_longer_valley():
    lrs = np.geomspace(1e-6, 1.0, 60)
    short = np.linspace(2.0, 1.5, 10)                        # 0-9: a valley of 10
    bump = np.linspace(2.5, 2.4, 5)                          # 10-14: back up
    long = np.linspace(2.3, 0.4, 40)                         # 15-54: a valley of 40 ...
    long[20] = 2.6                                           # ... with a spike inside
    losses = np.concatenate([short, bump, long, np.linspace(0.5, 4.0, 5)])
    # Longest: the 5 bump points, then the long valley without its spike: 44 points ending
    # at 54, so the valley is counted from 54 - 43 = 11.
    assert lf.valley_lr(lrs, losses) == lrs[11 + 28]  # 2/3 of its 43 steps down


def test_minimum_over_10_and_steepest():
    lrs = np.geomspace(1e-5, 1.0, 51)  # 10 steps a decade
    log_lr = np.log10(lrs)
    # Piecewise linear in log10(lr): slope -0.2 to 1e-3, -2.0 to 1e-2, -0.5 to 1e-1, then up.
    losses = np.interp(log_lr, [-5, -3, -2, -1, 0], [2.3, 1.9, -0.1, -0.6, 3.0])
    assert lf.minimum_lr(lrs, losses) == pytest.approx(lrs[40] / 10)   # minimum at 1e-1
    steep = lf.steepest_lr(lrs, losses)
    assert 1e-3 * 0.999 <= steep < 1e-2 and steep == lrs[int(np.argmin(np.diff(losses)))]


def test_suggestions_leave_out_the_start_the_last_steps_and_nans():
    lrs = np.geomspace(1e-7, 10, 100)
    smoothed = np.concatenate([np.linspace(2.3, 0.5, 90), [0.1, 0.1, 0.1, 0.1, 0.1]])
    smoothed[0:10] = 0.0  # lower than anything, but inside the first tenth
    first, end = lf.suggestion_window(smoothed, planned_steps=100)
    assert (first, end) == (10, 90)
    s = lf.suggest(lrs, smoothed, planned_steps=100)
    assert s["minimum/10"] == pytest.approx(lrs[89] / 10)  # not the 0.0s, not the 0.1s
    with_nan = smoothed.copy()
    with_nan[60:] = np.nan
    assert lf.suggestion_window(with_nan, planned_steps=100) == (10, 60)
    assert lf.suggest(lrs, with_nan, 100)["minimum/10"] == pytest.approx(lrs[59] / 10)
    with pytest.raises(ConvolabError, match="too few"):
        lf.suggest(lrs[:16], smoothed[:16], planned_steps=100)


@pytest.mark.parametrize("kwargs, words", [
    ({"steps": 0}, ["--steps", "0"]),
    ({"steps": 9}, ["--steps", "at least 10"]),
    ({"start_lr": 0.0}, ["--start-lr"]),
    ({"end_lr": -1.0}, ["--end-lr"]),
    ({"start_lr": 1.0, "end_lr": 0.1}, ["--start-lr", "below"]),
    ({"start_lr": 0.1, "end_lr": 0.1}, ["--start-lr", "below"]),
])
def test_check_sweep_names_the_flag(kwargs, words):
    args = {"start_lr": 1e-7, "end_lr": 10.0, "steps": None, **kwargs}
    with pytest.raises(ConvolabError) as info:
        lf.check_sweep(**args)
    for word in words:
        assert word in str(info.value)


def test_transfer_config_sweeps_the_phase_it_would_train_last():
    base = {"data": {"name": "digits"}, "model": {"backbone": "efficientnet_lite0",
                                                  "weights": "none", "base_size": 32}}
    probe = lf._target(resolve_config(overrides=base))
    assert (probe.flag, probe.lr, probe.phase.unfreeze) == ("--lr", 0.003, "none")
    fine = lf._target(resolve_config(overrides={**base, "train": {"epochs": 4},
                                                "transfer": {"unfreeze": "all"}}))
    assert (fine.flag, fine.lr, fine.phase.unfreeze) == ("--fine-tune-lr", 1e-4, "all")


# --- a real sweep on 800 MNIST images -----------------------------------------------

@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One sweep of seed-cnn from 1e-7 to 10 in 80 steps; the folder it ran in; the lines it
    said; the config before and after."""
    cwd = tmp_path_factory.mktemp("cwd")
    config = resolve_config(overrides=SMALL)
    before = config.to_dict()
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = lf.lr_find(config, start_lr=START, end_lr=END, steps=STEPS, out_dir="found",
                            say=lines.append)
    return {"result": result, "cwd": cwd, "lines": lines, "config": config, "before": before}


def test_the_optimizer_used_exponentially_growing_learning_rates(sweep):
    import keras

    lrs = np.array(sweep["result"]["lrs"])
    n = len(lrs)
    np.testing.assert_allclose(lrs, lf.exponential_lrs(START, END, STEPS)[:n], rtol=1e-6)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], (END / START) ** (1 / (STEPS - 1)), rtol=1e-5)
    # the schedule inside the optimizer's step gives each step the rate recorded for it
    test = lf.RangeTest(START, END, STEPS)
    schedule = lf.sweep_schedule(test)
    used = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(n)]
    np.testing.assert_allclose(used, lrs, rtol=1e-5)


def test_the_sweep_stops_once_the_smoothed_loss_passes_4x_its_minimum(sweep):
    r = sweep["result"]
    smoothed = np.array(r["smoothed_losses"], dtype=float)
    np.testing.assert_allclose(smoothed, lf.smooth_losses(r["losses"]), rtol=1e-9)
    assert abs(r["losses"][0] - math.log(10)) < 0.3  # a fresh 10-class softmax
    running_min = np.minimum.accumulate(smoothed)
    assert np.all(smoothed[:-1] <= 4 * running_min[:-1])  # not a step earlier
    if r["stop_reason"] == "steps":
        # JAX's cross-entropy saturates lower: its loss rises, yet stays under 4x by lr 10
        assert BACKEND != "tensorflow" and r["steps_run"] == STEPS
        assert smoothed[-1] > 1.5 * smoothed.min() and smoothed.min() < 0.9 * smoothed[0]
        return
    assert r["stop_reason"] == "diverged" and r["steps_run"] < STEPS == r["steps"]
    assert smoothed[-1] > 4 * running_min[-1]
    assert "stopped after" in sweep["lines"][-1] and "4x" in sweep["lines"][-1]


def test_suggestions_lie_in_the_range_below_the_minimum(sweep):
    r = sweep["result"]
    s = r["suggestions"]
    assert set(s) == {"valley", "minimum/10", "steepest"}
    assert all(START <= lr <= END for lr in s.values())
    first, end = r["suggestion_steps"]
    smoothed = np.array(r["smoothed_losses"][first:end])
    lr_at_min = r["lrs"][first + int(np.argmin(smoothed))]
    assert s["minimum/10"] == pytest.approx(lr_at_min / 10)
    assert s["valley"] < lr_at_min and s["steepest"] < lr_at_min
    assert r["recommended"] == {"method": "valley", "lr": s["valley"], "flag": "--lr"}


def test_the_suggested_learning_rate_trains(sweep):
    """A fresh seed-cnn trained 40 steps at the suggestion loses most of its loss; at the
    sweep's start learning rate it does not move."""
    import keras

    from convolab.data import load_dataset
    from convolab.models import create_model

    ds = load_dataset("mnist", validation_split=0.0, train_samples=800, seed=1)
    x, y = ds.x_train.astype("float32"), ds.y_train

    def loss_after(lr):
        keras.utils.set_random_seed(0)
        model = create_model("seed-cnn", input_shape=ds.input_shape, num_classes=10)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
        before = model.evaluate(x, y, verbose=0, batch_size=200)
        model.fit(x[:640], y[:640], batch_size=32, epochs=2, verbose=0)
        return before, model.evaluate(x, y, verbose=0, batch_size=200)

    before, after = loss_after(sweep["result"]["recommended"]["lr"])
    assert after < 0.6 * before, (before, after)
    before, after = loss_after(START)
    assert after > 0.95 * before, (before, after)


def test_the_json_and_the_plot(sweep):
    r = sweep["result"]
    out = sweep["cwd"] / "found"
    assert sorted(p.name for p in out.iterdir()) == ["lr_find.json", "lr_find.png"]
    assert r["files"] == {"json": str(out.relative_to(sweep["cwd"]) / "lr_find.json"),
                          "png": str(out.relative_to(sweep["cwd"]) / "lr_find.png")}
    saved = json.loads((out / "lr_find.json").read_text())
    assert saved == {k: v for k, v in r.items() if k != "files"}
    assert len(saved["lrs"]) == len(saved["losses"]) == saved["steps_run"]
    assert saved["config"] | {"train_images": 0} == {
        "model": "seed-cnn", "dataset": "mnist", "optimizer": "adam", "batch_size": 32,
        "lr": 0.003, "lr_flag": "--lr", "lr_schedule": "one-cycle", "label_smoothing": 0.0,
        "seed": 0, "train_images": 0, "trained": "the whole model"}
    assert saved["seconds"] > 0
    assert saved["stopped_because"] == lf.STOP_REASONS[saved["stop_reason"]]
    with Image.open(out / "lr_find.png") as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
        image.verify()


def test_nothing_else_is_written_and_the_config_is_unchanged(sweep):
    assert [p.name for p in sweep["cwd"].iterdir()] == ["found"]  # no runs/, no .partial
    assert sweep["config"].to_dict() == sweep["before"]
    assert sweep["config"].out is None


def test_a_transfer_head_sweep(tmp_path):
    config = {"data": {"name": "digits", "train_samples": 100},
              "model": {"backbone": "efficientnet_lite0", "weights": "none", "base_size": 32},
              "train": {"batch_size": 20}}
    r = lf.lr_find(config, end_lr=1.0, steps=20, out_dir=tmp_path / "head", say=None)
    assert r["config"]["trained"] == "the head" and r["recommended"]["flag"] == "--lr"
    assert r["stop_reason"] in ("steps", "diverged") and 1e-7 <= r["recommended"]["lr"] <= 1.0


# --- the command line ----------------------------------------------------------------

def test_cli_prints_the_suggestion_and_writes_only_its_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "lr-find", "--train-samples", "600", "--batch-size", "32",
                             "--steps", "30", "--end-lr", "0.01", "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("suggested --lr ") and "(valley); minimum/10 " in lines[0]
    assert lines[0].endswith("the config has 0.003") and "steepest" in lines[0]
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("lr-find-seed-cnn-mnist-")
    assert sorted(p.name for p in folder.iterdir()) == ["lr_find.json", "lr_find.png"]
    assert lines[1:] == [f"plot: {folder.relative_to(tmp_path)}/lr_find.png",
                         f"data: {folder.relative_to(tmp_path)}/lr_find.json"]
    saved = json.loads((folder / "lr_find.json").read_text())
    assert saved["stop_reason"] == "steps" and saved["steps_run"] == 30
    assert saved["lrs"][-1] == pytest.approx(0.01, rel=1e-6)
    assert f"{saved['recommended']['lr']:.2g}" in lines[0]


@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], ["--steps", "0"]),
    (["--steps", "5"], ["--steps", "5"]),
    (["--start-lr", "1", "--end-lr", "0.1"], ["--start-lr", "--end-lr"]),
    (["--start-lr", "0"], ["--start-lr"]),
    (["--start-lr", "-1e-5"], ["--start-lr"]),
    (["--end-lr", "0"], ["--end-lr"]),
    (["--lr", "-1"], ["train.lr"]),
    (["--model", "seed-cnm"], ["seed-cnm"]),
    (["--steps", "ten"], ["--steps"]),
])
def test_cli_bad_input_is_one_line_before_keras_and_writes_nothing(argv, words, capsys,
                                                                   tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "keras", None)  # any `import keras` would fail
    code, out, err = run_cli(capsys, "lr-find", *argv)
    assert_user_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_an_existing_output_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "taken").mkdir()
    monkeypatch.setitem(sys.modules, "keras", None)
    code, out, err = run_cli(capsys, "lr-find", "--out", tmp_path / "taken")
    assert_user_error(code, err, "taken", "already exists")
    assert list((tmp_path / "taken").iterdir()) == []


def test_cli_help_lists_the_sweep_flags(capsys):
    code, out, err = run_cli(capsys, "lr-find", "--help")
    assert code == 0
    for flag in ("--steps", "--start-lr", "--end-lr", "--out", "--preset", "--lr"):
        assert flag in out
