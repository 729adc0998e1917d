"""Data-parallel training: each batch split across the local devices (`--distribute`).

On TensorFlow, `tf.distribute.MirroredStrategy` over the GPUs (or the CPU devices when
there are none), or `MultiWorkerMirroredStrategy` when `TF_CONFIG` describes several hosts.
On JAX, `keras.distribution.DataParallel` over `keras.distribution.list_devices()`, after
`keras.distribution.initialize()` when the `KERAS_DISTRIBUTION_*` variables describe
several hosts. Each device computes the gradient of its share of the batch; the shares are
averaged, so the update is the one of the whole batch on one device.

`CONVOLAB_CPU_DEVICES=N` splits the CPU into N devices, to try all this without GPUs (the
tests do): logical CPU devices on TensorFlow, `--xla_force_host_platform_device_count` on
JAX (set when convolab is imported, before JAX is).
"""

from __future__ import annotations

import contextlib
import os

from .errors import ConvolabError

CPU_DEVICES_VARIABLE = "CONVOLAB_CPU_DEVICES"


def cpu_devices_requested() -> int | None:
    """N from CONVOLAB_CPU_DEVICES, or None when it is not set."""
    text = os.environ.get(CPU_DEVICES_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConvolabError(f"{CPU_DEVICES_VARIABLE} must be a positive number of devices, "
                            f"got {text!r}")
    return int(text)


def xla_flags_with_cpu_devices(flags: str, count: int) -> str:
    """XLA_FLAGS asking JAX for `count` host devices (unless the flags already say)."""
    if "xla_force_host_platform_device_count" in flags:
        return flags
    return f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _tensorflow_strategy():
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        count = cpu_devices_requested()
        cpus = tf.config.list_physical_devices("CPU")
        # Listing logical devices would start TensorFlow's runtime: configure first.
        if count and count > 1 and tf.config.get_logical_device_configuration(cpus[0]) is None:
            try:
                tf.config.set_logical_device_configuration(
                    cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
            except RuntimeError:
                raise ConvolabError(f"{CPU_DEVICES_VARIABLE}={count} came too late: "
                                    f"TensorFlow had started; set it before the command")
    kind = "GPU" if gpus else "CPU"
    devices = [d.name for d in tf.config.list_logical_devices(kind)]
    return tf.distribute.MirroredStrategy(devices=devices)


@contextlib.contextmanager
def _jax_data_parallel():
    import keras

    devices = keras.distribution.list_devices()
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


class DataParallel:
    """Where a model is built, compiled and trained data-parallel (or plainly, if off).

    Args:
        enabled: split each batch across the devices; False leaves training as it is.

    Example:
        >>> with DataParallel(True) as parallel:  # doctest: +SKIP
        ...     model = build(); model.compile(...); model.fit(...)
        >>> parallel.describe()  # doctest: +SKIP
        {'backend': 'tensorflow', 'strategy': 'MirroredStrategy', 'devices': 2}
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.devices = 1
        self.strategy_name = None
        self._context = contextlib.nullcontext()

    def __enter__(self):
        if not self.enabled:
            return self
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            strategy = _tensorflow_strategy()
            self.devices = strategy.num_replicas_in_sync
            self.strategy_name = type(strategy).__name__
            self._context = strategy.scope()
        elif backend == "jax":
            if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
                keras.distribution.initialize()  # before anything starts JAX's backend
            self.devices = len(keras.distribution.list_devices())
            self.strategy_name = "DataParallel"
            self._context = _jax_data_parallel()
        else:
            raise ConvolabError(f"--distribute works on the tensorflow and jax backends, not "
                                f"{backend}; set KERAS_BACKEND=tensorflow or jax, or train "
                                f"without --distribute")
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def check_batch(self, batch_size: int) -> None:
        """Refuse a batch that the devices cannot share equally."""
        if self.enabled and batch_size % self.devices:
            raise ConvolabError(f"train.batch_size {batch_size} cannot be split across "
                                f"{self.devices} devices; make it a multiple of "
                                f"{self.devices}")

    def describe(self) -> dict | None:
        """What metrics.json records; None when training was not distributed."""
        if not self.enabled:
            return None
        import keras

        return {"backend": keras.backend.backend(), "strategy": self.strategy_name,
                "devices": self.devices}
