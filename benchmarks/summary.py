"""How the benchmarks summarise repeated measurements: median, min and max."""

from __future__ import annotations

import statistics


def spread(values: list[float]) -> dict | None:
    """{"median", "min", "max"} of `values`; None when there are none."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def machine(env: dict) -> str:
    """The CPU as the tables name it: model, family/model numbers, cores, vector extensions."""
    ident = f" (family/model {env['cpu_family_model']})" if env.get("cpu_family_model") else ""
    features = ", ".join(env.get("cpu_features") or []) or "none recorded"
    return f"{env['cpu']}{ident}, {env['cpu_count']} cores, vector extensions: {features}"
