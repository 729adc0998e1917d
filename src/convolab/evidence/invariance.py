"""Test accuracy of trained runs when the test images are shifted, rotated or scaled.

Convolution shares weights across positions and pooling forgives small moves, but neither
makes a CNN invariant to large shifts, rotations or size changes; augmentation teaches some
of that. `measure_invariance` measures it: a seeded subset of each run's test set is
transformed (`transforms.transform_images`, new pixels 0) and classified with `Run.predict`
at every setting of three sweeps. For a shift of k pixels the images take turns at the
four directions (image i goes right, left, down or up as i mod 4), so one pass over the
subset measures all four; the accuracy of each direction is recorded too.

    >>> result = measure_invariance(["runs/plain", "runs/augmented"])   # doctest: +SKIP
    >>> result.runs[0]["rotation"][0]                                    # doctest: +SKIP
    {'degrees': -60.0, 'accuracy': 0.39}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic
from ..errors import ConvolabError
from ..progress import Progress
from .tables import markdown_table

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SAMPLES = 2000
DEFAULT_SHIFTS = tuple(range(9))  # pixels
DEFAULT_ANGLES = tuple(range(-60, 61, 10))  # degrees
DEFAULT_SCALES = tuple(round(0.5 + 0.1 * i, 1) for i in range(11))  # 0.5 .. 1.5
#: The directions of a shift, name -> (dx, dy) per pixel; test image i takes the i mod 4th.
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
JSON_FILE = "invariance.json"
MARKDOWN_FILE = "invariance.md"
PLOT_FILE = "invariance.png"
#: (results key, setting key, table header) of each sweep, in plotting order.
SWEEPS = (("shift", "pixels", "shift (px)"), ("rotation", "degrees", "rotation (deg)"),
          ("scale", "factor", "scale"))


@dataclass
class InvarianceResult:
    """What `measure_invariance` measured and where it wrote it."""

    out: Path  # folder holding invariance.json, invariance.md, invariance.png
    samples: int  # test images asked for per run (0 = all); each run's count is in runs
    seed: int  # seed of the test subset
    runs: list[dict]  # per run: run, label, dataset, plain_accuracy, shift, rotation, scale

    def to_dict(self) -> dict:
        return {"samples": self.samples, "seed": self.seed,
                "directions": {name: list(step) for name, step in DIRECTIONS.items()},
                "runs": self.runs}

    def table(self, sweep: str) -> tuple[list[str], list[list[str]]]:
        """(headers, rows) of one sweep: one row per setting, one column per run."""
        _, key, header = next(s for s in SWEEPS if s[0] == sweep)
        headers = [header] + [run["label"] for run in self.runs]
        rows = [[f"{point[key]:g}"] + [f"{run[sweep][i]['accuracy']:.2%}" for run in self.runs]
                for i, point in enumerate(self.runs[0][sweep])]
        return headers, rows

    def to_markdown(self) -> str:
        counts = sorted({run["test_images"] for run in self.runs})
        images = f"{counts[0]} test images" if len(counts) == 1 else "a test subset"
        parts = [(f"Test accuracy on {images} per run (subset seed {self.seed}); for a "
                  f"shift a quarter of the images moves right, left, down and up each.\n")]
        for sweep, _, _ in SWEEPS:
            parts.append(f"\n### {sweep}\n\n" + markdown_table(*self.table(sweep)))
        return "".join(parts)


def sample_subset(x: np.ndarray, y: np.ndarray, samples: int, seed: int):
    """`samples` images drawn without replacement (seeded, in test-set order); 0 = all."""
    import numpy as np

    if samples == 0 or samples >= len(y):
        return x, y
    chosen = np.sort(np.random.default_rng(seed).choice(len(y), size=samples, replace=False))
    return x[chosen], y[chosen]


def correct(run, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether `run` classifies each image right: (N,) bool."""
    return run.predict(images).argmax(axis=1) == labels


