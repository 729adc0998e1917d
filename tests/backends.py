"""The Keras backend the suite runs on (KERAS_BACKEND, TensorFlow by default) and the mark
of the tests that need TensorFlow itself."""

import os

import pytest

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

#: export writes TensorFlow graphs (ONNX through tf2onnx, SavedModel): TensorFlow only.
export_needs_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="export runs on the TensorFlow backend only, by design")
