"""compute_metrics against scikit-learn and against hand-checked tiny cases."""

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from convolab.errors import ConvolabError
from convolab.evaluate import compute_metrics, confusion_matrix


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _probs_for(predictions, num_classes, confidence=0.7):
    """Probability rows whose argmax is `predictions`."""
    rest = (1.0 - confidence) / (num_classes - 1)
    probs = np.full((len(predictions), num_classes), rest)
    probs[np.arange(len(predictions)), predictions] = confidence
    return probs


@pytest.mark.parametrize("seed, num_classes", [(0, 3), (1, 10), (2, 7)])
def test_matches_sklearn_on_random_data(seed, num_classes):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, size=400)
    # Informative but imperfect predictions, so every score lies strictly between 0 and 1.
    logits = rng.normal(size=(400, num_classes)) + 1.5 * np.eye(num_classes)[y_true]
    probs = _softmax(logits)
    names = [f"c{k}" for k in range(num_classes)]
    labels = list(range(num_classes))
    y_pred = probs.argmax(axis=1)

    m = compute_metrics(y_true, probs, names)

    assert m["test_accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert m["test_loss"] == pytest.approx(skm.log_loss(y_true, probs, labels=labels), rel=1e-9)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    got = m["per_class"]
    assert [row["class"] for row in got] == names
    np.testing.assert_allclose([row["precision"] for row in got], precision, atol=1e-12)
    np.testing.assert_allclose([row["recall"] for row in got], recall, atol=1e-12)
    np.testing.assert_allclose([row["f1"] for row in got], f1, atol=1e-12)
    assert [row["support"] for row in got] == support.tolist()
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), abs=1e-12)
    assert m["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()


def test_class_absent_from_test_set_matches_sklearn():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, size=200)  # class 4 never occurs
    probs = _softmax(rng.normal(size=(200, 5)) + 2.0 * np.eye(5)[y_true])
    y_pred = probs.argmax(axis=1)
    m = compute_metrics(y_true, probs, list("abcde"))
    assert m["per_class"][4]["support"] == 0
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=range(5), average="macro", zero_division=0))


def test_hand_checked_case_with_a_class_never_predicted():
    # true:      0  0  1  2
    # predicted: 0  1  1  1   -> class 2 is never predicted
    y_true = np.array([0, 0, 1, 2])
    probs = _probs_for(np.array([0, 1, 1, 1]), 3, confidence=0.5)

    m = compute_metrics(y_true, probs, ["zero", "one", "two"])

    assert m["test_accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    zero, one, two = m["per_class"]
    assert (zero["precision"], zero["recall"], zero["support"]) == (1.0, 0.5, 2)
    assert zero["f1"] == pytest.approx(2 / 3)
    assert (one["precision"], one["recall"], one["support"]) == (pytest.approx(1 / 3), 1.0, 1)
    assert one["f1"] == pytest.approx(0.5)
    assert two == {"class": "two", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    # Cross-entropy: true-class probabilities are 0.5, 0.25, 0.5, 0.25.
    assert m["test_loss"] == pytest.approx(-(2 * math.log(0.5) + 2 * math.log(0.25)) / 4)


def test_loss_is_clipped_at_1e_minus_7():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    m = compute_metrics(np.array([1, 1]), probs, ["a", "b"])
    assert m["test_loss"] == pytest.approx(-(math.log(1e-7) + math.log(1 - 1e-7)) / 2)
    assert math.isfinite(m["test_loss"])


def test_result_is_plain_json():
    rng = np.random.default_rng(4)
    m = compute_metrics(rng.integers(0, 3, 30), _softmax(rng.normal(size=(30, 3))),
                        ["x", "y", "z"])
    assert json.loads(json.dumps(m)) == m
    assert type(m["test_accuracy"]) is float and type(m["macro_f1"]) is float
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    assert all(type(row["support"]) is int for row in m["per_class"])


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 2]), np.array([1, 1, 2]), 3)
    assert cm.tolist() == [[0, 2, 0], [0, 0, 0], [0, 0, 1]]


def test_column_labels_are_accepted():
    probs = _probs_for(np.array([0, 1]), 2)
    m = compute_metrics(np.array([[0], [1]]), probs, ["a", "b"])
    assert m["test_accuracy"] == 1.0


@pytest.mark.parametrize("y_true, probs, names, words", [
    (np.array([0, 1]), np.full((2, 3), 1 / 3), ["a", "b"], "3 classes"),
    (np.array([0, 5]), np.full((2, 2), 0.5), ["a", "b"], "0..1"),
    (np.array([0, 1, 1]), np.full((2, 2), 0.5), ["a", "b"], "2 predictions"),
    (np.array([], dtype=int), np.zeros((0, 2)), ["a", "b"], "no test images"),
    (np.array([0]), np.array([0.5, 0.5]), ["a", "b"], "shape"),
])
def test_mismatched_inputs_raise_a_clear_error(y_true, probs, names, words):
    with pytest.raises(ConvolabError, match=words):
        compute_metrics(y_true, probs, names)
