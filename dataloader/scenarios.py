"""Synthetic drift scenarios with known change points (univariate streams and tabular rows).

This module gathers :mod:`dataloader.scenarios_univariate` (single streams for detector
benchmarks, including 0/1 error-rate streams) and :mod:`dataloader.scenarios_tabular` (rows with
feature names and a target, for bank/multivariate detectors and the model). Every generator is
deterministic per ``seed`` and returns the data together with its ground truth.

Example
-------
>>> from driftline.dataloader.scenarios import bimodal_stream, make_tabular_scenario
>>> stream = bimodal_stream(length=2000, change_points=1000, seed=3)
>>> stream.kind, stream.change_points
('shape', (1000,))
>>> sc = make_tabular_scenario("concept", n_rows=1000, seed=3)
>>> sc.targets.shape, sc.drifted_features
((1000,), ('x0', 'x1', 'x2', 'x3', 'x4'))
"""

from __future__ import annotations

from driftline.dataloader.scenarios_tabular import (
    TABULAR_KINDS,
    TabularScenario,
    abrupt_scenario,
    concept_scenario,
    correlation_scenario,
    gradual_scenario,
    make_tabular_scenario,
    recurring_scenario,
    shape_scenario,
    target_weights,
    variance_scenario,
)
from driftline.dataloader.scenarios_univariate import (
    DriftStream,
    bimodal_stream,
    check_change_points,
    error_rate_stream,
    mean_shift_stream,
    no_drift_stream,
    variance_stream,
)

__all__ = [
    "TABULAR_KINDS",
    "DriftStream",
    "TabularScenario",
    "abrupt_scenario",
    "bimodal_stream",
    "check_change_points",
    "concept_scenario",
    "correlation_scenario",
    "error_rate_stream",
    "gradual_scenario",
    "make_tabular_scenario",
    "mean_shift_stream",
    "no_drift_stream",
    "recurring_scenario",
    "shape_scenario",
    "target_weights",
    "variance_scenario",
    "variance_stream",
]
