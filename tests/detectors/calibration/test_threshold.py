"""detectors.calibration.threshold: ARL0 calibration checked by measured false-alarm rates.

The target is ``horizon / target_arl0`` false alarms expected over a horizon (3 x ARL0 by
default), so fresh data are measured in horizons too: fresh detectors over consecutive
stretches of that length, restarting after each alarm.

Tolerance of the false-alarm checks: the calibration estimate rests on the ~1,200 alarms of 400
deployments (relative standard error ~3 %, more for long-tailed run lengths); the fresh
1,000,000 values count ~500 alarms, a relative standard error of ~1/sqrt(500) = 4.5 %. The tests
accept a measured rate within 25 % of 1/ARL0, which a miscalibration by a threshold step of ~1
sigma (a factor ~1.5-2 in ARL0) would fail.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from driftline.detectors.calibration import (
    CalibrationResult,
    calibrate_bank,
    calibrate_page_hinkley,
    calibrate_threshold,
)
from driftline.detectors.page_hinkley import PageHinkley
from driftline.detectors.page_hinkley_bank import PageHinkleyBank

TARGET = 2000.0
TOLERANCE = 0.25


def _check_false_alarm_rate(
    reference: np.ndarray, fresh: np.ndarray, delta: float, seed: int
) -> CalibrationResult:
    result = calibrate_page_hinkley(reference, TARGET, delta=delta, n_streams=400,
                                    verify_length=200_000, random_state=seed)
    assert result.n_alarms >= 900
    assert result.estimated_arl0 >= TARGET
    horizon = result.stream_length
    alarms = sum(len(PageHinkley(delta=delta, threshold=result.threshold).update_many(
        fresh[start:start + horizon])) for start in range(0, len(fresh), horizon))
    rate = alarms / len(fresh)
    assert abs(rate * TARGET - 1.0) < TOLERANCE, (rate, result)
    assert abs(result.measured_false_alarm_rate * TARGET - 1.0) < 0.5  # ~100 alarms: 10 % s.e.
    return result


def test_calibrated_false_alarm_rate_gaussian() -> None:
    rng = np.random.default_rng(100)
    _check_false_alarm_rate(rng.normal(size=20_000), rng.normal(size=1_000_000), 0.1, 1)


def test_calibrated_false_alarm_rate_skewed() -> None:
    rng = np.random.default_rng(200)
    result = _check_false_alarm_rate(rng.exponential(size=20_000),
                                     rng.exponential(size=1_000_000), 0.25, 2)
    # each deployment covers the horizon (3 x ARL0): ~3 alarms chained per deployment, and
    # sigma re-estimated from 30 skewed values after each restart gives long-tailed run lengths,
    # so some deployments see none
    assert result.samples_simulated >= result.n_streams * result.stream_length
    assert result.n_alarms > 2 * result.n_streams
    assert result.n_censored >= 1


def test_long_tailed_run_lengths_are_counted_over_the_horizon() -> None:
    """Warm-up sigma after every restart: the exponential estimate (time over alarms) and the
    horizon count disagree; the horizon count is what fresh horizons measure."""
    rng = np.random.default_rng(300)
    reference = rng.normal(size=20_000)
    result = calibrate_page_hinkley(reference, 5000.0, delta=0.1, n_streams=300,
                                    stream_length=5000, verify_length=0, random_state=4)
    fresh = rng.normal(size=2_000_000)
    alarms = sum(len(PageHinkley(delta=0.1, threshold=result.threshold).update_many(
        fresh[start:start + 5000])) for start in range(0, len(fresh), 5000))
    assert abs(alarms / len(fresh) * 5000.0 - 1.0) < TOLERANCE, (alarms, result)
    # over one long stream the same threshold alarms less often: long runs are long-tailed
    long_run = len(PageHinkley(delta=0.1, threshold=result.threshold).update_many(fresh))
    assert long_run < 0.85 * alarms


def test_generic_contract_path_matches_fast_path() -> None:
    class LoopOnly(PageHinkley):
        kernel = None  # force the generic per-update path

    reference = np.random.default_rng(6).normal(size=3000)

    def run(cls: type[PageHinkley]) -> CalibrationResult:
        make: Callable[[float], PageHinkley] = lambda h: cls(delta=0.2, threshold=h)  # noqa: E731
        return calibrate_threshold(make, reference, 200.0, n_streams=40, verify_length=2000,
                                   random_state=9)

    fast, slow = run(PageHinkley), run(LoopOnly)
    assert slow.threshold == fast.threshold
    assert slow.n_alarms == fast.n_alarms
    assert slow.verify_alarms == fast.verify_alarms


def test_calibrate_bank_per_feature() -> None:
    rng = np.random.default_rng(7)
    reference = np.column_stack([rng.normal(size=5000), rng.normal(5.0, 3.0, size=5000)])
    thresholds, results = calibrate_bank(reference, 500.0, delta=0.25, n_streams=100,
                                         verify_length=0, random_state=3)
    assert thresholds.shape == (2,) and len(results) == 2
    single = calibrate_page_hinkley(reference[:, 0], 500.0, delta=0.25, n_streams=100,
                                    verify_length=0, random_state=np.random.default_rng(
                                        np.random.SeedSequence(3).spawn(2)[0]))
    assert thresholds[0] == single.threshold
    bank = PageHinkleyBank(["g", "e"], delta=0.25, threshold=thresholds)
    fresh = np.column_stack([rng.normal(size=100_000), rng.normal(5.0, 3.0, size=100_000)])
    counts = np.bincount(bank.update_many(fresh)[:, 1], minlength=2)
    # ~200 alarms expected per feature (estimate from ~100 run lengths: ~10 % s.e.)
    assert ((counts > 120) & (counts < 300)).all(), counts


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_arl0": 1.0}, "target_arl0"),
        ({"threshold_bounds": (5.0, 1.0)}, "threshold_bounds"),
        ({"threshold_bounds": (0.0, 2.0)}, "threshold_bounds"),
        ({"n_streams": 0}, "n_streams"),
        ({"block_size": 10_000}, "block_size"),
        ({"stream_length": 1}, "stream_length"),
        ({"reference": np.array([1.0, np.nan, 2.0])}, "reference"),
        ({"reference": np.zeros((3, 3))}, "reference"),
    ],
)
def test_validation_errors(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"reference": np.random.default_rng(0).normal(size=500),
                               "target_arl0": 1000.0, "n_streams": 20, "verify_length": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        calibrate_threshold(lambda h: PageHinkley(threshold=h), **args)  # type: ignore[arg-type]
