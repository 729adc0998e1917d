"""Progress of long work that is not training (downloads, sweeps, ablations), on stderr.

On a terminal a bar is redrawn in place; in a file or a CI log a line is written at every
tenth of the way (every item when there are at most 20), so a log stays short; with
`set_quiet(True)` (the CLI's `--quiet`) nothing is written. Training's own progress (a
Keras bar, or one line per epoch) is chosen the same way in `training.py`.

    with Progress(len(runs), "invariance") as progress:
        for run in runs:
            ...
            progress.advance()
"""

from __future__ import annotations

import sys
import time

_QUIET = False
#: Seconds between two redraws of a live bar.
REDRAW_EVERY = 0.1
BAR_WIDTH = 24


def set_quiet(quiet: bool) -> None:
    """Turn every Progress of this process off (True) or back on."""
    global _QUIET
    _QUIET = bool(quiet)


class Progress:
    """Progress through `total` units of work called `label`.

    Args:
        total: units of work in all (items, bytes...); None when unknown.
        label: what is being done, e.g. "invariance sweeps" or "mnist.npz".
        unit: a word after the counts, e.g. "MB". Defaults to "".
        scale: the counts are divided by it for display (e.g. 1e6 for bytes as MB).
        stream: where to write. Defaults to sys.stderr.
    """

    def __init__(self, total: float | None, label: str, *, unit: str = "", scale: float = 1.0,
                 stream=None):
        self.total, self.label, self.unit, self.scale = total, label, unit, scale
        self.stream = stream or sys.stderr
        self.done = 0.0
        self.enabled = not _QUIET
        self.live = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._next_line = 1
        self._closed = False

    def _counts(self) -> str:
        done = self.done / self.scale
        fmt = "{:.0f}" if self.scale == 1 else "{:.1f}"
        text = fmt.format(done)
        if self.total:
            text += "/" + fmt.format(self.total / self.scale)
        return text + (f" {self.unit}" if self.unit else "")

    def _write_line(self) -> None:
        elapsed = time.perf_counter() - self._start
        percent = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        self.stream.write(f"{self.label}: {self._counts()}{percent}, {elapsed:.1f} s\n")
        self.stream.flush()

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self._start
        if self.total:
            filled = int(BAR_WIDTH * min(1.0, self.done / self.total))
            bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        else:
            bar = ""
        self.stream.write(f"\r{self.label} {bar}{self._counts()} {elapsed:.1f} s")
        self.stream.flush()
        self._last_draw = time.perf_counter()

    def advance(self, amount: float = 1.0) -> None:
        """Record `amount` more units done."""
        self.done += amount
        if not self.enabled:
            return
        if self.live:
            if time.perf_counter() - self._last_draw >= REDRAW_EVERY:
                self._draw()
            return
        if not self.total:
            return
        steps = 10 if self.total > 20 else int(self.total)
        while self._next_line <= steps and self.done >= self.total * self._next_line / steps:
            self._next_line += 1
            if self.done < self.total:  # the last line is written by close()
                self._write_line()

    def close(self) -> None:
        """The final state: the bar completed and ended, or the last line."""
        if self._closed or not self.enabled:
            self._closed = True
            return
        self._closed = True
        if self.live:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._write_line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
