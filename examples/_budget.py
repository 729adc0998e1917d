"""How big an example runs, and where it writes. Every example imports this.

    CONVOLAB_EXAMPLE_BUDGET   unset or "full": the real story, minutes on a 2-core CPU;
                              "tiny": the same code on a few hundred images for an epoch or
                              two, seconds after the imports, checked against a smaller
                              figure (the tests run every example this way)
    CONVOLAB_EXAMPLE_OUT      the folder the examples write into (default runs/examples);
                              each run of an example gets a new sub-folder there

    from _budget import pick, output_dir
    epochs = pick(full=6, tiny=1)
    out = output_dir("01_sequential_functional")
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BUDGETS = ("full", "tiny")
DEFAULT_OUT = "runs/examples"


def budget() -> str:
    """"full" or "tiny", from CONVOLAB_EXAMPLE_BUDGET (unset or empty means "full")."""
    value = os.environ.get("CONVOLAB_EXAMPLE_BUDGET", "").strip().lower() or "full"
    if value not in BUDGETS:
        raise SystemExit(f"CONVOLAB_EXAMPLE_BUDGET must be full or tiny, got {value!r}")
    return value


def pick(full, tiny):
    """`full` at the full budget, `tiny` at the tiny one."""
    return tiny if budget() == "tiny" else full


def output_dir(example: str) -> Path:
    """A new, empty folder for this run of `example` under CONVOLAB_EXAMPLE_OUT."""
    root = Path(os.environ.get("CONVOLAB_EXAMPLE_OUT", "").strip() or DEFAULT_OUT)
    stem = f"{example}-{budget()}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = root / stem, 1
    while path.exists():
        n += 1
        path = root / f"{stem}-{n}"
    path.mkdir(parents=True)
    return path
