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


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": _accelerators(backend),
    }
