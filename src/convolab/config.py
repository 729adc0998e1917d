"""One typed configuration, layered: defaults < preset < YAML file < CLI flags.

Every field has a default and a one-line comment. `resolve_config` builds the final config
and validates it; the resolved copy is written into the run directory as `config.yaml`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from .errors import ConvolabError, did_you_mean

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LR_SCHEDULES = ("constant", "step-exp", "cosine", "one-cycle", "plateau")
FILL_MODES = ("nearest", "constant", "reflect", "wrap")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
#: Datasets whose classes change meaning under a mirror image (a flipped 2 is no 2).
FLIP_SENSITIVE_DATASETS = ("mnist", "digits")
#: Smallest and largest square size `data.image_size` may ask for.
IMAGE_SIZE_RANGE = (8, 1024)


@dataclass
class DataConfig:
    name: str = "mnist"  # dataset: mnist, fashion_mnist, digits, folder:PATH or npz:PATH
    validation_split: float = 0.1  # fraction of train held out for validation (stratified)
    train_samples: int | None = None  # stratified subset of train for quick runs; None = all
    source_dir: str | None = None  # a folder with the dataset's files, tried before downloads
    image_size: int | None = None  # resize every image to this square size; None = keep


@dataclass
class ModelConfig:
    name: str = "seed-cnn"  # preset name (see `convolab models`) or a path to a YAML spec
    dropout: float | None = None  # None keeps the preset; 0 removes Dropout; R>0 sets/adds it
    l1: float = 0.0  # L1 penalty on every Conv/Dense/LSTM kernel
    l2: float = 0.0  # L2 penalty on every Conv/Dense/LSTM kernel
    batchnorm: bool | None = None  # None keeps the preset; True adds, False removes BatchNorm
    crop: int = 0  # pixels cut from every border inside the model, before the first layer
    backbone: str | None = None  # ImageNet base to fine-tune (convolab backbones); None = off
    weights: str = "imagenet"  # the backbone's weights: imagenet, none or a file path
    base_size: int | None = None  # the backbone's input size in pixels; None = its default


@dataclass
class AugmentConfig:
    # The unit's ImageDataGenerator parameters, applied on the fly during training only.
    enabled: bool = False  # turn augmentation on
    rotation_range: float = 10.0  # max rotation in degrees, either way (ImageDataGenerator)
    width_shift_range: float = 0.1  # max horizontal shift as a fraction of the width
    height_shift_range: float = 0.1  # max vertical shift as a fraction of the height
    shear_range: float = 0.0  # max shear angle in degrees, either way
    zoom_range: float = 0.1  # zoom factor drawn from [1 - z, 1 + z] (>1 zooms out)
    horizontal_flip: bool = False  # random left-right flips (wrong for digits)
    fill_mode: str = "nearest"  # how new pixels are filled: nearest, constant, reflect, wrap
    elastic_alpha: float = 0.0  # elastic distortion strength in pixels (Simard 2003); 0 = off
    elastic_sigma: float = 4.0  # smoothness of the elastic displacement field, in pixels


@dataclass
class TrainConfig:
    epochs: int = 6  # passes over the training set
    batch_size: int = 128  # images per gradient step
    optimizer: str = "adam"  # sgd, adam, adamw, rmsprop
    lr: float = 0.003  # peak learning rate
    momentum: float = 0.9  # SGD momentum (ignored by the other optimizers)
    weight_decay: float = 0.0001  # decoupled weight decay for adamw
    lr_schedule: str = "one-cycle"  # constant, step-exp, cosine, one-cycle, plateau
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    early_stopping: int | None = None  # patience in epochs; None = off
    monitor: str = "val_loss"  # metric watched by early stopping, checkpoint and plateau
    steps_per_execution: int = 1  # gradient steps per compiled call (fewer Python round trips)
    ema: float | None = None  # momentum of a moving average of the weights; None = off
    distribute: bool = False  # split each batch across the local devices (GPUs; see docs/backends.md)


@dataclass
class TransferConfig:
    # Fine-tuning of an ImageNet backbone (model.backbone or a `type: transfer` spec).
    freeze_epochs: int = 3  # phase 1: epochs with the base frozen (inference mode), head only
    unfreeze: str = "none"  # phase 2: none (linear probe), all, or N = the base's top N blocks
    fine_tune_lr: float = 1e-4  # phase 2 peak learning rate (the base moves slowly)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    seed: int = 0  # seeds Python, NumPy and Keras; also the validation split
    out: str | None = None  # run directory; None = runs/<model>-<dataset>-<time>
    save_h5: bool = False  # also write best_model.h5 (the unit's legacy format)
    tensorboard: bool = False  # write TensorBoard logs under RUN_DIR/tensorboard

    def to_dict(self) -> dict[str, Any]:
        """The config as plain nested dicts (what `config.yaml` holds)."""
        return dataclasses.asdict(self)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
            "augment": AugmentConfig, "transfer": TransferConfig}


def list_presets() -> list[str]:
    """Names of the YAML config presets shipped with convolab."""
    folder = resources.files("convolab") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The overrides of a shipped config preset, as nested dicts."""
    if name not in list_presets():
        raise ConvolabError(f"unknown config preset {name!r}; choose one of "
                            f"{', '.join(list_presets())}")
    text = (resources.files("convolab") / "configs" / f"{name}.yaml").read_text()
    return yaml.safe_load(text) or {}


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into nested dicts, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConvolabError(f"config file {path} does not exist; pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConvolabError(f"config file {path} is not valid YAML{where}; fix the syntax")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConvolabError(f"config file {path} must hold a mapping of sections "
                            f"(data, model, train, augment, ...), not a {type(data).__name__}")
    return data


