"""Rule-based fallback: learned rules, the input guard, and its use by the served model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftline.dataloader.insurance import FEATURE_NAMES, load_split
from driftline.model.artifacts import load_artifacts
from driftline.model.fallback import InputGuard, RuleFallback


def test_rules_are_the_majority_class_of_each_training_cell() -> None:
    train = load_split("train")
    rules = RuleFallback(FEATURE_NAMES, ["age", "emergency_braking", "miles"], rule_bins=3)
    rules.fit(train.features, train.group, train.risk, n_classes=3)
    age, braking, miles = (train.column(n) for n in ("age", "emergency_braking", "miles"))
    age_cuts = np.quantile(age, [1 / 3, 2 / 3])
    miles_cuts = np.quantile(miles, [1 / 3, 2 / 3])
    np.testing.assert_allclose(rules.edges_[0], age_cuts)
    np.testing.assert_allclose(rules.edges_[1], [0.5])  # binary: one cut between 0 and 1
    assert rules.n_cells == 3 * 2 * 3
    predicted = rules.predict(train.features)
    risk = rules.predict_risk(train.features)
    assert risk is not None
    for a in range(3):
        for b in (0.0, 1.0):
            for m in range(3):
                in_cell = ((np.digitize(age, age_cuts, right=True) == a) & (braking == b)
                           & (np.digitize(miles, miles_cuts, right=True) == m))
                if not in_cell.any():
                    continue
                counts = np.bincount(train.group[in_cell], minlength=3)
                assert set(predicted[in_cell]) == {int(np.argmax(counts))}
                np.testing.assert_allclose(risk[in_cell], train.risk[in_cell].mean())


def test_rule_probabilities_are_smoothed_cell_frequencies() -> None:
    X = np.array([[1.0], [1.0], [1.0], [5.0]])
    rules = RuleFallback(["x"], ["x"], rule_bins=2).fit(X, np.array([0, 0, 1, 2]), None, 3)
    np.testing.assert_allclose(rules.predict_proba(np.array([[0.0], [9.0]])),
                               [[3 / 6, 2 / 6, 1 / 6], [1 / 4, 1 / 4, 2 / 4]])
    assert rules.predict_risk(X) is None


def test_rules_round_trip_through_a_dict() -> None:
    train = load_split("train")
    rules = RuleFallback(FEATURE_NAMES, ["age", "miles"], 4).fit(
        train.features, train.group, train.risk, 3)
    restored = RuleFallback.from_dict(rules.to_dict())
    test = load_split("test").features
    np.testing.assert_array_equal(restored.predict_proba(test), rules.predict_proba(test))
    np.testing.assert_array_equal(restored.predict_risk(test), rules.predict_risk(test))


def test_rule_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="rule_features: unknown feature 'speed'"):
        RuleFallback(FEATURE_NAMES, ["speed"])
    with pytest.raises(ValueError, match="rule_bins must be an integer >= 1"):
        RuleFallback(FEATURE_NAMES, ["age"], rule_bins=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        RuleFallback(FEATURE_NAMES, ["age"]).predict(np.zeros((1, 5)))


def test_guard_range_is_reference_min_max_widened_by_the_margin() -> None:
    X = np.array([[0.0, 10.0], [10.0, 30.0]])
    guard = InputGuard.from_reference(X, margin=0.1, min_confidence=0.5)
    np.testing.assert_allclose(guard.lower, [-1.0, 8.0])
    np.testing.assert_allclose(guard.upper, [11.0, 32.0])
    rows = np.array([[-1.0, 8.0], [-1.01, 20.0], [5.0, 32.5], [11.0, 32.0]])
    assert guard.out_of_range(rows).tolist() == [False, True, True, False]
    confidence = np.array([0.9, 0.9, 0.9, 0.49])
    assert guard.use_fallback(rows, confidence).tolist() == [False, True, True, True]
    disabled = InputGuard.from_reference(X, 0.1, 0.5, enabled=False)
    assert not disabled.use_fallback(rows, confidence).any()
    restored = InputGuard.from_dict(guard.to_dict())
    np.testing.assert_array_equal(restored.lower, guard.lower)
    np.testing.assert_array_equal(restored.upper, guard.upper)
    assert (restored.min_confidence, restored.enabled) == (0.5, True)


def test_served_model_falls_back_out_of_range(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    reference = load_split("reference").features
    typical = np.median(reference, axis=0)
    rows = np.tile(typical, (4, 1))
    age = FEATURE_NAMES.index("age")
    miles = FEATURE_NAMES.index("miles")
    rows[1, age] = model.guard.upper[age] + 1.0      # older than anyone seen
    rows[2, miles] = model.guard.lower[miles] - 1.0  # negative mileage
    rows[3, age] = reference[:, age].max() + 0.5     # beyond max but inside the margin
    served = model.predict(rows)
    assert served.used_fallback[1] and served.used_fallback[2]
    np.testing.assert_array_equal(served.labels[1:3], model.rules.predict(rows[1:3]))
    np.testing.assert_allclose(served.probabilities[1:3], model.rules.predict_proba(rows[1:3]))
    assert served.risk is not None
    np.testing.assert_allclose(served.risk[1:3], model.rules.predict_risk(rows[1:3]))
    network_proba, _ = model.predict_network(rows)
    assert not model.guard.out_of_range(rows[[0, 3]]).any()
    for i in (0, 3):
        assert served.used_fallback[i] == (network_proba[i].max() < model.guard.min_confidence)
    assert not served.used_fallback[0]  # the median driver is a confident, in-range case
    np.testing.assert_allclose(served.probabilities[0], network_proba[0])


def test_served_model_falls_back_when_unsure(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    X = load_split("test").features
    network_proba, _ = model.predict_network(X)
    served = model.predict(X)
    unsure = network_proba.max(axis=1) < model.guard.min_confidence
    assert unsure.any()
    np.testing.assert_array_equal(served.used_fallback, unsure | model.guard.out_of_range(X))
    np.testing.assert_array_equal(served.model_labels, network_proba.argmax(axis=1))
