"""The search space of a study: which config fields vary, and over what.

A space is a YAML mapping from a config field to its range, e.g.

    train.lr: {log: [1e-4, 1e-2]}        # a float drawn on a log scale
    train.batch_size: [32, 64, 128, 256] # a choice
    train.epochs: {int: [2, 10]}         # an integer (optional `step`)
    model.dropout: {float: [0, 0.5]}     # a float (optional `step`)

Keys may also be nested by section (`train: {lr: ...}`). Every field, range and choice is
checked here with the same one-line errors as a config, before any trial runs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import SECTIONS, Config, _coerce, _field_types, config_from_dict
from ..errors import ConvolabError, did_you_mean

#: The range kinds a number field may take, and what each draws.
RANGE_KINDS = {"log": "a float on a log scale", "float": "a float", "int": "an integer"}

#: The unit's three (learning rate, batch size, epochs) plus Dropout and L2.
DEFAULT_SPACE = {
    "train.lr": {"log": [3e-4, 3e-2]},
    "train.batch_size": [32, 64, 128, 256],
    "train.epochs": {"int": [2, 8]},
    "model.dropout": {"float": [0.0, 0.5]},
    "model.l2": {"log": [1e-6, 1e-3]},
}

#: Fields a study never varies: where the trial is written is the study's business.
NOT_SEARCHABLE = ("out",)


@dataclass(frozen=True)
class Param:
    """One searched field: `choices`, or a `kind` range from `low` to `high`."""

    field: str  # "section.name" or a top-level name such as "seed"
    kind: str  # "choice", "log", "float" or "int"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()

    def as_yaml(self) -> Any:
        """The param as the space file writes it."""
        if self.kind == "choice":
            return list(self.choices)
        out: dict = {self.kind: [self.low, self.high]}
        if self.step is not None:
            out["step"] = self.step
        return out

    def suggest(self, trial) -> Any:
        """Draw this param's value for an Optuna `trial`."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.field, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.field, int(self.low), int(self.high),
                                     step=int(self.step or 1))
        return trial.suggest_float(self.field, self.low, self.high,
                                   log=self.kind == "log", step=self.step)

    def grid_values(self) -> list:
        """Every value of the param, for grid search (choices and integer ranges only)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        raise ConvolabError(f"space {self.field}: grid search needs a list of values or an "
                            f"int range, not {self.kind} {[self.low, self.high]}; write e.g. "
                            f"{self.field}: [{self.low}, {self.high}]")


class SearchSpace:
    """The checked params of a study, in the order the space file gives them."""

    def __init__(self, params: list[Param]):
        if not params:
            raise ConvolabError("the search space is empty; give at least one field, e.g. "
                                "train.lr: {log: [1e-4, 1e-2]}")
        self.params = params

    def as_dict(self) -> dict:
        """{field: range} as the space file writes it (what a study records)."""
        return {p.field: p.as_yaml() for p in self.params}

    def suggest(self, trial) -> dict:
        """{field: value} drawn for `trial`."""
        return {p.field: p.suggest(trial) for p in self.params}

    def grid(self) -> dict:
        """{field: every value}, for grid search (the study queues each combination)."""
        return {p.field: p.grid_values() for p in self.params}


def _field_type(field: str, where: str):
    """The declared type of config field `field` ("section.name" or a top-level name)."""
    names = searchable_fields()
    if field not in names:
        raise ConvolabError(f"{where}: {field!r} is not a config field"
                            f"{did_you_mean(field, names)}; see `convolab config`")
    section, _, name = field.rpartition(".")
    cls = SECTIONS[section] if section else Config
    return _field_types(cls)[name]


def searchable_fields() -> list[str]:
    """Every config field a space may name, as "section.name"."""
    fields = [f"{s}.{name}" for s, cls in SECTIONS.items() for name in _field_types(cls)]
    top = [name for name in _field_types(Config) if name not in SECTIONS]
    return fields + [name for name in top if name not in NOT_SEARCHABLE]


def _number(value, where: str) -> float:
    """A finite float from a bound (YAML reads `1e-4` without a dot as text)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConvolabError(f"{where}: bounds must be finite numbers, got {value!r}")
    return number


