"""Calibration of the chi-square detector: simulated paths against the detector, the calibrated
level measured on fresh multinomial draws, the bound, banks of columns through METHODS."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors._kernels.chi_square_state import build_table
from driftline.detectors.calibration import METHODS, ColumnRequest, calibrate_columns
from driftline.detectors.calibration.chi_square import (
    calibrate_chi_square_alpha,
    chi_square_alphas,
    window_paths,
)
from driftline.detectors.calibration.run_length import false_alarms
from driftline.detectors.chi_square import ChiSquare

P = np.array([0.3, 0.25, 0.2, 0.1, 0.08, 0.04, 0.02, 0.01])


def _measured_arl0(counts: list[int], alpha: float, window_size: int, values: np.ndarray) -> float:
    alarms = false_alarms(lambda: ChiSquare(counts, window_size=window_size, alpha=alpha),
                          values.astype(np.float64))
    return len(values) / max(alarms, 1)


def test_window_paths_are_the_detectors_statistics() -> None:
    rng = np.random.default_rng(0)
    counts = [500, 400, 0, 200, 30, 10]
    table = build_table(counts, 50, 0.01, 5.0, None)
    codes = rng.choice(8, size=3000, p=[0.3, 0.3, 0.02, 0.2, 0.08, 0.05, 0.03, 0.02])
    statistic, unseen = window_paths(table, codes)
    detector = ChiSquare(counts, window_size=50, alpha=1e-300, reset_on_drift=False)
    expected = []
    for code in codes:
        detector.update(float(code))
        expected.append((detector.statistics["statistic"], detector.statistics["unseen_count"]))
    assert np.isnan(statistic[:49]).all() and np.isnan(unseen[:49]).all()
    np.testing.assert_allclose(statistic[49:], [s for s, _ in expected[49:]], rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_array_equal(unseen[49:], [u for _, u in expected[49:]])


def test_a_calibrated_level_meets_its_target_on_fresh_draws() -> None:
    """A reference of 10^6 values (its sampling noise is negligible): the level calibrated for
    ARL0 2000 gives, on 10^6 fresh multinomial draws, an ARL0 within the estimate's error."""
    rng = np.random.default_rng(1)
    counts = rng.multinomial(10**6, P).tolist()
    result = calibrate_chi_square_alpha(counts, 2000, window_size=100, n_streams=100, seed=2)
    assert result["n_alarms"] >= 80
    measured = _measured_arl0(counts, result["alpha"], 100, rng.choice(len(P), 10**6, p=P))
    assert 0.75 < measured / 2000 < 1.33
    # the per-window level is far above 1 / ARL0: the windows' tests are dependent
    assert result["alpha"] > 10 / 2000


def test_the_bound_is_conservative() -> None:
    rng = np.random.default_rng(3)
    counts = rng.multinomial(10**6, P).tolist()
    (alpha,) = chi_square_alphas(np.array(counts)[:, None], 500, {"window_size": 100}, "bound",
                                 n_streams=1, seed=0)
    assert alpha == 1 / 500
    assert _measured_arl0(counts, alpha, 100, rng.choice(len(P), 200_000, p=P)) > 2 * 500


@pytest.mark.slow
def test_the_double_bootstrap_meets_the_target_over_small_references() -> None:
    """References of 1,500 values, windows of 300: each reference gets its own calibration
    (streams resampled from it); on fresh draws of the true distribution the ARL0 pooled over
    the references stays near the target (alarm counts add up over references)."""
    rng = np.random.default_rng(4)
    target, values, alarms = 1000, 0, 0
    for seed in range(8):
        counts = rng.multinomial(1500, P).tolist()
        alpha = calibrate_chi_square_alpha(counts, target, window_size=300, n_streams=60,
                                           seed=seed)["alpha"]
        fresh = rng.choice(len(P), 150_000, p=P).astype(np.float64)
        alarms += false_alarms(lambda c=counts, a=alpha: ChiSquare(c, window_size=300, alpha=a),
                               fresh)
        values += len(fresh)
    assert 0.6 < values / max(alarms, 1) / target < 1.6


def test_a_bank_of_columns_is_calibrated_column_by_column() -> None:
    rng = np.random.default_rng(5)
    reference = np.column_stack([rng.choice(len(P), 20_000, p=P),
                                 rng.choice(3, 20_000, p=[0.5, 0.3, 0.2])]).astype(np.float64)
    assert ChiSquare.alarm.method == "chi_square" and "chi_square" in METHODS
    request = ColumnRequest(ChiSquare, reference, 1000.0, {"window_size": 100}, n_streams=30,
                            seed=0)
    result = calibrate_columns(request)
    assert result.correction is None and len(result.values) == 2
    assert all(1 / 2000 < a < 0.5 for a in result.values)
    again = calibrate_columns(request)  # cached per process: the same levels
    assert again.values == result.values
    bank = result.bank(ChiSquare, ["a", "b"], reference, {"window_size": 100})
    assert [d.alpha for d in bank.detectors] == result.values
    assert [d.reference for d in bank.detectors] == [
        np.bincount(reference[:, j].astype(int), minlength=len(P)).tolist() for j in range(2)]
    bound = calibrate_columns(ColumnRequest(ChiSquare, reference, 1000.0, {}, n_streams=1,
                                            seed=0, options={"calibration": "bound"}))
    assert bound.values == [1 / 2000, 1 / 2000]


def test_calibration_errors_name_what_to_change() -> None:
    counts = np.array([[10, 20], [30, 40]])
    with pytest.raises(ValueError, match="'bound' or 'bootstrap'"):
        chi_square_alphas(counts, 100, {}, "exact", n_streams=1, seed=0)
    with pytest.raises(ValueError, match="calibration='bound'"):
        calibrate_chi_square_alpha([10, 20], 1e9, window_size=100, n_streams=40)
