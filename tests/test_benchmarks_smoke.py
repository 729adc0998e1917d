"""The benchmark scripts run end to end on a tiny run with tiny repeats (seconds)."""

import importlib.util
import json
from pathlib import Path

import pytest

import convolab

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    return convolab.train({"data": {"name": "digits"}, "model": {"name": "mlp-bn"},
                           "train": {"epochs": 1}, "out": str(out)}, verbose=0).path


def test_inference_benchmark_writes_every_method_and_field(tiny_run, tmp_path):
    inference = load_script("inference")
    inference.main([str(tiny_run), "--repeats", "12", "--batch", "64", "--batch-repeats", "3",
                    "--out", str(tmp_path)])
    record = json.loads((tmp_path / "inference.json").read_text())
    assert record["model"] == "mlp-bn" and record["dataset"] == "digits"
    assert record["onnx_max_abs_diff"] <= 1e-5 and record["onnx_check_samples"] > 0
    assert set(record["results"]) == {"keras model.predict", "keras model(x) (eager)",
                                      "tf.function(model) (traced graph)",
                                      "onnxruntime (exported ONNX, CPU)"}
    for r in record["results"].values():
        assert r["latency_n"] == 12 and r["throughput_n"] == 3 and r["batch"] == 64
        assert 0 < r["latency_min_ms"] <= r["latency_p50_ms"] <= r["latency_p99_ms"] \
            <= r["latency_max_ms"]
        assert 0 < r["throughput_min"] <= r["throughput_median"] <= r["throughput_max"]
    assert record["environment"]["versions"]["onnxruntime"]
    assert set(record["environment"]["load_average_1min"]) == {"before", "after"}
    table = (tmp_path / "inference.md").read_text()
    assert table.count("\n| ") == 1 + 4  # header and one row per method
    assert "n = 12 single-image calls" in table


def test_inference_benchmark_reports_a_bad_run_dir_in_one_line(tmp_path, capsys):
    inference = load_script("inference")
    with pytest.raises(SystemExit) as exc:
        inference.main([str(tmp_path / "nope")])
    assert "does not exist" in str(exc.value.code) and "Traceback" not in str(exc.value.code)
