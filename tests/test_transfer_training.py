"""Fine-tuning an ImageNet base in two phases, end to end on real digits (tiny: a 32 px
EfficientNet-Lite0 with weights `none`, scikit-learn's 8x8 digits resized inside the model,
100 training and 360 test images)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import convolab
from convolab.errors import ConvolabError
from convolab.run import Run, partial_dir

@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Cached features go to a folder of this module's, not the user's convolab cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONVOLAB_HOME", str(tmp_path_factory.mktemp("home")))
        yield


TINY = {"data": {"name": "digits", "train_samples": 100, "validation_split": 0.2},
        "model": {"backbone": "efficientnet_lite0", "weights": "none", "base_size": 32},
        "train": {"epochs": 3, "batch_size": 40, "lr": 0.003, "lr_schedule": "constant"}}


def tiny(out, **transfer):
    return {**TINY, "transfer": {"freeze_epochs": 1, "unfreeze": "all", **transfer},
            "out": str(out)}


class BaseWatch(keras.callbacks.Callback):
    """Copies of the base's weights (kernels and BatchNormalization statistics) after each
    epoch of a fit that runs the base, and before its first. (A frozen phase without
    augmentation fits the head alone on cached features: it has no base to watch.)"""

    def __init__(self):
        super().__init__()
        self.snapshots = []
        self.fits_without_base = 0

    def _has_base(self):
        return any(hasattr(layer, "layers") for layer in self.model.layers)

    def _snapshot(self):
        from convolab.transfer.model import find_base

        base = find_base(self.model)
        kernels = [w.numpy().copy() for layer in base.layers
                   if isinstance(layer, keras.layers.Conv2D) for w in layer.weights[:1]]
        stats = [w.numpy().copy() for layer in base.layers
                 if isinstance(layer, keras.layers.BatchNormalization)
                 for w in (layer.moving_mean, layer.moving_variance)]
        return kernels, stats

    def on_train_begin(self, logs=None):
        if not self._has_base():
            self.fits_without_base += 1
        elif not self.snapshots:
            self.snapshots.append(self._snapshot())

    def on_epoch_end(self, epoch, logs=None):
        if self._has_base():
            self.snapshots.append(self._snapshot())


def base_weights(model):
    """The base's kernels and BatchNormalization statistics of a built model."""
    watch = BaseWatch()
    watch.set_model(model)
    return watch._snapshot()


def fresh_model(config):
    """The model `convolab.train(config)` starts from (same seed, same initial weights)."""
    from convolab.config import config_from_dict
    from convolab.training import build_classifier, transfer_spec

    cfg = config_from_dict(config)
    keras.utils.set_random_seed(cfg.seed)
    return build_classifier(cfg, transfer_spec(cfg), (8, 8, 1), 10)


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A Lite0 base's weights written to a file: to the run, a pretrained base."""
    from convolab.transfer import backbones

    base = backbones.build_base(backbones.get_backbone("efficientnet_lite0"), 32, None)
    path = tmp_path_factory.mktemp("weights") / "lite0.weights.h5"
    base.save_weights(path)
    return str(path)


def pretrained(config, weights_file):
    return {**config, "model": {**config["model"], "weights": weights_file}}


@pytest.fixture(scope="module")
def two_phase_run(tmp_path_factory, weights_file):
    watch = BaseWatch()
    out = tmp_path_factory.mktemp("transfer") / "run"
    run = convolab.train(pretrained(tiny(out), weights_file), verbose=0,
                         extra_callbacks=[watch])
    return run, watch


def test_history_marks_the_phases(two_phase_run):
    run, _ = two_phase_run
    rows = run.history()
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert [r["phase"] for r in rows] == [1, 2, 2]
    # phase 1 at train.lr, phase 2 at the fine-tuning rate
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.003, 1e-4, 1e-4])


def test_base_frozen_in_phase_1_and_batchnorm_frozen_throughout(two_phase_run, tmp_path,
                                                                weights_file):
    run, watch = two_phase_run
    # Phase 1 trained the head on cached features; phase 2 ran the base.
    assert watch.fits_without_base == 1 and run.metrics["feature_cache"]["train"]["images"] == 80
    (k1, s1), (k2, s2), _ = watch.snapshots
    k0, s0 = base_weights(fresh_model(pretrained(tiny(tmp_path / "unused"), weights_file)))
    assert same(k0, k1), "phase 1 changed the base's kernels"
    assert not same(k1, k2), "phase 2 did not train the base"
    assert same(s0, s1) and same(s1, s2), "BatchNormalization statistics of the base moved"


def test_with_augmentation_phase_1_runs_the_frozen_base(tmp_path, weights_file):
    """No feature cache when augmentation changes the images: the base runs, frozen."""
    watch = BaseWatch()
    config = pretrained(tiny(tmp_path / "aug"), weights_file)
    config["augment"] = {"enabled": True, "rotation_range": 10}
    run = convolab.train(config, verbose=0, extra_callbacks=[watch])
    assert "feature_cache" not in run.metrics and watch.fits_without_base == 0
    (k0, s0), (k1, s1), (k2, s2), _ = watch.snapshots
    assert same(k0, k1) and not same(k1, k2) and same(s0, s2)
    assert "aug_rotation" in [layer.name for layer in run.model.layers]