def _field_types(cls) -> dict[str, Any]:
    return get_type_hints(cls)


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Convert `value` to the field type `typ`, or raise a ConvolabError naming `where`."""
    args = get_args(typ)
    if get_origin(typ) is not None and type(None) in args:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        (typ,) = [a for a in args if a is not type(None)]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        raise ConvolabError(f"{where} must be true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConvolabError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConvolabError(f"{where} must be an integer, got {value!r}")
    if typ is float:
        if isinstance(value, bool):
            raise ConvolabError(f"{where} must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConvolabError(f"{where} must be a number, got {value!r}")
    if typ is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConvolabError(f"{where} must be a string, got {value!r}")
    return value


def merge_overrides(config: Config, overrides: dict[str, Any], origin: str) -> Config:
    """Apply nested `overrides` (from a preset, a file or flags) onto `config` in place."""
    top_fields = {f.name for f in dataclasses.fields(Config)}
    for key, value in overrides.items():
        if key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConvolabError(f"{origin}: section {key!r} must be a mapping of fields")
            section = getattr(config, key)
            types = _field_types(type(section))
            for sub, subvalue in value.items():
                if sub not in types:
                    raise ConvolabError(f"{origin}: unknown field {key}.{sub}"
                                        f"{did_you_mean(sub, types)}; see `convolab config`")
                setattr(section, sub, _coerce(subvalue, types[sub], f"{origin}: {key}.{sub}"))
        elif key in top_fields and key not in SECTIONS:
            types = _field_types(Config)
            setattr(config, key, _coerce(value, types[key], f"{origin}: {key}"))
        else:
            raise ConvolabError(f"{origin}: unknown field {key!r}"
                                f"{did_you_mean(key, top_fields)}; see `convolab config`")
    return config


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """Turn `--set train.lr=0.01` style strings into nested override dicts."""
    out: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConvolabError(f"--set {item!r} must look like section.field=value, "
                                f"e.g. --set train.lr=0.01")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw  # not YAML (e.g. "[0.1" or "*net"): keep the text; fields check it
        parts = key.strip().split(".")
        if len(parts) == 1:
            out[parts[0]] = value
        elif len(parts) == 2:
            out.setdefault(parts[0], {})[parts[1]] = value
        else:
            raise ConvolabError(f"--set {item!r}: use section.field=value (one dot)")
    return out


def validate(config: Config) -> Config:
    """Check value ranges and choices; raise a ConvolabError naming the field."""
    t, a, d, m = config.train, config.augment, config.data, config.model
    if t.epochs <= 0:
        raise ConvolabError(f"train.epochs must be a positive integer, got {t.epochs}")
    if t.batch_size <= 0:
        raise ConvolabError(f"train.batch_size must be a positive integer, got {t.batch_size}")
    if t.steps_per_execution <= 0:
        raise ConvolabError(f"train.steps_per_execution must be a positive integer, got "
                            f"{t.steps_per_execution}")
    if t.lr <= 0:
        raise ConvolabError(f"train.lr must be positive, got {t.lr}")
    if t.optimizer not in OPTIMIZERS:
        raise ConvolabError(f"train.optimizer {t.optimizer!r} is not one of "
                            f"{', '.join(OPTIMIZERS)}{did_you_mean(t.optimizer, OPTIMIZERS)}")
    if t.lr_schedule not in LR_SCHEDULES:
        raise ConvolabError(f"train.lr_schedule {t.lr_schedule!r} is not one of "
                            f"{', '.join(LR_SCHEDULES)}{did_you_mean(t.lr_schedule, LR_SCHEDULES)}")
    if not 0.0 <= t.momentum < 1.0:
        raise ConvolabError(f"train.momentum must be in [0, 1), got {t.momentum}")
    if t.weight_decay < 0:
        raise ConvolabError(f"train.weight_decay must be >= 0, got {t.weight_decay}")
    if t.monitor not in MONITORS:
        raise ConvolabError(f"train.monitor {t.monitor!r} is not one of {', '.join(MONITORS)}"
                            f"{did_you_mean(t.monitor, MONITORS)}")
    if not 0 <= config.seed < 2**32:
        raise ConvolabError(f"seed must be an integer from 0 to 2**32 - 1, got {config.seed}")
    if t.early_stopping is not None and t.early_stopping < 0:
        raise ConvolabError(f"train.early_stopping (patience) must be >= 0, "
                            f"got {t.early_stopping}")
    if t.ema is not None and not 0.0 < t.ema < 1.0:
        raise ConvolabError(f"train.ema is the momentum of the weight average and must be in "
                            f"(0, 1), e.g. 0.99; got {t.ema}")
    if not 0.0 <= t.label_smoothing < 1.0:
        raise ConvolabError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    if not 0.0 <= d.validation_split < 1.0:
        raise ConvolabError(f"data.validation_split must be in [0, 1), "
                            f"got {d.validation_split}")
    if t.monitor.startswith("val_") and d.validation_split == 0.0:
        raise ConvolabError(f"train.monitor is {t.monitor!r} but data.validation_split is 0; "
                            f"set a validation split or monitor a training metric "
                            f"(e.g. --set train.monitor=loss)")
    if d.train_samples is not None and d.train_samples <= 0:
        raise ConvolabError(f"data.train_samples must be positive, got {d.train_samples}")
    _check_image_size("data.image_size", d.image_size)
    if m.dropout is not None and not 0.0 <= m.dropout < 1.0:
        raise ConvolabError(f"model.dropout must be in [0, 1), got {m.dropout}")
    if m.l1 < 0 or m.l2 < 0:
        raise ConvolabError(f"model.l1 and model.l2 must be >= 0, got {m.l1} and {m.l2}")
    if m.crop < 0:
        raise ConvolabError(f"model.crop is a border in pixels and must be >= 0, got {m.crop}")
    for name in ("rotation_range", "shear_range"):
        if not 0.0 <= getattr(a, name) <= 180.0:
            raise ConvolabError(f"augment.{name} is in degrees and must be in [0, 180], "
                                f"got {getattr(a, name)}")
    for name in ("width_shift_range", "height_shift_range", "zoom_range"):
        if not 0.0 <= getattr(a, name) < 1.0:
            raise ConvolabError(f"augment.{name} is a fraction and must be in [0, 1), "
                                f"got {getattr(a, name)}")
    if a.elastic_alpha < 0 or a.elastic_sigma <= 0:
        raise ConvolabError(f"augment.elastic_alpha must be >= 0 and augment.elastic_sigma > 0 "
                            f"(pixels), got {a.elastic_alpha} and {a.elastic_sigma}")
    _validate_transfer(config)
    if a.fill_mode not in FILL_MODES:
        raise ConvolabError(f"augment.fill_mode {a.fill_mode!r} is not one of "
                            f"{', '.join(FILL_MODES)}")
    return config


def _check_image_size(field_name: str, size: int | None) -> None:
    low, high = IMAGE_SIZE_RANGE
    if size is not None and not low <= size <= high:
        raise ConvolabError(f"{field_name} must be between {low} and {high}, got {size}")


def unfreeze_value(text: str) -> str | int:
    """`transfer.unfreeze` as "none", "all" or a positive number of blocks."""
    text = str(text).strip().lower()
    if text in ("none", "all"):
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ConvolabError(f"transfer.unfreeze must be none (linear probe), all, or a positive "
                        f"number of the base's top blocks, got {text!r}")


def _validate_transfer(config: Config) -> None:
    m, x = config.model, config.transfer
    _check_image_size("model.base_size", m.base_size)
    if not m.weights:
        raise ConvolabError("model.weights must be imagenet, none or the path of a weights file")
    x.unfreeze = str(unfreeze_value(x.unfreeze))
    if x.freeze_epochs < 0:
        raise ConvolabError(f"transfer.freeze_epochs must be >= 0, got {x.freeze_epochs}")
    if x.fine_tune_lr <= 0:
        raise ConvolabError(f"transfer.fine_tune_lr must be positive, got {x.fine_tune_lr}")


def resolve_config(preset: str | None = None, file: str | Path | None = None,
                   overrides: dict[str, Any] | None = None) -> Config:
    """Build a validated Config: defaults < preset < YAML file < overrides (flags)."""
    config = Config()
    if preset:
        merge_overrides(config, load_preset(preset), f"preset {preset}")
    if file:
        merge_overrides(config, load_yaml_file(file), f"config file {file}")
    if overrides:
        merge_overrides(config, overrides, "command line")
    return validate(config)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from `to_dict()` output (e.g. a run's config.yaml)."""
    return validate(merge_overrides(Config(), data, "config"))
