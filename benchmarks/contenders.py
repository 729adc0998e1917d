"""The contenders of the time-to-accuracy race, one function each, in one registry.

Each contender trains on the same MNIST (or Fashion-MNIST) arrays, evaluates the test set
through an `EvalLog` (whose pauses keep evaluation out of the training seconds) and returns
the number of epochs it ran. Keras contenders run on the active Keras backend; the PyTorch
ones live in `torch_peers.py` and need the optional torch install.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Callable

from clock import EvalLog


@dataclass
class Contender:
    name: str
    description: str
    run: Callable  # run(data, seed, log, evals_per_epoch, max_epochs) -> epochs run
    needs: str | None = None  # an optional package it imports ("torch")
    tf_defaults: bool = False  # run with TensorFlow's own defaults, not convolab's (oneDNN)


def keras_eval_callback(log: EvalLog, x_test, y_test, batch_size: int, n_train: int,
                        evals_per_epoch: int):
    """A Keras callback that runs `log.record` `evals_per_epoch` times an epoch."""
    import keras

    class EvalCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            log.clock.start()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            steps = -(-n_train // batch_size)
            self.marks = sorted(round(steps * k / evals_per_epoch)
                                for k in range(1, evals_per_epoch))

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution > 1 Keras reports only every few steps, so evaluate
            # at the first report at or after each mark.
            if self.marks and batch + 1 >= self.marks[0]:
                self.marks.pop(0)
                images = min((batch + 1) * batch_size, n_train)
                self._record(self.epoch * n_train + images, self.epoch + images / n_train)

        def on_epoch_end(self, epoch, logs=None):
            self._record((epoch + 1) * n_train, epoch + 1)

        def on_train_end(self, logs=None):
            log.clock.pause()

        def _accuracy(self):
            probs = self.model.predict(x_test, batch_size=1000, verbose=0)
            return (probs.argmax(axis=-1) == y_test).mean()

        def _record(self, images, epoch):
            log.record(images, epoch, self._accuracy)
            if log.reached_stop():
                self.model.stop_training = True

    return EvalCallback()


def run_keras_io(data, seed, log, evals_per_epoch, max_epochs):
    """keras-io "Simple MNIST convnet", as the unit writes it: Adam, batch 128, 15 epochs."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x_train = data.x_train.astype("float32") / 255
    x_test = data.x_test.astype("float32") / 255
    y_train = keras.utils.to_categorical(data.y_train, 10)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    epochs = min(15, max_epochs or 15)
    n_fit = len(x_train) - int(0.1 * len(x_train))  # validation_split=0.1 holds out the tail
    callback = keras_eval_callback(log, x_test, data.y_test, 128, n_fit, evals_per_epoch)
    history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1,
                        verbose=0, callbacks=[callback])
    return len(history.history["loss"])


def convolab_preset(preset: str):
    """A contender that trains the convolab config preset `preset` through `convolab.train`."""

    def run(data, seed, log, evals_per_epoch, max_epochs):
        import convolab
        from convolab.config import resolve_config

        config = resolve_config(preset=preset, overrides={"seed": seed})
        config.data.name = data.name
        if data.train_samples is not None:
            config.data.train_samples = data.train_samples
        if max_epochs:
            config.train.epochs = min(config.train.epochs, max_epochs)
        n_train = _convolab_train_size(config)
        callback = keras_eval_callback(log, data.x_test.astype("float32"), data.y_test,
                                       config.train.batch_size, n_train, evals_per_epoch)
        with tempfile.TemporaryDirectory() as tmp:
            config.out = f"{tmp}/run"
            run = convolab.train(config, verbose=0, extra_callbacks=[callback])
            return run.metrics["epochs_run"]

    return run


def _convolab_train_size(config) -> int:
    """How many images convolab.train will fit on: the split's own answer (not timed)."""
    from convolab.data import load_dataset

    d = config.data
    return len(load_dataset(d.name, validation_split=d.validation_split,
                            train_samples=d.train_samples, seed=config.seed).x_train)


def _torch(name: str):
    def run(*args):
        import torch_peers

        return getattr(torch_peers, name)(*args)

    return run


CONTENDERS = {c.name: c for c in [
    Contender("keras-io", "the unit's recipe: keras-io convnet, Adam, batch 128, 15 epochs",
              run_keras_io, tf_defaults=True),
    Contender("keras-io-onednn", "the same script with TensorFlow's oneDNN kernels on",
              run_keras_io),
    Contender("convolab-fast", "convolab train --preset fast", convolab_preset("fast")),
    Contender("convolab-fast-99.5", "convolab train --preset fast-99.5",
              convolab_preset("fast-99.5")),
    Contender("convolab-fashion-fast", "convolab train --preset fashion-fast",
              convolab_preset("fashion-fast")),
    Contender("convolab-fashion-fast-60s", "convolab train --preset fashion-fast-60s",
              convolab_preset("fashion-fast-60s")),
    Contender("convolab-quick", "convolab train --preset quick (a smoke contender)",
              convolab_preset("quick")),
    Contender("torch-fast", "plain PyTorch, the convolab fast recipe by hand",
              _torch("run_fast"), needs="torch"),
    Contender("torch-examples", "pytorch/examples MNIST: Adadelta lr 1, batch 64, 14 epochs",
              _torch("run_examples"), needs="torch"),
]}