def test_transfer_run_takes_raw_images_and_reloads(two_phase_run):
    run, _ = two_phase_run
    reloaded = Run.load(run.path)
    x = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype("float32")
    probs = reloaded.predict(x)
    assert probs.shape == (4, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert reloaded.config.model.backbone == "efficientnet_lite0"
    assert reloaded.metrics["timing"]["training"]["total"] > 0


def test_a_base_from_scratch_trains_its_batchnorm(tmp_path):
    """weights none: no statistics to protect, so BatchNormalization learns in phase 2."""
    watch = BaseWatch()
    convolab.train(tiny(tmp_path / "scratch", freeze_epochs=0), verbose=0,
                   extra_callbacks=[watch])
    (k0, s0), *_, (k3, s3) = watch.snapshots
    assert not same(k0, k3) and not same(s0, s3)


def test_linear_probe_is_one_phase_on_cached_features(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))
    config = {**tiny(tmp_path / "probe", unfreeze="none"),
              "train": {**TINY["train"], "epochs": 2}}
    run = convolab.train(config, verbose=0)
    assert [r["phase"] for r in run.history()] == [1, 1]
    (k1, s1), (k0, s0) = base_weights(run.model), base_weights(fresh_model(config))
    assert same(k0, k1) and same(s0, s1)
    cache = run.metrics["feature_cache"]
    assert [cache[part]["hit"] for part in ("train", "val", "test")] == [False] * 3
    assert [cache[part]["images"] for part in ("train", "val", "test")] == [80, 20, 359]
    # The test metrics through the cache are the full model's, to rounding.
    from convolab.transfer.features import predict_from_features

    test = run.test_set()
    probs = run.predict(test.x_test)
    cached, info = predict_from_features(run.model, test.x_test)
    assert info["hit"] and np.allclose(cached, probs, atol=1e-5)
    assert run.metrics["test_accuracy"] == pytest.approx(
        float((probs.argmax(1) == test.y_test).mean()), abs=1 / len(test.y_test))
    # The same run again reads every feature from the cache and learns the same.
    again = convolab.train({**config, "out": str(tmp_path / "again")}, verbose=0)
    hits = again.metrics["feature_cache"]
    assert [hits[part]["hit"] for part in ("train", "val", "test")] == [True] * 3
    assert again.history()[-1]["loss"] == pytest.approx(run.history()[-1]["loss"], rel=1e-5)


@pytest.mark.parametrize("config, words", [
    ({"model": {"backbone": "vgg61"}}, ["vgg61", "did you mean"]),
    ({"model": {"backbone": "inception_v3", "base_size": 40}}, ["inception_v3", "75"]),
    ({"transfer": {"freeze_epochs": 3, "unfreeze": "all"}}, ["train.epochs", "freeze_epochs"]),
    ({"transfer": {"unfreeze": "some"}}, ["transfer.unfreeze"]),
    ({"model": {"weights": "/nonexistent/w.h5"}}, ["/nonexistent/w.h5", "does not exist"]),
])
def test_bad_transfer_settings_are_refused_before_anything_is_written(tmp_path, config, words):
    merged = tiny(tmp_path / "r")
    for section, values in config.items():
        merged[section] = {**merged.get(section, {}), **values}
    with pytest.raises(ConvolabError) as info:
        convolab.train(merged, verbose=0)
    for word in words:
        assert word in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unfreeze_more_blocks_than_the_base_has(tmp_path):
    with pytest.raises(ConvolabError, match="block"):
        convolab.train(tiny(tmp_path / "r", unfreeze="99"), verbose=0)


KILLED_TRAINING = textwrap.dedent("""
    import json, os, signal, sys
    import keras
    import convolab

    out, config, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])

    class KillAfter(keras.callbacks.Callback):
        # Before the checkpoint commits epoch `kill_at`: dies there.
        def on_epoch_end(self, epoch, logs=None):
            if epoch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    if config is None:
        convolab.train(resume=out, verbose=0, extra_callbacks=[KillAfter()])
    else:
        convolab.train(config, verbose=0, extra_callbacks=[KillAfter()])
""")


def cache_env(out):
    """The environment of a training subprocess: a fresh convolab cache beside `out`, which
    every process of a test shares."""
    return {**os.environ, "CONVOLAB_HOME": str(out.parent / "home")}


def train_killed(out, config, kill_at):
    """Train `config` (None: resume `out`) in a subprocess killed (SIGKILL) at the end of
    epoch `kill_at`, before its commit; return the committed state."""
    proc = subprocess.run([sys.executable, "-c", KILLED_TRAINING, str(out), json.dumps(config),
                           str(kill_at)], capture_output=True, text=True, timeout=300,
                          env=cache_env(out))
    assert proc.returncode == -9, proc.stderr[-2000:]
    return json.loads((partial_dir(out) / "backup" / "state.json").read_text())


def _feature_files(out):
    """The cached feature files beside `out` (see `cache_env`), by inode: a rewrite shows."""
    home = Path(cache_env(out)["CONVOLAB_HOME"])
    return {p.name: p.stat().st_ino for p in home.rglob("features/*") if p.is_file()}


def test_kills_in_the_cached_phase_1_and_in_phase_2_resume_in_their_phase(tmp_path):
    out = tmp_path / "killed"
    config = {**tiny(out, freeze_epochs=2), "train": {**TINY["train"], "epochs": 4}}
    state = train_killed(out, config, kill_at=1)
    assert state["epochs_done"] == 1 and state["phase"] == 1
    cached = _feature_files(out)
    assert cached, "phase 1 cached no features"
    state = train_killed(out, None, kill_at=3)  # resumed in phase 1, killed in phase 2
    assert state["epochs_done"] == 3 and state["phase"] == 2
    assert _feature_files(out) == cached  # phase 1 read them, wrote none
    proc = subprocess.run([sys.executable, "-m", "convolab", "train", "--resume", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=300,
                          env=cache_env(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = Run.load(out)
    rows = run.history()
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert [r["phase"] for r in rows] == [1, 1, 2, 2]
    # the run resumed in phase 2 is still in phase 2: the fine-tuning rate, not phase 1's
    assert rows[3]["learning_rate"] == pytest.approx(1e-4)
