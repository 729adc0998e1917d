"""The search space of `convolab tune`: its forms, the values it draws, and every mistake
answered in one line before a trial runs (no Keras, no training)."""

import optuna
import pytest

from convolab.config import resolve_config
from convolab.errors import ConvolabError
from convolab.tune.space import DEFAULT_SPACE, apply_params, load_space, parse_space

BASE = resolve_config()


def test_default_space_is_the_units_three_plus_dropout_and_l2():
    space = load_space(None, BASE)
    assert [p.field for p in space.params] == ["train.lr", "train.batch_size", "train.epochs",
                                               "model.dropout", "model.l2"]
    assert space.as_dict() == DEFAULT_SPACE


def test_yaml_file_nested_form_and_numbers_without_a_dot(tmp_path):
    path = tmp_path / "space.yaml"
    # PyYAML reads 1e-4 (no dot) as text: the space takes it as a number all the same.
    path.write_text("train:\n  lr: {log: [1e-4, 1e-2]}\n  optimizer: [adam, sgd]\n"
                    "augment.enabled: [true, false]\nmodel.dropout: {float: [0, 0.5], step: 0.1}\n")
    space = load_space(path, BASE)
    assert space.as_dict() == {"train.lr": {"log": [1e-4, 1e-2]},
                               "train.optimizer": ["adam", "sgd"],
                               "augment.enabled": [True, False],
                               "model.dropout": {"float": [0.0, 0.5], "step": 0.1}}


def test_drawn_values_stay_in_range_and_make_valid_configs():
    space = parse_space({"train.lr": {"log": [1e-4, 1e-2]}, "train.epochs": {"int": [2, 6]},
                         "train.batch_size": [32, 64], "model.dropout": {"float": [0, 0.5]},
                         "augment.enabled": [True, False]}, BASE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        assert 1e-4 <= params["train.lr"] <= 1e-2
        assert params["train.epochs"] in range(2, 7)
        assert params["train.batch_size"] in (32, 64)
        config = apply_params(BASE, params)
        assert config.train.lr == params["train.lr"]
        assert config.augment.enabled is params["augment.enabled"]
        study.tell(trial, 0.0)
    assert BASE.train.lr == 0.003  # the base config is never changed


def test_grid_lists_every_value_and_refuses_continuous_ranges():
    space = parse_space({"train.epochs": {"int": [2, 6], "step": 2},
                         "train.optimizer": ["adam", "sgd"]}, BASE)
    assert space.grid() == {"train.epochs": [2, 4, 6], "train.optimizer": ["adam", "sgd"]}
    continuous = parse_space({"train.lr": {"log": [1e-4, 1e-2]}}, BASE)
    with pytest.raises(ConvolabError, match="grid search needs a list"):
        continuous.grid()


@pytest.mark.parametrize("space, words", [
    ({"train.lrr": {"log": [1e-4, 1e-2]}}, ["'train.lrr' is not a config field",
                                           "did you mean 'train.lr'"]),
    ({"modle.dropout": [0.1]}, ["not a config field", "did you mean 'model.dropout'"]),
    ({"train.lr": {"float": [0.01, 0.001]}}, ["low end 0.01 must be below the high end"]),
    ({"train.lr": {"log": [0, 0.01]}}, ["log range must be above 0"]),
    ({"train.batch_size": []}, ["list of choices is empty"]),
    ({"train.epochs": {"float": [1, 5]}}, ["integer field"]),
    ({"train.optimizer": {"float": [0, 1]}}, ["not a number"]),
    ({"train.optimizer": ["adam", "adma"]}, ["'adma' is not one of", "did you mean 'adam'"]),
    ({"model.dropout": {"float": [0, 1.5]}}, ["value 1.5 is not valid", "[0, 1)"]),
    ({"train.batch_size": [32, 32]}, ["repeat a value"]),
    ({"train.lr": {"log": [1e-4]}}, ["takes [low, high]"]),
    ({"train.lr": {"range": [1, 2]}}, ["a range is one of"]),
    ({"train.lr": 0.01}, ["give a list of values or a range"]),
    ({"out": ["a", "b"]}, ["'out' is not a config field"]),
    ({}, ["search space is empty"]),
    (["train.lr"], ["must be a mapping"]),
])
def test_bad_spaces_are_refused_in_one_line(space, words):
    with pytest.raises(ConvolabError) as info:
        parse_space(space, BASE)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_missing_and_broken_space_files(tmp_path):
    with pytest.raises(ConvolabError, match="does not exist"):
        load_space(tmp_path / "nope.yaml", BASE)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train.lr: {log: [1e-4, \n")
    with pytest.raises(ConvolabError, match="not valid YAML"):
        load_space(broken, BASE)
