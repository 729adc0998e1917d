"""How the benchmarks summarise repeated measurements: median, min and max."""

from __future__ import annotations

import statistics


def spread(values: list[float]) -> dict | None:
    """{"median", "min", "max"} of `values`; None when there are none."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
