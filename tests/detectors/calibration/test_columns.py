"""Bank-of-columns calibration: the method registry, the JSON form, the bank it builds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from driftline.detectors.calibration import (
    METHODS,
    ColumnCalibration,
    ColumnRequest,
    calibrate_columns,
    calibrate_threshold,
)
from driftline.detectors.ddm import DDM
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.page_hinkley import PageHinkley


def _reference(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(size=600), rng.exponential(size=600),
                            rng.integers(0, 3, 600).astype(float)])


def test_statistic_path_method_splits_the_target_and_pins_each_stream_to_its_resample() -> None:
    reference = _reference()
    request = ColumnRequest(PageHinkley, reference, 500.0, {"delta": 0.25, "min_instances": 10},
                            n_streams=45, seed=4)
    result = calibrate_columns(request)
    assert result.alarm == "threshold" and result.correction is None
    assert len(result.values) == 3 and all(0.0 < t < 2000.0 for t in result.values)
    # column 1 by hand: the same seeds, streams and double bootstrap (each deployment pinned to
    # its own resample of the column)
    rng = np.random.default_rng(np.random.SeedSequence(4).spawn(3)[1])
    column = reference[:, 1]

    def pinned(sample: np.ndarray) -> Callable[[float], PageHinkley]:
        return lambda threshold: PageHinkley(delta=0.25, min_instances=10, threshold=threshold,
                                             reference_mean=float(np.mean(sample)),
                                             reference_std=float(np.std(sample, ddof=1)))

    def deployment(draw: np.random.Generator) -> Callable[[float], PageHinkley]:
        return pinned(column[draw.integers(0, len(column), len(column))])

    by_hand = calibrate_threshold(pinned(column), column, 1500.0,
                                  threshold_bounds=(0.0, 2000.0), n_streams=45,
                                  stream_length=2250, verify_length=0, xtol=1e-4,
                                  deployment=deployment, random_state=rng)
    assert result.values[1] == by_hand.threshold
    bank = result.bank(PageHinkley, ["a", "b", "c"], reference, request.params)
    assert bank.correction is None
    assert [d.threshold for d in bank.detectors] == result.values
    np.testing.assert_array_equal([d.reference_mean for d in bank.detectors],
                                  reference.mean(axis=0))


def test_ks_family_method_builds_a_corrected_bank_at_the_family_level() -> None:
    reference = _reference(1)
    result = calibrate_columns(ColumnRequest(IncrementalKS, reference, 1000.0,
                                             {"window_size": 50}, n_streams=3, seed=0,
                                             options={"calibration": "bound"}))
    assert result == ColumnCalibration("alpha", [1e-3], "bonferroni")
    bank = result.bank(IncrementalKS, ["a", "b", "c"], reference, {"window_size": 50})
    assert (bank.correction, bank.alpha, bank.reset_on_drift) == ("bonferroni", 1e-3, True)
    assert all(not d.reset_on_drift and d.reference == reference[:, j].tolist()
               for j, d in enumerate(bank.detectors))


def test_json_round_trip_and_refusal_of_other_formats() -> None:
    result = ColumnCalibration("threshold", [3.0, 4.5])
    assert ColumnCalibration.from_json(result.to_json()) == result
    for old in (0.001, [3.0, 4.5], {"alpha": 0.1}):
        with pytest.raises(ValueError, match="column calibration"):
            ColumnCalibration.from_json(old)


def test_a_detector_whose_method_calibrates_no_columns_is_refused() -> None:
    assert DDM.alarm.method not in METHODS
    with pytest.raises(ValueError, match="fresh_streams"):
        calibrate_columns(ColumnRequest(DDM, np.zeros((10, 2)), 100.0, {}, n_streams=2,
                                        seed=0))
    with pytest.raises(ValueError, match="n_ref >= 2"):
        calibrate_columns(ColumnRequest(PageHinkley, np.zeros(10), 100.0, {}, n_streams=2,
                                        seed=0))


def test_every_declared_method_is_registered() -> None:
    from driftline.detectors import REGISTRY, detector_class

    for name in REGISTRY:
        alarm = detector_class(name).alarm
        assert all(method in METHODS for method in alarm.methods), (name, alarm.methods)


def test_the_method_option_picks_a_declared_alternative() -> None:
    from driftline.detectors.calibration.cusum import CusumModel

    reference = np.random.default_rng(5).normal(size=(3000, 2))
    params = {"delta": 0.5}
    result = calibrate_columns(ColumnRequest(
        PageHinkley, reference, 1e9, params, n_streams=10, seed=0,
        options={"method": "cusum", "law": "normal", "reference_uncertainty": False}))
    # each column at k * target (Bonferroni), the normal form of Siegmund's approximation
    assert result.values == pytest.approx([CusumModel(0.5).threshold(2e9)] * 2)
    uncertain = calibrate_columns(ColumnRequest(
        PageHinkley, reference, 1e9, params, n_streams=10, seed=0,
        options={"method": "cusum", "law": "normal"}))
    assert all(u > v for u, v in zip(uncertain.values, result.values, strict=True))
    with pytest.raises(ValueError, match="does not declare"):
        calibrate_columns(ColumnRequest(PageHinkley, reference, 1e4, params, n_streams=10,
                                        seed=0, options={"method": "ks_tail"}))
    # the simulation method refuses a budget-sized target instead of running for days
    with pytest.raises(ValueError, match="cusum"):
        calibrate_columns(ColumnRequest(PageHinkley, reference, 1e9, params, n_streams=40,
                                        seed=0))


def test_ks_tail_method_gives_a_corrected_bank_far_more_sensitive_than_the_bound() -> None:
    reference = np.random.default_rng(6).normal(size=(1500, 2))
    tail = calibrate_columns(ColumnRequest(IncrementalKS, reference, 1e8, {"window_size": 200},
                                           n_streams=2, seed=0, options={"method": "ks_tail"}))
    bound = calibrate_columns(ColumnRequest(IncrementalKS, reference, 1e8,
                                            {"window_size": 200}, n_streams=2, seed=0))
    assert tail.correction == "bonferroni" and tail.values[0] > 10 * bound.values[0]
