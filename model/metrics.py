"""Classification quality: accuracy, confusion matrix and macro-averaged F1 (pure numpy).

Example
-------
>>> import numpy as np
>>> from driftline.model.metrics import accuracy, macro_f1
>>> y_true = np.array([0, 0, 1, 1, 2, 2])
>>> y_pred = np.array([0, 1, 1, 1, 2, 0])
>>> round(accuracy(y_true, y_pred), 4)
0.6667
>>> round(macro_f1(y_true, y_pred, n_classes=3), 4)
0.6556
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "macro_f1"]


def _check_labels(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[
        np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must be 1-d of equal length, got {y_true.shape} and {y_pred.shape}"
        )
    if y_true.size == 0:
        raise ValueError("y_true must not be empty")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"{name} must hold labels in [0, {n_classes}), got {labels.min()}"
                             f"..{labels.max()}")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of rows where ``y_pred == y_true``."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty and of equal shape, got {y_true.shape} "
            f"and {y_pred.shape}"
        )
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of rows with true class ``i`` predicted as ``j``."""
    y_true, y_pred = _check_labels(y_true, y_pred, n_classes)
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores.

    The mean runs over the classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's
    convention when ``labels`` is not given); a class that is predicted but never true, or true
    but never predicted, scores F1 = 0.
    """
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    present = (support + predicted) > 0
    denominator = (support + predicted).astype(np.float64)
    f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros(n_classes),
                   where=denominator > 0)
    return float(f1[present].mean())
