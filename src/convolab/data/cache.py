"""The local dataset cache and its cheap sha256 verification.

Each dataset has a folder `cache_dir()/NAME/` holding its files and a small stamp file,
`verified.json`, that records the size, modification time and sha256 of every file once
it has been hashed. A later check re-hashes a file only when its size or mtime changed,
so verifying on every load costs a few `stat` calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import write_json
from .sources import sha256_file

#: Name of the stamp file kept in each dataset's cache folder.
STAMP_NAME = "verified.json"


def cache_dir() -> Path:
    """The cache root: `$CONVOLAB_HOME` if set, else `~/.cache/convolab`."""
    home = os.environ.get("CONVOLAB_HOME", "").strip()
    return Path(home).expanduser() if home else Path.home() / ".cache" / "convolab"


def _read_stamp(folder: Path) -> dict:
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def record_file(path: Path, sha256: str) -> None:
    """Remember that `path` (as it is now on disk) has hash `sha256`.

    The stamp only saves time: in a read-only cache it is skipped and files are re-hashed.
    """
    stat = path.stat()
    stamp = _read_stamp(path.parent)
    stamp[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    try:
        write_json(path.parent / STAMP_NAME, stamp)
    except OSError:
        pass


def check_file(path: Path, sha256: str) -> str | None:
    """None if `path` exists with hash `sha256`; else the problem, e.g. "missing".

    A file whose hash is wrong (truncated, corrupted) is deleted so it is fetched again.
    """
    if not path.is_file():
        return "missing"
    stat = path.stat()
    entry = _read_stamp(path.parent).get(path.name)
    if (isinstance(entry, dict) and entry.get("sha256") == sha256
            and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns):
        return None
    if sha256_file(path) == sha256:
        record_file(path, sha256)
        return None
    path.unlink()
    return f"{path.name} failed its sha256 check (truncated or corrupted) and was deleted"
