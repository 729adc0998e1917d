"""Shared parts of the time-to-accuracy harness: a pausable clock and the eval log.

Every contender (Keras or plain PyTorch) trains under a `TrainClock`: the clock runs from
the first training step and is paused while the test set is evaluated, so the seconds it
reports are training seconds only, the same way for every contender. It also keeps the
process's CPU seconds (all threads) over the same windows: time in which the machine stood
still adds wall seconds but no CPU seconds.
"""

from __future__ import annotations

import resource
import time


class TrainClock:
    """Training seconds (wall clock and process CPU) with the evaluation pauses taken out.

    Example:
        >>> clock = TrainClock()
        >>> clock.start(); clock.pause(); clock.seconds() < 1.0, clock.cpu_seconds() < 1.0
        (True, True)
    """

    def __init__(self):
        self._total = self._cpu_total = 0.0
        self._since: float | None = None
        self._cpu_since = 0.0

    def start(self) -> None:
        if self._since is None:
            self._since, self._cpu_since = time.perf_counter(), time.process_time()

    def pause(self) -> None:
        if self._since is not None:
            self._total += time.perf_counter() - self._since
            self._cpu_total += time.process_time() - self._cpu_since
            self._since = None

    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._total + running

    def cpu_seconds(self) -> float:
        running = time.process_time() - self._cpu_since if self._since is not None else 0.0
        return self._cpu_total + running


class EvalLog:
    """Test accuracy after a number of training images, with the training seconds so far.

    `record` pauses the clock, calls `accuracy()` and restarts the clock, so evaluation never
    counts as training time. `stop_at`: the contender may stop once it reaches this accuracy.
    """

    def __init__(self, clock: TrainClock, stop_at: float | None = None):
        self.clock = clock
        self.stop_at = stop_at
        self.points: list[dict] = []

    def record(self, images_seen: int, epoch: float, accuracy) -> float:
        self.clock.pause()
        acc = float(accuracy())
        self.points.append({"seconds": round(self.clock.seconds(), 3),
                            "cpu_seconds": round(self.clock.cpu_seconds(), 3),
                            "images": int(images_seen), "epoch": round(float(epoch), 3),
                            "test_accuracy": acc})
        self.clock.start()
        return acc

    def reached_stop(self) -> bool:
        """True once the last recorded accuracy is at or above `stop_at`."""
        return bool(self.stop_at is not None and self.points
                    and self.points[-1]["test_accuracy"] >= self.stop_at)


def time_to(points: list[dict], threshold: float) -> float | None:
    """Training seconds at the first eval point with test accuracy >= threshold, else None."""
    for p in points:
        if p["test_accuracy"] >= threshold:
            return p["seconds"]
    return None


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
