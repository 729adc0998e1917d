"""Where a command's seconds go: named phases measured one after another."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds of consecutive named phases; `lap(name)` closes the phase that just ran.

    Example:
        >>> watch = Stopwatch()
        >>> watch.lap("data"); sorted(watch.phases())
        ['data', 'total']
    """

    def __init__(self):
        self._start = self._last = time.perf_counter()
        self._phases: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._phases[name] = self._phases.get(name, 0.0) + now - self._last
        self._last = now

    def phases(self) -> dict[str, float]:
        """{phase: seconds, ..., "total": seconds since the start}, rounded to 0.01."""
        out = {name: round(s, 2) for name, s in self._phases.items()}
        out["total"] = round(time.perf_counter() - self._start, 2)
        return out
