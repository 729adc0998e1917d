"""`convolab invariance` and `convolab compare`: the transforms move pixels as stated, the
identity settings reproduce the plain accuracy, the ablation table and its resumability."""

import json
import shutil

import numpy as np
import pytest
from scipy import ndimage

from cli_helpers import assert_user_error, run_cli
from convolab.data import load_dataset
from convolab.evidence.compare import (
    VARIANTS,
    CompareRun,
    compare,
    summarize,
    variant_overrides,
)
from convolab.evidence.invariance import DIRECTIONS, sample_subset, shifted_four_ways
from convolab.evidence.transforms import transform_images
from convolab.run import Run

TINY = {"datasets": ["mnist"], "variants": ["baseline", "dropout"], "seeds": 1, "epochs": 1,
        "train_samples": 300}
TINY_ARGV = ["compare", "--datasets", "mnist", "--variants", "baseline", "dropout", "--seeds", 1,
             "--epochs", 1, "--train-samples", 300]


@pytest.fixture(scope="module")
def digits():
    """Twenty real MNIST test digits, raw 0-255, (20, 28, 28, 1)."""
    return load_dataset("mnist", validation_split=0.0).x_test[:20]


@pytest.fixture(scope="module")
def tiny_compare(tmp_path_factory):
    """compare on mnist: baseline and dropout, 1 seed, 1 epoch on 300 images (2 runs)."""
    return compare(**TINY, out=tmp_path_factory.mktemp("compare") / "cmp")


# --- transforms -------------------------------------------------------------------------

@pytest.mark.parametrize("dx, dy", [(3, 0), (0, -2), (-4, 5), (2, 2)])
def test_shifting_by_k_pixels_moves_the_centre_of_mass_by_k(digits, dx, dy):
    canvas = np.zeros((len(digits), 40, 40, 1), "uint8")  # room to move without clipping
    canvas[:, 6:34, 6:34] = digits
    shifted = transform_images(canvas, shift=(dx, dy))
    for before, after in zip(canvas[..., 0].astype("float64"), shifted[..., 0]):
        row0, col0 = ndimage.center_of_mass(before)
        row1, col1 = ndimage.center_of_mass(after)
        assert (col1 - col0, row1 - row0) == pytest.approx((dx, dy), abs=1e-9)
        assert after.sum() == pytest.approx(before.sum())  # the digit stays inside


def test_identity_settings_reproduce_the_pixels_exactly(digits):
    for kwargs in ({}, {"angle": 0.0}, {"scale": 1.0}, {"shift": (0, 0)}):
        out = transform_images(digits, **kwargs)
        assert out.dtype == np.float32 and out.shape == digits.shape
        assert np.array_equal(out, digits.astype("float32"))


def test_rotation_is_counter_clockwise_and_scale_is_about_the_centre():
    image = np.zeros((1, 15, 15), "float32")
    image[0, 3, 7] = 255.0  # 4 px above the centre (7, 7)
    turned = transform_images(image, angle=90)[0]
    assert np.unravel_index(turned.argmax(), turned.shape) == (7, 3)  # now 4 px left of it
    image = np.zeros((1, 15, 15), "float32")
    image[0, 7, 9] = 255.0  # 2 px right of the centre
    row, col = ndimage.center_of_mass(transform_images(image, scale=2.0)[0])
    assert (row, col) == pytest.approx((7, 11), abs=1e-6)  # twice as far


def test_channels_last_and_plain_images_transform_alike(digits):
    with_channel = transform_images(digits, angle=25, scale=0.8, shift=(1, -1))
    plain = transform_images(digits[..., 0], angle=25, scale=0.8, shift=(1, -1))
    assert np.array_equal(with_channel[..., 0], plain)
    assert not np.array_equal(plain, digits[..., 0])


def test_a_shift_sends_the_images_in_turn_right_left_down_and_up(digits):
    canvas = np.zeros((8, 40, 40, 1), "uint8")
    canvas[:, 6:34, 6:34] = digits[:8]
    images, direction = shifted_four_ways(canvas, 2)
    assert direction.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    for before, after, d in zip(canvas[..., 0], images[..., 0], direction):
        moved = np.subtract(ndimage.center_of_mass(after), ndimage.center_of_mass(before))
        dx, dy = list(DIRECTIONS.values())[d]
        assert moved == pytest.approx((2 * dy, 2 * dx), abs=1e-9)


def test_sample_subset_is_seeded_and_without_repeats():
    x, y = np.arange(1000)[:, None], np.arange(1000)
    xs, ys = sample_subset(x, y, 200, seed=3)
    assert len(ys) == 200 == len(set(ys.tolist())) and np.array_equal(xs[:, 0], ys)
    assert np.array_equal(ys, sample_subset(x, y, 200, seed=3)[1])
    assert not np.array_equal(ys, sample_subset(x, y, 200, seed=4)[1])
    assert len(sample_subset(x, y, 0, seed=3)[1]) == 1000


# --- invariance -------------------------------------------------------------------------

