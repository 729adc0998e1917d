"""Read a PyTorch state dict (`.pth`) into NumPy arrays without torch.

Two layouts exist. The *legacy* one (torch < 1.6, or `_use_new_zipfile_serialization=False`)
is five pickles in a row -- magic number, protocol, system info, the object, the list of
storage keys -- followed by each storage as an int64 element count and its raw bytes. The
*zip* one holds `data.pkl` and one `data/KEY` member per storage. In both, the object's
pickle names each tensor's storage by a persistent id, and rebuilds the tensor with
`torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, ...)`.

The unpickler here allows only those few names (a state dict of plain tensors), so a file
cannot run code; every tensor comes back as a NumPy copy of its own dtype (float32 weights
stay float32).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConvolabError

#: The first pickle of a legacy file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}

# What a truncated or corrupted pickle raises while it is read.
_READ_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
                KeyError, AttributeError, UnicodeDecodeError, struct.error, zipfile.BadZipFile,
                RecursionError)


class _Corrupt(Exception):
    """Raised inside the reader; turned into one ConvolabError line naming the file."""


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_DTYPES[name])


class _Storage:
    """One storage: its element type and count now, its array once the bytes are read."""

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype, self.numel, self.array = dtype, int(numel), None


class _TensorRef:
    """A tensor waiting for its storage's bytes: a strided view into it."""

    def __init__(self, storage, offset, shape, stride):
        if not isinstance(storage, _Storage):
            raise _Corrupt("a tensor refers to something that is not a storage")
        self.storage, self.offset = storage, int(offset)
        self.shape, self.stride = tuple(int(s) for s in shape), tuple(int(s) for s in stride)

    def to_numpy(self) -> np.ndarray:
        flat, item = self.storage.array, self.storage.dtype.itemsize
        if any(n == 0 for n in self.shape):
            return np.zeros(self.shape, self.storage.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size:
            raise _Corrupt("a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.shape, strides=[s * item for s in self.stride])
        return np.array(view)  # a copy that owns its memory


def _rebuild_tensor(storage, offset, shape, stride, *_ignored):
    return _TensorRef(storage, offset, shape, stride)


def _rebuild_parameter(data, *_ignored):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    """Allows only a state dict's names; storages come from `storages` by key."""

    def __init__(self, fh, storages: dict[str, _Storage]):
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise _Corrupt(f"it holds {module}.{name}, not just a state dict of tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")):
            raise _Corrupt(f"unknown persistent id {str(pid)[:40]}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise _Corrupt("a storage of an unknown type")
        if len(pid) > 5 and pid[5] is not None:
            raise _Corrupt("storage views (torch < 0.4) are not supported")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def _state_dict(obj) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise _Corrupt(f"it holds a {type(obj).__name__}, not a state dict (name -> tensor)")
    out = {}
    for name, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise _Corrupt(f"entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value.to_numpy()
    return out


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    fh = io.BytesIO(data)
    storages: dict[str, _Storage] = {}
    if _Unpickler(fh, storages).load() != LEGACY_MAGIC:
        raise _Corrupt("it does not start with torch's magic number")
    _Unpickler(fh, storages).load()  # protocol version
    info = _Unpickler(fh, storages).load()
    if isinstance(info, dict) and info.get("little_endian") is False:
        raise _Corrupt("it was written on a big-endian machine")
    obj = _Unpickler(fh, storages).load()
    keys = _Unpickler(fh, storages).load()
    view = memoryview(data)
    pos = fh.tell()
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise _Corrupt(f"storage {key} is listed but never used")
        if pos + 8 > len(data):
            raise _Corrupt(f"it ends before storage {key}")
        (numel,) = struct.unpack_from("<q", data, pos)
        nbytes = numel * storage.dtype.itemsize
        if numel != storage.numel or pos + 8 + nbytes > len(data):
            raise _Corrupt(f"it ends inside storage {key}" if numel == storage.numel
                           else f"storage {key} has {numel} elements, expected {storage.numel}")
        storage.array = np.frombuffer(view[pos + 8:pos + 8 + nbytes], dtype=storage.dtype)
        pos += 8 + nbytes
    if any(s.array is None for s in storages.values()):
        raise _Corrupt("a storage's bytes are missing")
    return _state_dict(obj)


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise _Corrupt("it is a zip file without one data.pkl (not a torch checkpoint)")
        prefix = pkl[0][:-len("data.pkl")]
        if prefix + "byteorder" in archive.namelist() \
                and archive.read(prefix + "byteorder").strip() != b"little":
            raise _Corrupt("it was written on a big-endian machine")
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(io.BytesIO(archive.read(pkl[0])), storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            nbytes = storage.numel * storage.dtype.itemsize
            if len(raw) < nbytes:
                raise _Corrupt(f"storage {key} is {len(raw)} bytes, expected {nbytes}")
            storage.array = np.frombuffer(raw[:nbytes], dtype=storage.dtype)
    return _state_dict(obj)


def parse_state_dict(data: bytes, name: str) -> dict[str, np.ndarray]:
    """The tensors of a `.pth` file's bytes; `name` is the file named in errors."""
    try:
        if data[:4] == b"PK\x03\x04":
            return _read_zip(data)
        return _read_legacy(data)
    except _Corrupt as exc:
        raise ConvolabError(f"{name} cannot be read as a PyTorch state dict: {exc}; "
                            f"fetch the file again (it may be truncated or corrupt)")
    except _READ_ERRORS as exc:
        raise ConvolabError(f"{name} is truncated or corrupt ({type(exc).__name__}: "
                            f"{str(exc)[:80]}); fetch the file again")


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of the PyTorch state dict at `path` (legacy or zip layout), by name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConvolabError(f"{path}: cannot read the PyTorch weights file ({exc.strerror}); "
                            f"check the path")
    return parse_state_dict(data, str(path))