def shifted_four_ways(x: np.ndarray, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i shifted by `pixels` in direction i mod 4 (right, left, down, up).

    Returns (images, direction index per image): one pass covers all four directions.
    """
    import numpy as np

    from .transforms import transform_images

    direction = np.arange(len(x)) % len(DIRECTIONS)
    images = np.empty(x.shape, dtype="float32")
    for d, (dx, dy) in enumerate(DIRECTIONS.values()):
        images[direction == d] = transform_images(x[direction == d],
                                                  shift=(pixels * dx, pixels * dy))
    return images, direction


def measure_run(run, x: np.ndarray, y: np.ndarray, shifts, angles, scales,
                on_view=None) -> dict:
    """The three sweeps of one run on the images `x` with labels `y`; `on_view()` is called
    after each transformed test set is scored."""
    from .transforms import transform_images

    def scored(images, labels):
        ok = correct(run, images, labels)
        if on_view is not None:
            on_view()
        return ok

    shift_rows = []
    for k in shifts:
        images, direction = shifted_four_ways(x, k)
        ok = scored(images, y)
        by_direction = {name: float(ok[direction == d].mean()) if (direction == d).any()
                        else None for d, name in enumerate(DIRECTIONS)}
        shift_rows.append({"pixels": int(k), "accuracy": float(ok.mean()),
                           "by_direction": by_direction})
    return {
        "plain_accuracy": float(scored(x, y).mean()),
        "shift": shift_rows,
        "rotation": [{"degrees": float(a),
                      "accuracy": float(scored(transform_images(x, angle=a), y).mean())}
                     for a in angles],
        "scale": [{"factor": float(f),
                   "accuracy": float(scored(transform_images(x, scale=f), y).mean())}
                  for f in scales],
    }


def _labels(paths: list[Path]) -> list[str]:
    """Each run's folder name, or its whole path where two folder names are the same."""
    names = [p.name for p in paths]
    return [p.name if names.count(p.name) == 1 else str(p) for p in paths]


def default_out(run_dirs: list) -> Path:
    """RUN_DIR/invariance for one run; runs/invariance-<time> for several."""
    if len(run_dirs) == 1:
        return Path(run_dirs[0]) / "invariance"
    return Path("runs") / f"invariance-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _check(samples: int, shifts, angles, scales) -> tuple[list, list, list]:
    if samples < 0:
        raise ConvolabError(f"--samples must be 0 (all test images) or a positive number, "
                            f"got {samples}")
    if any(k < 0 or k != int(k) for k in shifts):
        raise ConvolabError(f"--shifts are whole pixel distances and must be >= 0, got "
                            f"{list(shifts)}; the direction is taken care of (right, left, "
                            f"down, up)")
    if any(s <= 0 for s in scales):
        raise ConvolabError(f"--scales are size factors and must be > 0, got {list(scales)}")
    return (sorted({int(k) for k in shifts}), sorted({float(a) for a in angles}),
            sorted({float(s) for s in scales}))


def measure_invariance(run_dirs: list, *, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                       shifts=DEFAULT_SHIFTS, angles=DEFAULT_ANGLES, scales=DEFAULT_SCALES,
                       out=None) -> InvarianceResult:
    """Measure every run's accuracy under each shift, rotation and scale; write the results.

    Writes invariance.json, invariance.md and invariance.png (three panels, one line per
    run) into `out` (default: see `default_out`) and returns them as an InvarianceResult.
    """
    from ..run import Run
    from .plots import plot_invariance

    if not run_dirs:
        raise ConvolabError("invariance needs at least one run directory")
    shifts, angles, scales = _check(samples, shifts, angles, scales)
    runs = [Run.load(path) for path in run_dirs]  # every run checked before any work
    results, test_sets = [], {}
    views = len(shifts) + len(angles) + len(scales) + 1
    with Progress(len(runs) * views, "invariance: transformed test sets") as progress:
        for run, label in zip(runs, _labels([r.path for r in runs])):
            name = run.config.data.name
            if name not in test_sets:
                ds = run.test_set()
                test_sets[name] = sample_subset(ds.x_test, ds.y_test, samples, seed)
            x, y = test_sets[name]
            results.append({"run": str(run.path), "label": label, "dataset": name,
                            "test_images": len(y),
                            **measure_run(run, x, y, shifts, angles, scales,
                                          on_view=progress.advance)})
    out = Path(out) if out else default_out(run_dirs)
    result = InvarianceResult(out=out, samples=samples, seed=seed, runs=results)
    atomic.write_json(out / JSON_FILE, result.to_dict())
    atomic.write_text(out / MARKDOWN_FILE, result.to_markdown())
    plot_invariance(result.runs, out / PLOT_FILE)
    return result
