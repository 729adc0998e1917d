"""Two `convolab tune` processes share one study through a real PostgreSQL server, as
workers on two machines would. The test starts its own server on loopback in a temporary
folder; without the server binaries it skips (and fails in CI, which installs them)."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres` then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        message = "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="convolab-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", _free_port()
    subprocess.run(_as_server_user([initdb, "-D", str(data), "-U", "postgres",
                                    "--auth=trust", "--no-sync", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w",
                                    "-o", f"-k {folder} -p {port} -c listen_addresses=127.0.0.1"
                                          f" -c fsync=off", "start"]),
                   check=True, capture_output=True, timeout=60)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_one_study_through_postgresql(postgres_url, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("train.lr: {log: [1e-3, 1e-2]}\ntrain.batch_size: [32, 64]\n")
    command = [sys.executable, "-m", "convolab", "tune", "--train-samples", "400",
               "--validation-split", "0.25", "--epochs", "2", "--space", str(space),
               "--trials", "4", "--study", str(tmp_path / "shared"), "--storage",
               postgres_url, "--pruner", "none"]
    workers = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes ran trials
    assert len({t.user_attrs["run_dir"] for t in trials}) == 4
    assert study.user_attrs["convolab"]["dataset"] == "mnist"
    assert (tmp_path / "shared" / "study.json").is_file()
    assert not (tmp_path / "shared" / "study.journal").exists()
