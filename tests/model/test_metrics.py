"""Accuracy, confusion matrix and macro-F1 against hand-computed and brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.model.metrics import accuracy, confusion_matrix, macro_f1


def test_macro_f1_hand_computed_case() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 2, 1, 1, 2, 2, 0, 2, 1])
    # class 0: tp 1, fp 1, fn 2 -> P 1/2, R 1/3, F1 2/5
    # class 1: tp 2, fp 2, fn 0 -> P 1/2, R 1,   F1 2/3
    # class 2: tp 3, fp 1, fn 2 -> P 3/4, R 3/5, F1 2/3
    expected = (2 / 5 + 2 / 3 + 2 / 3) / 3
    assert macro_f1(y_true, y_pred, n_classes=3) == pytest.approx(expected, rel=1e-12)
    assert accuracy(y_true, y_pred) == pytest.approx(0.6)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3),
                                  [[1, 1, 1], [0, 2, 0], [1, 1, 3]])


def test_classes_absent_from_truth_and_prediction_are_not_averaged() -> None:
    y_true = np.array([0, 0, 1, 1])
    assert macro_f1(y_true, y_true, n_classes=3) == 1.0
    # Class 2 predicted but never true: F1 = 0 for it, and it counts.
    y_pred = np.array([0, 0, 1, 2])
    expected = (1.0 + 2 / 3 + 0.0) / 3
    assert macro_f1(y_true, y_pred, n_classes=3) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40))
def test_macro_f1_matches_a_per_class_loop(pairs: list[tuple[int, int]]) -> None:
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    scores = []
    for label in sorted(set(y_true.tolist()) | set(y_pred.tolist())):
        tp = sum(t == label and p == label for t, p in pairs)
        fp = sum(t != label and p == label for t, p in pairs)
        fn = sum(t == label and p != label for t, p in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(float(np.mean(scores)), abs=1e-12)


def test_bad_label_arrays_are_rejected() -> None:
    with pytest.raises(ValueError, match="equal length"):
        macro_f1(np.array([0, 1]), np.array([0]), 3)
    with pytest.raises(ValueError, match=r"y_pred must hold labels in \[0, 3\)"):
        macro_f1(np.array([0, 1]), np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="integer class labels"):
        macro_f1(np.array([0.0, 1.0]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="non-empty"):
        accuracy(np.array([]), np.array([]))
