"""Classification metrics from predicted probabilities, in pure NumPy.

`compute_metrics` turns true labels and softmax outputs into the numbers a run records in
`metrics.json`: accuracy, cross-entropy loss, per-class precision / recall / F1, macro F1
and the confusion matrix. Every value is a plain Python int or float, so the result can be
written with `json.dump` as it is. A ratio whose denominator is zero (a class that is never
predicted, or absent from the test set) counts as 0.0, as in scikit-learn's
`zero_division=0`.
"""

from __future__ import annotations

import numpy as np

from .errors import ConvolabError

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, as Keras does.
EPSILON = 1e-7


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are true classes, columns predicted ones."""
    pairs = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, np.int64)
    counts = np.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)  # (K, K)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, with 0.0 where the denominator is 0."""
    numerator = numerator.astype(np.float64)
    denominator = denominator.astype(np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _check_inputs(y_true: np.ndarray, probs: np.ndarray, class_names: list[str]) -> None:
    """Raise a ConvolabError when labels, probabilities and class names do not fit together."""
    if probs.ndim != 2:
        raise ConvolabError(f"predicted probabilities must have shape (N, classes), got "
                            f"{probs.shape}; pass the softmax output of the model")
    if y_true.ndim != 1 or len(y_true) != len(probs):
        raise ConvolabError(f"labels have shape {y_true.shape} but there are {len(probs)} "
                            f"predictions; pass one integer label per image")
    if len(y_true) == 0:
        raise ConvolabError("no test images to evaluate; check the dataset's test split")
    if probs.shape[1] != len(class_names):
        raise ConvolabError(f"the model outputs {probs.shape[1]} classes but the dataset has "
                            f"{len(class_names)}; evaluate the model on the dataset it was "
                            f"trained on")
    if y_true.min() < 0 or y_true.max() >= len(class_names):
        raise ConvolabError(f"labels must lie in 0..{len(class_names) - 1}, found "
                            f"{int(y_true.min())}..{int(y_true.max())}; check the dataset")


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, cross-entropy, per-class scores and confusion matrix of a classifier.

    Args:
        y_true: integer labels, shape (N,).
        probs: predicted class probabilities (softmax output), shape (N, K).
        class_names: the K class names, in label order.

    Returns:
        A JSON-serialisable dict with `test_accuracy`, `test_loss` (mean categorical
        cross-entropy, probabilities clipped at 1e-7), `per_class` (a list of
        {"class", "precision", "recall", "f1", "support"}), `macro_f1` (unweighted mean of
        the K F1 scores) and `confusion_matrix` (K lists of K counts; rows are true classes,
        columns predicted classes).

    Example:
        >>> m = compute_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.6, 0.4]]), ["a", "b"])
        >>> m["test_accuracy"], m["confusion_matrix"]
        (0.5, [[1, 0], [1, 0]])
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]
    _check_inputs(y_true, probs, class_names)
    y_true = y_true.astype(np.int64)
    num_classes = len(class_names)

    y_pred = probs.argmax(axis=1)  # (N,)
    cm = confusion_matrix(y_true, y_pred, num_classes)  # (K, K)
    true_positives = np.diag(cm)
    support = cm.sum(axis=1)  # images of each true class
    predicted = cm.sum(axis=0)  # images predicted as each class

    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * precision * recall, precision + recall)

    p_true = np.clip(probs[np.arange(len(y_true)), y_true], EPSILON, 1.0 - EPSILON)
    per_class = [
        {"class": str(name), "precision": float(precision[k]), "recall": float(recall[k]),
         "f1": float(f1[k]), "support": int(support[k])}
        for k, name in enumerate(class_names)
    ]
    return {
        "test_accuracy": float(true_positives.sum() / len(y_true)),
        "test_loss": float(-np.log(p_true).mean()),
        "per_class": per_class,
        "macro_f1": float(f1.mean()),
        "confusion_matrix": cm.tolist(),
    }
