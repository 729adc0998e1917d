"""An ablation over the unit's regularizers: which of them helps, by how much, how surely.

Each variant x dataset x seed is one `convolab.train` run of the unit's CNN (`seed-cnn`,
the default recipe) with a small budget and a 10% validation split, in
`OUT/<dataset>-<variant>-seed<k>/`. The variants:

- `baseline`: nothing added;
- `dropout`: Dropout 0.25 before each Dense layer (`model.dropout`);
- `l2`: L2 1e-4 on every kernel (`model.l2`);
- `batchnorm`: BatchNormalization after every Conv2D and hidden Dense (`model.batchnorm`);
- `augment`: the unit's ImageDataGenerator parameters (rotation 10 degrees, width and
  height shifts 0.1, zoom 0.1, fill "nearest"); horizontal flips only on Fashion-MNIST
  (a mirrored digit is another digit, a mirrored shoe is still a shoe);
- `all`: all of the above.

A run whose folder already holds metrics.json is not trained again, and one that was
killed while training is resumed, so re-running with the same `out` finishes an
interrupted comparison. A finished run trained with another config is an error, never
silently reused.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from .. import atomic
from ..errors import ConvolabError, did_you_mean
from .tables import markdown_table

VARIANTS = ("baseline", "dropout", "l2", "batchnorm", "augment", "all")
DEFAULT_DATASETS = ("mnist", "fashion_mnist")
DEFAULT_SEEDS = 3
DEFAULT_EPOCHS = 3
DEFAULT_TRAIN_SAMPLES = 10000
VALIDATION_SPLIT = 0.1
DROPOUT = 0.25
L2 = 1e-4
#: The unit's ImageDataGenerator parameters (augment.py maps them to Keras layers).
AUGMENT = {"enabled": True, "rotation_range": 10.0, "width_shift_range": 0.1,
           "height_shift_range": 0.1, "zoom_range": 0.1, "shear_range": 0.0}
#: Datasets whose classes survive a mirror image, so augmentation flips them.
FLIP_DATASETS = ("fashion_mnist",)
JSON_FILE = "compare.json"
MARKDOWN_FILE = "compare.md"
PLOT_FILE = "compare.png"
TABLE_HEADERS = ["dataset", "variant", "test accuracy", "train - test gap", "train s", "runs"]


def variant_overrides(variant: str, dataset: str) -> dict:
    """The config overrides that make `variant` out of the baseline on `dataset`."""
    adds = {"dropout": {"model": {"dropout": DROPOUT}},
            "l2": {"model": {"l2": L2}},
            "batchnorm": {"model": {"batchnorm": True}},
            "augment": {"augment": {**AUGMENT, "horizontal_flip": dataset in FLIP_DATASETS}}}
    chosen = list(adds) if variant == "all" else [variant] if variant in adds else []
    out: dict = {}
    for name in chosen:
        for section, fields in adds[name].items():
            out.setdefault(section, {}).update(fields)
    return out


def run_config(dataset: str, variant: str, seed: int, epochs: int, train_samples: int | None,
               run_dir: Path):
    """The validated Config of one run of the comparison."""
    from ..config import resolve_config

    overrides = variant_overrides(variant, dataset)
    overrides.setdefault("model", {})["name"] = "seed-cnn"
    overrides["data"] = {"name": dataset, "train_samples": train_samples,
                         "validation_split": VALIDATION_SPLIT}
    overrides["train"] = {"epochs": epochs}
    overrides.update(seed=seed, out=str(run_dir))
    return resolve_config(overrides=overrides)


@dataclass
class CompareRun:
    """One trained (or reused) run of the comparison."""

    dataset: str
    variant: str
    seed: int
    path: str
    status: str  # "trained", "resumed" or "skipped" (already finished)
    test_accuracy: float  # metrics.json (the best epoch's model)
    train_accuracy: float  # history.csv, last epoch (running mean, regularizers active)
    train_seconds: float

    @property
    def gap(self) -> float:
        return self.train_accuracy - self.test_accuracy


@dataclass
class CompareResult:
    """The runs, the per-dataset-and-variant summary and where they were written."""

    out: Path
    settings: dict
    runs: list[CompareRun]
    summary: list[dict]

    def to_dict(self) -> dict:
        return {"settings": self.settings, "summary": self.summary,
                "runs": [{**asdict(r), "gap": r.gap} for r in self.runs]}

    def table_rows(self) -> list[list[str]]:
        return [[row["dataset"], row["variant"],
                 f"{100 * row['test_accuracy_mean']:.2f} ± {100 * row['test_accuracy_std']:.2f}%",
                 f"{100 * row['gap_mean']:+.2f} pp", f"{row['train_seconds_mean']:.1f}",
                 str(row["runs"])] for row in self.summary]

    def to_markdown(self) -> str:
        s = self.settings
        head = (f"seed-cnn; training images: {s['train_samples'] or 'all'} "
                f"({VALIDATION_SPLIT:.0%} held out for validation); epochs: {s['epochs']}; "
                f"seeds: {', '.join(map(str, s['seeds']))}. Mean ± std over seeds; the gap "
                f"is the last epoch's training accuracy (history.csv) minus the test "
                f"accuracy.\n\n")
        return head + markdown_table(TABLE_HEADERS, self.table_rows(), text_columns=2)


def summarize(runs: list[CompareRun]) -> list[dict]:
    """Mean and std over seeds per (dataset, variant), in the order the runs came."""
    from statistics import mean, stdev

    groups: dict[tuple[str, str], list[CompareRun]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.variant), []).append(run)
    rows = []
    for (dataset, variant), group in groups.items():
        acc = [r.test_accuracy for r in group]
        gaps = [r.gap for r in group]
        rows.append({"dataset": dataset, "variant": variant, "runs": len(group),
                     "test_accuracy_mean": mean(acc),
                     "test_accuracy_std": stdev(acc) if len(acc) > 1 else 0.0,
                     "gap_mean": mean(gaps), "gap_std": stdev(gaps) if len(gaps) > 1 else 0.0,
                     "train_seconds_mean": mean(r.train_seconds for r in group)})
    return rows


def default_out() -> Path:
    return Path("runs") / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_dir_name(dataset: str, variant: str, seed: int) -> str:
    safe = dataset.replace(":", "-").replace("/", "_").replace("\\", "_")[:40]
    return f"{safe}-{variant}-seed{seed}"


def _differences(saved: dict, wanted: dict, prefix: str = "") -> list[str]:
    """'key: saved != wanted' for each config field that differs ('out' ignored)."""
    diffs = []
    for key, value in wanted.items():
        if key == "out":
            continue
        if isinstance(value, dict):
            diffs += _differences(saved.get(key) or {}, value, f"{prefix}{key}.")
        elif saved.get(key) != value:
            diffs.append(f"{prefix}{key} {saved.get(key)!r} (wanted {value!r})")
    return diffs


def _check_same_config(path: Path, config_file: Path, config) -> None:
    """Refuse to reuse a run (finished or interrupted) trained with another config."""
    import yaml

    saved = yaml.safe_load(config_file.read_text()) or {}
    diffs = _differences(saved, config.to_dict())
    if diffs:
        raise ConvolabError(f"run {path} was trained with another config "
                            f"({'; '.join(diffs[:3])}); use another --out or delete that run")


def _check_inputs(datasets, variants, seeds: int, epochs: int, train_samples) -> None:
    if not datasets:
        raise ConvolabError("--datasets needs at least one dataset, e.g. mnist")
    if not variants:
        raise ConvolabError(f"--variants needs at least one of {', '.join(VARIANTS)}")
    for variant in variants:
        if variant not in VARIANTS:
            raise ConvolabError(f"unknown variant {variant!r}"
                                f"{did_you_mean(variant, VARIANTS)}; choose from "
                                f"{', '.join(VARIANTS)}")
    for flag, values in (("--datasets", datasets), ("--variants", variants)):
        if len(set(values)) != len(values):
            raise ConvolabError(f"{flag} lists a name twice ({' '.join(values)}); give each "
                                f"once")
    if seeds <= 0:
        raise ConvolabError(f"--seeds is the number of seeds per variant and must be >= 1, "
                            f"got {seeds}")
    if epochs <= 0:
        raise ConvolabError(f"--epochs must be a positive integer, got {epochs}")
    if train_samples is not None and train_samples <= 0:
        raise ConvolabError(f"--train-samples must be a positive number of images (or 0 for "
                            f"all), got {train_samples}")
    from ..data import load_dataset

    for name in datasets:  # an unknown name or a too small subset fails before any training
        load_dataset(name, validation_split=VALIDATION_SPLIT, train_samples=train_samples)


def _train_one(config, path: Path) -> str:
    """Train (or resume, or skip) the run at `path`; return what was done."""
    from ..callbacks import read_backup_state
    from ..run import CONFIG_FILE, METRICS_FILE, partial_dir
    from ..training import train

    if (path / METRICS_FILE).is_file():
        _check_same_config(path, path / CONFIG_FILE, config)
        return "skipped"
    work = partial_dir(path)
    if (work / CONFIG_FILE).is_file():
        _check_same_config(path, work / CONFIG_FILE, config)
        try:
            resumable = read_backup_state(work / "backup") is not None
        except (OSError, ValueError, KeyError):
            resumable = False
        if resumable:
            train(resume=path, verbose=0)
            return "resumed"
    if work.exists():  # killed before its first epoch ended: nothing worth keeping
        shutil.rmtree(work)
    train(config, verbose=0)
    return "trained"


def compare(datasets=DEFAULT_DATASETS, variants=VARIANTS, seeds: int = DEFAULT_SEEDS,
            epochs: int = DEFAULT_EPOCHS, train_samples: int | None = DEFAULT_TRAIN_SAMPLES,
            out=None, on_start: Callable[[Path, int], None] | None = None,
            on_run: Callable[[int, int, CompareRun], None] | None = None) -> CompareResult:
    """Train (or reuse) every variant x dataset x seed run; write compare.json/.md/.png.

    Args:
        datasets, variants: names (see VARIANTS); every combination is run.
        seeds: seeds 0 .. seeds-1 per combination.
        epochs, train_samples: the budget of each run (train_samples None = all).
        out: folder of the runs and the results; default runs/compare-<time>.
        on_start: called as on_start(out, total) once every input has been checked.
        on_run: called as on_run(index, total, run) after each run (for progress output).
    """
    datasets, variants = list(datasets), list(variants)
    _check_inputs(datasets, variants, seeds, epochs, train_samples)
    import keras

    from ..run import Run
    from .plots import plot_compare

    out = Path(out) if out else default_out()
    jobs = [(d, v, s) for d in datasets for v in variants for s in range(seeds)]
    configs = [run_config(d, v, s, epochs, train_samples, out / run_dir_name(d, v, s))
               for d, v, s in jobs]  # all validated before the first run
    if on_start:
        on_start(out, len(jobs))
    runs = []
    for index, ((dataset, variant, seed), config) in enumerate(zip(jobs, configs), start=1):
        path = Path(config.out)
        status = _train_one(config, path)
        keras.backend.clear_session()  # keep one long process from slowing down
        run = Run.load(path)
        metrics = run.metrics
        runs.append(CompareRun(dataset=dataset, variant=variant, seed=seed, path=str(path),
                               status=status, test_accuracy=float(metrics["test_accuracy"]),
                               train_accuracy=float(run.history()[-1]["accuracy"]),
                               train_seconds=float(metrics["train_seconds"])))
        if on_run:
            on_run(index, len(jobs), runs[-1])
    settings = {"datasets": datasets, "variants": variants, "seeds": list(range(seeds)),
                "epochs": epochs, "train_samples": train_samples,
                "validation_split": VALIDATION_SPLIT, "model": "seed-cnn"}
    result = CompareResult(out=out, settings=settings, runs=runs, summary=summarize(runs))
    atomic.write_json(out / JSON_FILE, result.to_dict())
    atomic.write_text(out / MARKDOWN_FILE, result.to_markdown())
    plot_compare(result.summary, out / PLOT_FILE)
    return result
