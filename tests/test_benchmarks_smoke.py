"""The benchmark scripts run end to end on a tiny run with tiny repeats (seconds)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import convolab
from backends import export_needs_tensorflow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name):
    if str(BENCHMARKS) not in sys.path:  # the scripts import their shared helpers
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    return convolab.train({"data": {"name": "digits"}, "model": {"name": "mlp-bn"},
                           "train": {"epochs": 1}, "out": str(out)}, verbose=0).path


@export_needs_tensorflow  # it times the ONNX export too
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


@pytest.mark.slow  # about 20 s: `make test-all` runs it
def test_transfer_evidence_benchmark_runs_resumes_and_summarises(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLAB_HOME", str(tmp_path / "home"))  # its cached features
    evidence = load_script("transfer_evidence")
    args = ["--datasets", "digits", "--per-class", "3", "--seeds", "0", "--arms",
            "lite0-probe", "lite0-scratch", "--base-size", "32", "--weights", "none",
            "--epochs", "1", "--out", str(tmp_path)]
    summary = evidence.main(args)
    assert [(s["arm"], s["n"], s["per_class"]) for s in summary] == [
        ("lite0-probe", 1, 3), ("lite0-scratch", 1, 3)]
    rows = [json.loads(line) for line in
            (tmp_path / "transfer_evidence-runs.jsonl").read_text().splitlines()]
    assert [r["train_samples"] for r in rows] == [30, 30]
    assert all(0 <= r["test_accuracy"] <= 1 and r["epochs"] == 1 for r in rows)
    table = (tmp_path / "transfer_evidence.md").read_text()
    assert "| digits | 3 | 1 |" in table and "`lite0-scratch`" in table
    evidence.main(args)  # every cell is done: nothing runs again
    assert len((tmp_path / "transfer_evidence-runs.jsonl").read_text().splitlines()) == 2


def test_transfer_evidence_arms_share_the_budget():
    evidence = load_script("transfer_evidence")
    configs = {arm: evidence.arm_config(arm, "mnist", 100, 1, 48, "imagenet")
               for arm in evidence.ARMS}
    for config in configs.values():
        assert config["data"]["train_samples"] == 1000 and config["seed"] == 1
        assert config["train"]["epochs"] == evidence.EPOCHS[100]
        assert config["train"]["batch_size"] == 32 and config["data"]["validation_split"] == 0
    assert configs["lite0-probe"]["transfer"]["unfreeze"] == "none"
    assert configs["lite0-scratch"]["model"]["weights"] == "none"
    assert configs["best"]["model"]["name"] == "best-xl"
    assert evidence.arm_config("best", "fashion_mnist", 10, 0, 48, "imagenet")[
        "augment"]["horizontal_flip"] is True


def test_transfer_speed_benchmark_writes_a_row_per_backbone(tmp_path):
    speed = load_script("transfer_speed")
    rows = speed.main(["--backbones", "efficientnet_lite0", "--size", "32", "--images", "16",
                       "--train-batches", "1", "--repeats", "1", "--out", str(tmp_path)])
    assert [r["backbone"] for r in rows] == ["efficientnet_lite0"]
    assert rows[0]["extract_images_per_second"]["median"] > 0
    assert rows[0]["fine_tune_images_per_second"]["median"] > 0
    assert "`efficientnet_lite0` | 32 |" in (tmp_path / "transfer_speed.md").read_text()


def test_tune_evidence_benchmark_runs_resumes_and_summarises(tmp_path):
    evidence = load_script("tune_evidence")
    args = ["--datasets", "mnist", "--samplers", "random", "--reps", "1", "--trials", "2",
            "--train-samples", "300", "--no-baselines", "--work", str(tmp_path / "work"),
            "--out", str(tmp_path)]
    summary = evidence.main(args)
    assert [(s["dataset"], s["arm"], s["n"]) for s in summary] == [("mnist", "random", 1)]
    rows = [json.loads(line) for line in
            (tmp_path / "tune_evidence-runs.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and len(rows[0]["curve"]) == 2
    assert rows[0]["curve"][1] >= rows[0]["curve"][0]  # the best so far never falls
    assert 0 < rows[0]["test_accuracy"] <= 1
    assert "| mnist | `random` |" in (tmp_path / "tune_evidence.md").read_text()
    assert (tmp_path / "tune_evidence.png").is_file()
    evidence.main(args)  # the study is done: nothing runs again
    assert len((tmp_path / "tune_evidence-runs.jsonl").read_text().splitlines()) == 1


def test_running_best_skips_lost_trials_and_keeps_the_maximum():
    evidence = load_script("tune_evidence")
    trials = [{"number": 0, "state": "complete", "value": 0.5},
              {"number": 1, "state": "fail", "value": None, "retried_as": 3},
              {"number": 2, "state": "pruned", "value": 0.9},
              {"number": 3, "state": "complete", "value": 0.7},
              {"number": 4, "state": "complete", "value": 0.6}]
    assert evidence.running_best(trials) == [0.5, 0.5, 0.7, 0.7]


@pytest.mark.slow  # about 20 s: `make test-all` runs it
def test_serve_load_benchmark_answers_every_request_through_onnx_and_keras(tmp_path):
    import convolab

    run = tmp_path / "run"
    convolab.train({"data": {"train_samples": 300}, "train": {"epochs": 1}, "out": str(run)},
                   verbose=0)
    load = load_script("serve_load")
    rows = load.main([str(run), "--requests", "60", "--concurrency", "4", "--warmup", "4",
                      "--out", str(tmp_path)])
    assert [r["engine"] for r in rows] == ["onnx", "keras"]
    for row in rows:
        assert row["errors"] == 0 and row["requests"] == 60
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert not (run / "export").exists()  # the export went into a temporary copy
    assert "| onnx |" in (tmp_path / "serve_load.md").read_text()