def _parse_range(field: str, spec: dict, typ, where: str) -> Param:
    kinds = [k for k in spec if k in RANGE_KINDS]
    extra = [k for k in spec if k not in RANGE_KINDS and k != "step"]
    if len(kinds) != 1 or extra:
        raise ConvolabError(f"{where}: a range is one of {{log: [low, high]}}, "
                            f"{{float: [low, high]}} or {{int: [low, high]}} (optionally "
                            f"with step), got {spec!r}")
    kind = kinds[0]
    bounds = spec[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConvolabError(f"{where}: {kind} takes [low, high], got {bounds!r}")
    low, high = (_number(b, where) for b in bounds)
    if low >= high:
        raise ConvolabError(f"{where}: the low end {bounds[0]} must be below the high end "
                            f"{bounds[1]}")
    if kind == "log" and low <= 0:
        raise ConvolabError(f"{where}: a log range must be above 0, got {bounds}; start it "
                            f"at a small positive value (e.g. 1e-6) or use float")
    base = typ
    if type(None) in getattr(typ, "__args__", ()):
        base = next(a for a in typ.__args__ if a is not type(None))
    if base is int and kind != "int":
        raise ConvolabError(f"{where}: {field} is an integer field; use {{int: [low, high]}} "
                            f"or a list")
    if base not in (int, float):
        raise ConvolabError(f"{where}: {field} is not a number; give its values as a list")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise ConvolabError(f"{where}: int bounds must be whole numbers, got {bounds}")
    step = spec.get("step")
    if step is not None:
        step = _number(step, where)
        if step <= 0 or step > high - low:
            raise ConvolabError(f"{where}: step must be positive and at most high - low, "
                                f"got {spec['step']!r}")
        if kind == "log":
            raise ConvolabError(f"{where}: a log range takes no step")
        if kind == "int" and not step.is_integer():
            raise ConvolabError(f"{where}: an int range takes a whole step, got {step}")
    if kind == "int":
        low, high = int(low), int(high)
        step = int(step) if step is not None else None
    return Param(field, kind, low, high, step)


def _parse_param(field: str, spec: Any, where: str) -> Param:
    typ = _field_type(field, where)
    if isinstance(spec, dict):
        return _parse_range(field, spec, typ, where)
    if isinstance(spec, list):
        if not spec:
            raise ConvolabError(f"{where}: the list of choices is empty; give at least one "
                                f"value")
        choices = tuple(_coerce(value, typ, where) for value in spec)
        if len(set(map(repr, choices))) != len(choices):
            raise ConvolabError(f"{where}: the choices {spec} repeat a value")
        return Param(field, "choice", choices=choices)
    raise ConvolabError(f"{where}: give a list of values or a range such as "
                        f"{{log: [1e-4, 1e-2]}}, got {spec!r}")


def _flatten(space: dict) -> dict:
    """Dotted keys from a space that may nest fields under their section."""
    flat: dict = {}
    for key, value in space.items():
        key = str(key)
        if key in SECTIONS and isinstance(value, dict) and not set(value) & set(RANGE_KINDS):
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def parse_space(space: dict, base: Config, origin: str = "search space") -> SearchSpace:
    """Check `space` against the config fields and `base`, and return a SearchSpace.

    Each range end and each choice is also tried on `base` alone, so a value the config
    would refuse (a dropout of 1.5) is reported now, not as a failed trial.
    """
    if not isinstance(space, dict):
        raise ConvolabError(f"{origin} must be a mapping of config fields to ranges, e.g. "
                            f"train.lr: {{log: [1e-4, 1e-2]}}")
    params = [_parse_param(f, spec, f"{origin}: {f}") for f, spec in _flatten(space).items()]
    result = SearchSpace(params)
    for p in params:
        for value in (p.choices if p.kind == "choice" else (p.low, p.high)):
            try:
                apply_params(base, {p.field: value})
            except ConvolabError as exc:
                raise ConvolabError(f"{origin}: {p.field} value {value!r} is not valid: {exc}")
    return result


def load_space(path: str | Path | None, base: Config) -> SearchSpace:
    """The space in a YAML file, or the default space when `path` is None."""
    if path is None:
        return parse_space(DEFAULT_SPACE, base, "default search space")
    path = Path(path)
    if not path.is_file():
        raise ConvolabError(f"search space file {path} does not exist; write one like "
                            f"`train.lr: {{log: [1e-4, 1e-2]}}` or leave out --space")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConvolabError(f"search space file {path} is not valid YAML "
                            f"({' '.join(str(exc).split())[:120]})")
    return parse_space(data, base, f"search space {path}")


def format_value(value) -> str:
    """A drawn value as tables and progress lines show it (floats to 3 digits)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def apply_params(base: Config, params: dict) -> Config:
    """A validated copy of `base` with the {field: value} of a trial set."""
    data = copy.deepcopy(base.to_dict())
    for field, value in params.items():
        section, _, name = field.rpartition(".")
        (data[section] if section else data)[name] = value
    return config_from_dict(data)
