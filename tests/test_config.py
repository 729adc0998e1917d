"""Layered config: defaults < preset < file < flags, with validation errors that name fields."""

import pytest
import yaml

from convolab.config import (Config, config_from_dict, list_presets, parse_set, resolve_config)
from convolab.errors import ConvolabError


def test_defaults_are_valid_and_round_trip():
    config = resolve_config()
    assert config.model.name == "seed-cnn" and config.data.name == "mnist"
    assert config_from_dict(config.to_dict()) == config


def test_layers_apply_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 7, "lr": 0.5}, "seed": 3}))
    config = resolve_config(preset="quick", file=path, overrides={"train": {"lr": 0.01}})
    assert config.data.train_samples == 5000  # from the preset
    assert config.train.epochs == 7  # the file beats the preset
    assert config.train.lr == 0.01  # flags beat the file
    assert config.seed == 3


def test_every_shipped_preset_resolves():
    assert {"quick", "keras-io", "unit-regularized"} <= set(list_presets())
    for name in list_presets():
        assert isinstance(resolve_config(preset=name), Config)


def test_set_parses_yaml_values():
    assert parse_set(["train.lr=0.01", "seed=4", "model.batchnorm=true"]) == {
        "train": {"lr": 0.01}, "seed": 4, "model": {"batchnorm": True}}


@pytest.mark.parametrize("overrides, words", [
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"train": {"epochs": -3}}, "train.epochs"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"steps_per_execution": 0}}, "train.steps_per_execution"),
    ({"train": {"optimizer": "adma"}}, "did you mean 'adam'"),
    ({"train": {"lr_schedule": "cosin"}}, "did you mean 'cosine'"),
    ({"train": {"epoch": 3}}, "did you mean 'epochs'"),
    ({"trian": {"epochs": 3}}, "unknown field 'trian'"),
    ({"train": {"epochs": "many"}}, "must be an integer"),
    ({"model": {"dropout": 1.5}}, "model.dropout"),
    ({"augment": {"rotation_range": 400}}, "degrees"),
    ({"augment": {"width_shift_range": 2}}, "fraction"),
    ({"data": {"validation_split": 0}, "train": {"early_stopping": 2}}, "validation_split is 0"),
])
def test_bad_values_name_the_field(overrides, words):
    with pytest.raises(ConvolabError) as info:
        resolve_config(overrides=overrides)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_set_without_equals_is_an_error():
    with pytest.raises(ConvolabError, match="section.field=value"):
        parse_set(["train.lr"])


def test_bad_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [epochs: 3\n")
    with pytest.raises(ConvolabError, match="bad.yaml is not valid YAML"):
        resolve_config(file=path)
    with pytest.raises(ConvolabError, match="does not exist"):
        resolve_config(file=tmp_path / "missing.yaml")
