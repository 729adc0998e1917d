"""convolab: train, evaluate and use Keras convolutional networks on real data, fast.

    >>> import convolab
    >>> run = convolab.train({"data": {"train_samples": 2000}, "train": {"epochs": 1}})  # doctest: +SKIP
    >>> run.evaluate()["test_accuracy"]                                                  # doctest: +SKIP

The public names load their modules on first use, so `import convolab` and the CLI start
fast; Keras is imported only when a model is needed.
"""

from __future__ import annotations

import importlib
import os

# TensorFlow leaves its oneDNN CPU kernels off on processors without AVX-512 (AMD, older
# Intel). On a 2-core AMD EPYC they trained the `fast` CNN 3.4x, `best` 2x and `seed-cnn`
# 1.25x faster (an MLP 1.5x slower); see docs/backends.md. Only a default:
# it acts if TensorFlow is not imported yet, and TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# CONVOLAB_CPU_DEVICES=N splits the CPU into N devices for `--distribute` (distribute.py);
# JAX reads its flag once, when it is imported, so it is set here.
if os.environ.get("CONVOLAB_CPU_DEVICES", "").strip().isdigit() and \
        int(os.environ["CONVOLAB_CPU_DEVICES"]) > 0:
    from .distribute import xla_flags_with_cpu_devices

    os.environ["XLA_FLAGS"] = xla_flags_with_cpu_devices(
        os.environ.get("XLA_FLAGS", ""), int(os.environ["CONVOLAB_CPU_DEVICES"]))

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "train": "convolab.training",
    "Run": "convolab.run",
    "Config": "convolab.config",
    "resolve_config": "convolab.config",
    "load_dataset": "convolab.data",
    "list_datasets": "convolab.data",
    "fetch_dataset": "convolab.data",
    "create_model": "convolab.models",
    "list_models": "convolab.models",
    "compute_metrics": "convolab.evaluate",
    "export_run": "convolab.export",
    "ConvolabError": "convolab.errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'convolab' has no attribute {name!r}")
