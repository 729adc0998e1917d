"""A smoke run of the time-to-accuracy harness: one tiny contender, seconds, no timings checked."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import clock  # noqa: E402
import time_to_accuracy  # noqa: E402


def test_time_to_reads_the_first_point_at_or_above_the_threshold():
    points = [{"seconds": 1.0, "test_accuracy": 0.97}, {"seconds": 2.0, "test_accuracy": 0.991},
              {"seconds": 3.0, "test_accuracy": 0.989}]
    assert clock.time_to(points, 0.99) == 2.0
    assert clock.time_to(points, 0.995) is None


def test_eval_log_keeps_evaluation_out_of_the_training_clock():
    import time

    c = clock.TrainClock()
    log = clock.EvalLog(c, stop_at=0.5)
    c.start()
    log.record(100, 0.5, lambda: (time.sleep(0.3), 0.6)[1])
    c.pause()
    assert c.seconds() < 0.25
    assert log.points[0]["test_accuracy"] == 0.6 and log.reached_stop()


def test_clock_counts_cpu_seconds_apart_from_wall_seconds():
    import time

    c = clock.TrainClock()
    c.start()
    time.sleep(0.3)  # wall time passes, the process uses no CPU
    busy_until = time.process_time() + 0.1
    while time.process_time() < busy_until:
        pass
    c.pause()
    assert c.seconds() >= 0.4
    assert 0.09 <= c.cpu_seconds() <= c.seconds() - 0.25


def test_results_of_each_dataset_get_their_own_file_name():
    assert time_to_accuracy.parse_args([]).name == "time_to_accuracy"
    fashion = time_to_accuracy.parse_args(["--dataset", "fashion_mnist"])
    assert fashion.name == "time_to_accuracy_fashion"
    assert time_to_accuracy.parse_args(["--dataset", "fashion_mnist", "--name", "x"]).name == "x"


def test_summary_counts_seeds_that_never_reach_a_threshold():
    rows = [{"contender": "x", "points": [{"seconds": s, "test_accuracy": a}],
             "final_accuracy": a, "train_seconds": s, "train_cpu_seconds": 1.8 * s, "epochs": 1,
             "peak_memory_mib": 100.0}
            for s, a in ((4.0, 0.991), (6.0, 0.985))]
    summary = time_to_accuracy.summarise(rows, [0.99])
    assert summary["time_to"]["0.99"] == {"reached": 1, "of": 2, "median": 4.0, "min": 4.0,
                                          "max": 4.0}


@pytest.mark.timeout(300)
def test_harness_smoke_writes_json_and_markdown(tmp_path):
    code = time_to_accuracy.main(["--contenders", "convolab-quick", "--seeds", "1",
                                  "--train-samples", "600", "--max-epochs", "1",
                                  "--thresholds", "0.5", "--out", str(tmp_path),
                                  "--name", "smoke", "--evals-per-epoch", "2"])
    assert code == 0
    report = json.loads((tmp_path / "smoke.json").read_text())
    (run,) = report["runs"]
    assert run["contender"] == "convolab-quick" and run["epochs"] == 1
    assert len(run["points"]) == 2  # evaluated twice per epoch
    assert run["points"][0]["seconds"] <= run["points"][1]["seconds"]
    assert 0 < run["points"][0]["cpu_seconds"] <= run["train_cpu_seconds"]
    assert run["peak_memory_mib"] > 50
    table = (tmp_path / "smoke.md").read_text()
    assert "convolab-quick" in table and "train CPU seconds" in table
    assert "vector extensions:" in table  # the machine is named beyond its model name

    # The stored runs, read again at other thresholds without training.
    accuracy = run["final_accuracy"]
    time_to_accuracy.main(["--summarise", str(tmp_path / "smoke.json"), "--thresholds",
                           str(accuracy), str(min(accuracy + 0.01, 1.0) + 1e-9),
                           "--out", str(tmp_path), "--name", "again"])
    again = (tmp_path / "again.md").read_text()
    reached, never = again.splitlines()[-1].split(" | ")[1:3]
    assert reached.startswith(f"{clock.time_to(run['points'], accuracy):.1f} (")
    assert never == "not reached (0/1)"
    assert "evaluated 2x per epoch" in again and "600 training images" in again
    assert json.loads((tmp_path / "smoke.json").read_text()) == report  # left as it was


def test_summarise_needs_a_name_and_a_results_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        time_to_accuracy.parse_args(["--summarise", "x.json"])
    assert "--summarise needs --name" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    no_contender = json.dumps({"runs": [{}], "environment": {}, "dataset": "mnist", "seeds": 1,
                               "evals_per_epoch": 2, "caps": {}, "train_samples": None,
                               "thresholds": [0.9]})
    for text in ("{}", '{"runs": [], "environment": {}}', "not json", no_contender):
        bad.write_text(text)
        with pytest.raises(SystemExit) as exc:
            time_to_accuracy.main(["--summarise", str(bad), "--name", "x",
                                   "--out", str(tmp_path)])
        assert "is not a results JSON" in str(exc.value.code)
    assert not (tmp_path / "x.md").exists()


def test_machine_line_names_family_and_vector_extensions():
    from summary import machine

    env = {"cpu": "AMD EPYC", "cpu_family_model": "26/2", "cpu_count": 2,
           "cpu_features": ["avx2", "avx512f"]}
    assert machine(env) == ("AMD EPYC (family/model 26/2), 2 cores, vector extensions: "
                            "avx2, avx512f")
    older = {"cpu": "AMD EPYC", "cpu_count": 2}  # a record written before these fields
    assert machine(older) == "AMD EPYC, 2 cores, vector extensions: none recorded"