def test_invariance_identity_settings_give_the_plain_accuracy(tiny_compare, tmp_path, capsys):
    runs = [r.path for r in tiny_compare.runs]  # baseline and dropout
    out = tmp_path / "inv"
    code, stdout, err = run_cli(capsys, "invariance", *runs, "--samples", 200, "--shifts", 0,
                                3, "--angles", -30, 0, 30, "--scales", 0.7, 1, 1.3,
                                "--out", out)
    assert code == 0, err
    assert "rotation" in stdout and str(out) in stdout
    assert {p.name for p in out.iterdir()} == {"invariance.json", "invariance.md",
                                               "invariance.png"}
    result = json.loads((out / "invariance.json").read_text())
    assert [r["label"] for r in result["runs"]] == ["mnist-baseline-seed0",
                                                    "mnist-dropout-seed0"]
    for entry, path in zip(result["runs"], runs):
        # An independent plain accuracy on the same seeded subset.
        run = Run.load(path)
        ds = run.test_set()
        x, y = sample_subset(ds.x_test, ds.y_test, 200, seed=0)
        plain = float((run.predict(x).argmax(axis=1) == y).mean())
        assert entry["test_images"] == 200 and entry["plain_accuracy"] == plain
        by = {s: {p[k]: p["accuracy"] for p in entry[s]}
              for s, k in (("shift", "pixels"), ("rotation", "degrees"), ("scale", "factor"))}
        assert by["shift"][0] == by["rotation"][0.0] == by["scale"][1.0] == plain
        # 50 images each went right, left, down and up by 3 px.
        three = entry["shift"][1]
        assert three["pixels"] == 3 and set(three["by_direction"]) == set(DIRECTIONS)
        assert three["accuracy"] == pytest.approx(np.mean(list(three["by_direction"].values())))
    assert (out / "invariance.md").read_text().count("| 0 |") == 2  # shift 0, rotation 0


def test_invariance_of_one_run_writes_into_the_run(tiny_compare, capsys):
    path = tiny_compare.runs[0].path
    code, _, err = run_cli(capsys, "invariance", path, "--samples", 50, "--shifts", 1,
                           "--angles", 5, "--scales", 1)
    assert code == 0, err
    assert (Run.load(path).path / "invariance" / "invariance.png").is_file()


@pytest.mark.parametrize("argv, words", [
    (["invariance", "no/such/run"], ["no/such/run", "does not exist"]),
    (["invariance", "RUN", "--scales", "0", "1"], ["--scales", "> 0"]),
    (["invariance", "RUN", "--shifts", "-2"], ["--shifts", ">= 0"]),
    (["invariance", "RUN", "--samples", "-1"], ["--samples"]),
])
def test_invariance_bad_input_is_one_line(tiny_compare, capsys, argv, words):
    argv = [tiny_compare.runs[0].path if a == "RUN" else a for a in argv]
    assert_user_error(*run_cli(capsys, *argv)[::2], *words)


# --- compare ----------------------------------------------------------------------------

def test_compare_trains_each_run_and_tabulates_one_row_per_variant(tiny_compare):
    runs = tiny_compare.runs
    assert [(r.variant, r.seed, r.status) for r in runs] == [("baseline", 0, "trained"),
                                                             ("dropout", 0, "trained")]
    assert [row["variant"] for row in tiny_compare.summary] == ["baseline", "dropout"]
    for run, row in zip(runs, tiny_compare.summary):
        saved = Run.load(run.path)
        assert saved.config.data.validation_split == 0.1 and saved.config.train.epochs == 1
        assert saved.metrics["train_samples"] + saved.metrics["val_samples"] == 300
        assert run.test_accuracy == saved.metrics["test_accuracy"]
        assert run.train_accuracy == saved.history()[-1]["accuracy"]
        assert run.gap == pytest.approx(run.train_accuracy - run.test_accuracy)
        assert row["test_accuracy_mean"] == run.test_accuracy and row["runs"] == 1
    dropouts = [sum(type(layer).__name__ == "Dropout" for layer in Run.load(r.path).model.layers)
                for r in runs]
    assert dropouts == [0, 2]  # before each of seed-cnn's two Dense layers
    out = tiny_compare.out
    table = (out / "compare.md").read_text()
    assert table.count("| mnist | baseline |") == 1 and table.count("| mnist | dropout |") == 1
    assert len(json.loads((out / "compare.json").read_text())["runs"]) == 2
    assert (out / "compare.png").stat().st_size > 1000


def fake_run(dataset, variant, seed, test, train):
    return CompareRun(dataset=dataset, variant=variant, seed=seed, path=f"{variant}{seed}",
                      status="trained", test_accuracy=test, train_accuracy=train,
                      train_seconds=10.0 + seed)


def test_summary_has_mean_and_std_over_seeds_per_dataset_and_variant():
    runs = [fake_run("mnist", "baseline", 0, 0.97, 0.99),
            fake_run("mnist", "baseline", 1, 0.95, 0.99),
            fake_run("mnist", "l2", 0, 0.96, 0.96), fake_run("fashion_mnist", "l2", 0, 0.8, 0.9)]
    rows = summarize(runs)
    assert [(r["dataset"], r["variant"], r["runs"]) for r in rows] == [
        ("mnist", "baseline", 2), ("mnist", "l2", 1), ("fashion_mnist", "l2", 1)]
    assert rows[0]["test_accuracy_mean"] == pytest.approx(0.96)
    assert rows[0]["test_accuracy_std"] == pytest.approx(np.std([0.97, 0.95], ddof=1))
    assert rows[0]["gap_mean"] == pytest.approx(0.03) and rows[0]["train_seconds_mean"] == 10.5
    assert rows[1]["test_accuracy_std"] == 0.0 and rows[2]["gap_mean"] == pytest.approx(0.1)


