"""`convolab train --distribute` on this CPU split into 2 devices (CONVOLAB_CPU_DEVICES=2):
the same losses as one device, on TensorFlow (MirroredStrategy) and JAX (DataParallel).

Each run is a subprocess: both backends read their device setting once, at start-up."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from cli_helpers import assert_user_error

#: Largest relative difference allowed between the losses of 1 and 2 devices. The sums
#: of the two halves' gradients are added in another order; measured after 2 epochs of
#: 1,800 images: at most 1e-7 (TensorFlow) and 2e-5 (JAX).
TOLERANCE = 1e-4
RUN = ["--train-samples", "1000", "--epochs", "2", "--batch-size", "64", "--dropout", "0",
       "--lr-schedule", "constant", "--quiet"]


def train(tmp_path, name, backend, devices, *flags):
    env = {**os.environ, "KERAS_BACKEND": backend, "CONVOLAB_CPU_DEVICES": str(devices)}
    out = tmp_path / name
    result = subprocess.run([sys.executable, "-m", "convolab", "train", *RUN, *flags,
                             "--out", str(out)], env=env, capture_output=True, text=True,
                            timeout=300)
    return result, out


def losses(run_dir):
    with open(run_dir / "history.csv") as handle:
        return [(float(r["loss"]), float(r["val_loss"])) for r in csv.DictReader(handle)]


@pytest.mark.parametrize("backend, strategy", [("tensorflow", "MirroredStrategy"),
                                               ("jax", "DataParallel")])
def test_two_devices_train_like_one(tmp_path, backend, strategy):
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f"{backend} is not installed; `pip install -e .[test]` brings it")
    one, one_dir = train(tmp_path, "one", backend, 1)
    two, two_dir = train(tmp_path, "two", backend, 2, "--distribute")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    metrics = json.loads((two_dir / "metrics.json").read_text())
    assert metrics["distributed"] == {"backend": backend, "strategy": strategy, "devices": 2}
    assert "distributed" not in json.loads((one_dir / "metrics.json").read_text())
    for (loss1, val1), (loss2, val2) in zip(losses(one_dir), losses(two_dir), strict=True):
        assert abs(loss1 - loss2) <= TOLERANCE * loss1
        assert abs(val1 - val2) <= TOLERANCE * val1


def test_a_batch_the_devices_cannot_share_is_refused(tmp_path):
    result, out = train(tmp_path, "odd", "tensorflow", 2, "--distribute", "--batch-size", "63")
    assert_user_error(result.returncode, result.stderr, "train.batch_size 63",
                      "2 devices", "multiple of 2")
    assert not out.exists() and not (tmp_path / "odd.partial").exists()
