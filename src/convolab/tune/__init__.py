"""Hyperparameter search: the learning-rate range test and Optuna studies over config fields."""
