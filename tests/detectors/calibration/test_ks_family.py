"""IKS bank calibration: the simulated statistic path equals scipy's KS statistic, and the
calibrated family level gives the bank an in-control run length near the target."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from driftline.detectors.calibration.ks_family import (
    calibrate_ks_bank_alpha,
    ks_family_alpha,
    ks_max_path,
)
from driftline.detectors.incremental_ks_bank import IncrementalKSBank


def grid_bins(ref: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    grids = [np.unique(ref[:, j]) for j in range(ref.shape[1])]
    return grids, np.column_stack([np.searchsorted(g, ref[:, j]) for j, g in enumerate(grids)])


@pytest.mark.parametrize("stride", [1, 5, 25])
def test_max_path_equals_scipy_ks_statistic(stride: int) -> None:
    rng = np.random.default_rng(3)
    ref = np.column_stack([rng.normal(size=300), rng.integers(0, 2, 300).astype(float),
                           rng.integers(0, 3, 300).astype(float)])
    grids, bins = grid_bins(ref)
    ref_rows, stream_rows = bins[rng.integers(0, 300, 300)], bins[rng.integers(0, 300, 400)]
    window = 50
    path = ks_max_path(ref_rows, stream_rows, np.array([len(g) for g in grids]), window, stride)
    expected = [max(stats.ks_2samp(grids[j][ref_rows[:, j]], grids[j][stream_rows[t - window:t, j]]
                                   ).statistic for j in range(3))
                for t in range(window, 401, stride)]
    np.testing.assert_allclose(path, expected, rtol=0, atol=1e-12)


def test_calibrated_alpha_gives_the_target_run_length() -> None:
    rng = np.random.default_rng(0)
    reference = np.column_stack([rng.normal(size=400), rng.exponential(size=400)])
    target, window = 400.0, 40
    result = calibrate_ks_bank_alpha(reference, window, target, n_streams=60, stride=1, seed=1)
    assert 300 <= result["estimated_arl0"] <= 600 and result["n_alarms"] >= 30
    # the real bank, each run on its own bootstrap reference, as in production
    rows, alarms = 0, 0
    for _ in range(12):
        ref = reference[rng.integers(0, 400, 400)]
        bank = IncrementalKSBank(["a", "b"], ref, window_size=window, alpha=result["alpha"],
                                 correction="bonferroni")
        stream = reference[rng.integers(0, 400, 2000)]
        alarms += len(bank.update_many(stream))
        rows += len(stream)
    measured = rows / max(alarms, 1)
    assert target / 2 <= measured <= target * 2, (measured, alarms)


def test_bound_level_is_the_inverse_target() -> None:
    ref = np.zeros((10, 2))
    assert ks_family_alpha(ref, 50, 20_000, "bound", n_streams=1, stride=1, seed=0) == 5e-5
    with pytest.raises(ValueError, match="method"):
        ks_family_alpha(ref, 50, 20_000, "magic", n_streams=1, stride=1, seed=0)
