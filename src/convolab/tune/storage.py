"""Where a study lives, and how a trial whose worker died is found and run again.

By default a study folder holds an Optuna journal file (`study.journal`), which several
processes on one machine append to safely. `--storage postgresql://...` puts the study in
a database that workers on many machines share.

Every running trial records its worker (`host:pid`) and a heartbeat every few seconds.
A running trial is stale when its worker is a dead process on this machine, or when its
heartbeat is older than the grace period; it is then marked failed and queued again with
the same parameters. Marking is safe under races: both storages refuse a second change of
a finished trial, so exactly one worker re-queues it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConvolabError

JOURNAL_FILE = "study.journal"
#: Says where a study folder's trials are kept: "journal", or "database <URL, no password>".
STORAGE_FILE = "storage.txt"
#: Seconds between two heartbeats of a running trial.
HEARTBEAT_SECONDS = 10.0
#: A trial silent this long (seconds) is taken for dead, whatever its host.
DEFAULT_GRACE_SECONDS = 120.0
#: The user attributes a trial carries for this bookkeeping.
WORKER_ATTR, HEARTBEAT_ATTR = "worker", "heartbeat"
RETRY_OF_ATTR, RUN_DIR_ATTR = "retry_of", "run_dir"
SCHEMES = ("postgresql", "mysql", "sqlite")


def redact(url: str) -> str:
    """`url` without its password, for messages and study.json."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def check_storage_url(url: str, workers: int) -> None:
    """Refuse a --storage URL convolab cannot use, before anything starts."""
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in SCHEMES:
        raise ConvolabError(f"--storage {redact(url)!r} is not a database URL; give e.g. "
                            f"postgresql://user:password@host:5432/db, or leave --storage out "
                            f"to keep the study in a journal file in its folder")
    if scheme == "sqlite" and workers > 1:
        raise ConvolabError("--storage sqlite cannot take several workers at once (\"database "
                            "is locked\"); leave --storage out (the journal file is safe for "
                            "--workers) or use postgresql://")


def _storage_text(url: str | None) -> str:
    return "journal" if url is None else f"database {redact(url)}"


def check_same_storage(study_dir: Path, url: str | None) -> None:
    """Refuse to continue a study folder with another storage than the one it was made with."""
    marker = study_dir / STORAGE_FILE
    if not marker.is_file():
        if url is not None and (study_dir / JOURNAL_FILE).exists():
            raise ConvolabError(f"study {study_dir} keeps its trials in {JOURNAL_FILE}; leave "
                                f"out --storage to continue it, or use another --study")
        return
    kept = marker.read_text(encoding="utf-8").strip()
    if kept != _storage_text(url):
        wanted = ("leave out --storage" if kept == "journal"
                  else f"pass --storage {kept.split(' ', 1)[1]} (with its password)")
        raise ConvolabError(f"study {study_dir} was made with its trials in {kept}; {wanted} "
                            f"to continue it, or use another --study")


def record_storage(study_dir: Path, url: str | None) -> None:
    """Note in the study folder where its trials are kept (see check_same_storage)."""
    from ..atomic import write_text

    if not (study_dir / STORAGE_FILE).is_file():
        write_text(study_dir / STORAGE_FILE, _storage_text(url) + "\n")


def open_storage(study_dir: Path, url: str | None):
    """The Optuna storage of a study: its journal file, or the database at `url`."""
    import optuna

    if url is None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(
            JournalFileBackend(str(study_dir / JOURNAL_FILE)))
    try:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except Exception as exc:  # two workers creating the tables at once: one wins
            if "already exists" not in str(exc):
                raise
            time.sleep(1.0)
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except ImportError:
        raise ConvolabError(f"--storage {redact(url)}: the database driver is not installed; "
                            f"pip install one for {urlsplit(url).scheme} (PostgreSQL: "
                            f"'psycopg[binary]', MySQL: PyMySQL)") from None
    except Exception as exc:  # SQLAlchemy's OperationalError and friends
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        raise ConvolabError(f"--storage {redact(url)} cannot be reached ({reason}); start the "
                            f"server or fix the URL") from None


def _engine_kwargs(url: str) -> dict:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 5}}
    return {}


def _machine() -> str:
    """This machine (or container): its host name and machine id, where it has one."""
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()[:12]
    except OSError:
        machine_id = ""
    return f"{socket.gethostname()}/{machine_id}" if machine_id else socket.gethostname()


def worker_id() -> str:
    """`host[/machine-id]:pid` of this process."""
    return f"{_machine()}:{os.getpid()}"


def _process_dead(worker: str) -> bool:
    """True when `worker` names a process on this machine that no longer runs."""
    machine, _, pid = worker.rpartition(":")
    if machine != _machine() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(0); its state says it is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def is_stale(trial, now: float, grace: float) -> bool:
    """Whether a RUNNING `trial` (a FrozenTrial) has lost its worker."""
    worker = trial.user_attrs.get(WORKER_ATTR, "")
    if worker and _process_dead(worker):
        return True
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    if beat is None and trial.datetime_start is not None:
        beat = trial.datetime_start.timestamp()
    return beat is not None and now - float(beat) > grace


def requeue_stale_trials(study, grace: float = DEFAULT_GRACE_SECONDS) -> list[int]:
    """Mark the study's stale running trials failed, queue each again; their numbers."""
    from optuna.trial import TrialState

    now = time.time()
    return [trial.number
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if is_stale(trial, now, grace) and fail_and_requeue(study, trial)]


def fail_and_requeue(study, trial) -> bool:
    """Mark a running `trial` (FrozenTrial) failed and queue its parameters again, keeping
    its run directory so the new trial resumes it. False if it had finished meanwhile."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        if study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL) is False:
            return False
    except UpdateFinishedTrialError:
        return False  # another worker (or the trial itself) finished it first
    attrs = {RETRY_OF_ATTR: trial.number}
    if RUN_DIR_ATTR in trial.user_attrs:
        attrs[RUN_DIR_ATTR] = trial.user_attrs[RUN_DIR_ATTR]
    study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
    return True


class Heartbeat:
    """Record `trial`'s worker now and a heartbeat every `interval` seconds until closed.

    `on_orphan` runs (in the heartbeat thread) if the process that started this one dies,
    so that workers do not outlive a killed `convolab tune`.
    """

    def __init__(self, trial, interval: float = HEARTBEAT_SECONDS, on_orphan=None):
        self.trial = trial
        self.interval = interval
        self.on_orphan = on_orphan
        self._parent = os.getppid()
        self._stop = threading.Event()
        trial.set_user_attr(WORKER_ATTR, worker_id())
        trial.set_user_attr(HEARTBEAT_ATTR, time.time())
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            if self.on_orphan is not None and os.getppid() != self._parent:
                self.on_orphan()
                return
            try:
                self.trial.set_user_attr(HEARTBEAT_ATTR, time.time())
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def close(self) -> None:
        """Stop beating (the trial has ended)."""
        self._stop.set()
        self._thread.join()


def seconds_of(trial) -> float | None:
    """How long a finished trial ran, in seconds."""
    start, end = trial.datetime_start, trial.datetime_complete
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return (end - start).total_seconds()
