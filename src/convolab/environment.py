"""Where a run came from: versions, backend, hardware, seed and command line."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


#: The vector extensions that decide how fast convolutions run on a CPU (oneDNN picks its
#: kernels by them): two machines both called "AMD EPYC" can differ 1.9-3.3x on the same recipe.
VECTOR_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                   "amx_tile", "asimd", "sve")


def _cpu_info(path: str = "/proc/cpuinfo") -> dict:
    """Model name, family/model numbers and vector extensions of the first CPU listed."""
    fields: dict[str, str] = {}
    try:
        with open(path) as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    family, model = fields.get("cpu family"), fields.get("model")
    return {
        "cpu": fields.get("model name") or platform.processor() or platform.machine(),
        "cpu_family_model": f"{family}/{model}" if family and model else None,
        "cpu_features": [f for f in VECTOR_FEATURES if f in flags],
    }


def _accelerators(backend: str) -> list[str]:
    """GPU devices the active Keras backend sees (empty on a CPU-only machine)."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # the environment record must never break a run
        return []
    return []


def _onednn(backend: str) -> bool | None:
    """Whether TensorFlow's oneDNN custom operations were on (None: not TensorFlow/unknown)."""
    from .native_logs import STARTUP_LINES

    if backend != "tensorflow":
        return None
    if any("oneDNN custom operations are on" in line for line in STARTUP_LINES):
        return True
    flag = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return {"1": True, "0": False}.get(flag or "")


def describe_environment(seed: int, argv: list[str] | None = None) -> dict:
    """A JSON-able record of the software and hardware a run used."""
    import keras

    backend = keras.backend.backend()
    packages = ["convolab", "keras", "numpy", "tensorflow", "tensorflow-cpu", "jax", "torch",
                "pillow", "scikit-learn"]
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": list(sys.argv if argv is None else argv),
        "seed": seed,
        "backend": backend,
        "python": platform.python_version(),
        "versions": {p: v for p in packages if (v := _version(p))},
        "platform": platform.platform(),
        **_cpu_info(),
        "cpu_count": os.cpu_count(),
        "gpus": _accelerators(backend),
        "onednn": _onednn(backend),
        "native_startup_log": _startup_lines(),
    }


def _startup_lines() -> list[str]:
    """TensorFlow's start-up log lines that were kept off stderr (see native_logs.py)."""
    from .native_logs import STARTUP_LINES

    return list(STARTUP_LINES)
