"""Write files and directories so that a kill never leaves a half-written one.

Files go to a temporary sibling and are moved into place with `os.replace` (atomic on POSIX).
Folders (`atomic_dir`) are built as `<name>.partial/` and renamed when complete; a run
directory is built the same way (see `training.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `target` (same suffixes); move it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep every suffix (".weights.h5", ".keras"): Keras checks them when saving.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + "".join(target.suffixes),
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual file mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield `<target>.partial` (not yet created); move it onto `target` on success.

    On an exception the partial folder is removed and `target` is left as it was. An
    existing `target` is replaced only once the new folder is complete.
    """
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove(partial)  # a leftover from an attempt that was killed
    try:
        yield partial
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            _remove(old)
            os.replace(target, old)
        os.replace(partial, target)
        _remove(old)
    finally:
        _remove(partial)


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Atomically write `data` to `target`."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    """Atomically write `text` (UTF-8) to `target`."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj) -> None:
    """Atomically write `obj` as indented JSON."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")