def test_compare_again_trains_nothing_and_retrains_a_run_killed_before_its_first_epoch(
        tiny_compare, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cmp"
    shutil.copytree(tiny_compare.out, out)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    import convolab.training

    calls = []
    real_train = convolab.training.train
    monkeypatch.setattr(convolab.training, "train",
                        lambda *a, **k: calls.append(a or k) or real_train(*a, **k))
    code, stdout, err = run_cli(capsys, *TINY_ARGV, "--out", out)
    assert code == 0, err
    assert stdout.count(": skipped,") == 2 and calls == []
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == stamps
    assert "baseline" in stdout and "dropout" in stdout and "± " in stdout

    # Killed before its first epoch ended: <run>.partial holds only config.yaml.
    killed = out / "mnist-dropout-seed0"
    (out / "mnist-dropout-seed0.partial").mkdir()
    shutil.copy(killed / "config.yaml", out / "mnist-dropout-seed0.partial" / "config.yaml")
    shutil.rmtree(killed)
    code, stdout, err = run_cli(capsys, *TINY_ARGV, "--out", out)
    assert code == 0, err
    assert stdout.count(": skipped,") == 1 and "dropout seed 0: trained" in stdout
    assert len(calls) == 1 and (killed / "metrics.json").is_file()
    assert not (out / "mnist-dropout-seed0.partial").exists()


def test_compare_resumes_a_run_killed_after_an_epoch(tiny_compare, tmp_path, capsys,
                                                      monkeypatch):
    out = tmp_path / "cmp"
    shutil.copytree(tiny_compare.out, out)
    finished = out / "mnist-baseline-seed0"
    partial = out / "mnist-baseline-seed0.partial"
    shutil.copytree(finished, tmp_path / "finished")
    finished.rename(partial)
    (partial / "backup").mkdir()  # what RunCheckpoint commits after an epoch
    (partial / "backup" / "w.weights.h5").write_bytes(b"w")
    (partial / "backup" / "state.json").write_text(json.dumps(
        {"weights": "w.weights.h5", "best_file": "w.weights.h5", "epochs_done": 1}))
    import convolab.training

    resumed = []

    def fake_train(config=None, *, resume=None, **kwargs):
        resumed.append(resume)  # stands in for the resume: publishes the finished run
        partial.rename(finished)
        shutil.rmtree(finished)
        shutil.copytree(tmp_path / "finished", finished)

    monkeypatch.setattr(convolab.training, "train", fake_train)
    code, stdout, err = run_cli(capsys, *TINY_ARGV, "--out", out)
    assert code == 0, err
    assert resumed == [finished] and "baseline seed 0: resumed" in stdout


def test_compare_refuses_to_reuse_a_run_trained_with_another_budget(tiny_compare, capsys):
    code, _, err = run_cli(capsys, "compare", "--datasets", "mnist", "--variants", "baseline",
                           "--seeds", 1, "--epochs", 2, "--train-samples", 300,
                           "--out", tiny_compare.out)
    assert_user_error(code, err, "mnist-baseline-seed0", "train.epochs", "--out")


@pytest.mark.parametrize("argv, words", [
    (["--variants", "baseline", "dropuot"], ["'dropuot'", "did you mean 'dropout'"]),
    (["--datasets", "mnsit"], ["'mnsit'", "did you mean 'mnist'"]),
    (["--seeds", "0"], ["--seeds"]),
    (["--epochs", "0"], ["--epochs"]),
    (["--train-samples", "-5"], ["--train-samples", "-5"]),
    (["--variants", "l2", "l2"], ["--variants", "twice"]),
])
def test_compare_bad_input_is_one_line_and_trains_nothing(tmp_path, capsys, argv, words):
    code, _, err = run_cli(capsys, "compare", *argv, "--out", tmp_path / "cmp")
    assert_user_error(code, err, *words)
    assert not (tmp_path / "cmp").exists()


def test_variants_switch_on_what_they_name():
    assert variant_overrides("baseline", "mnist") == {}
    assert variant_overrides("dropout", "mnist") == {"model": {"dropout": 0.25}}
    assert variant_overrides("augment", "mnist")["augment"]["horizontal_flip"] is False
    assert variant_overrides("augment", "fashion_mnist")["augment"]["horizontal_flip"] is True
    everything = variant_overrides("all", "mnist")
    assert everything["model"] == {"dropout": 0.25, "l2": 1e-4, "batchnorm": True}
    assert everything["augment"]["enabled"] and everything["augment"]["rotation_range"] == 10
    assert set(VARIANTS) == {"baseline", "dropout", "l2", "batchnorm", "augment", "all"}
