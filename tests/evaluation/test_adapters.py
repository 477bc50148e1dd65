"""Adapters: river through the adapter detects exactly what river does; driftline unchanged.
scikit-multiflow (installed or absent): test_adapters_skmultiflow.py."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift import ADWIN, KSWIN, PageHinkley
from river.drift.binary import DDM

from driftline.detectors import make_detector
from driftline.evaluation.adapters import (
    DetectorUnavailableError,
    DriftlineDetector,
    RiverDetector,
    build_factory,
    run_with_restarts,
)
from driftline.evaluation.baselines import AlwaysFire
from driftline.evaluation.config import DetectorConfig


def _river_direct(make, values: np.ndarray) -> list[int]:
    """river called directly, a fresh detector after each detection."""
    out, det = [], make()
    for i, x in enumerate(values.tolist()):
        det.update(x)
        if det.drift_detected:
            out.append(i)
            det = make()
    return out


def _drifting(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(size=1500), rng.normal(1.5, 1.0, size=1500)]


@pytest.mark.parametrize("make", [
    lambda: PageHinkley(delta=0.1, threshold=10.0),
    lambda: KSWIN(alpha=0.001, seed=3),
    lambda: ADWIN(delta=0.01),
])
def test_river_adapter_matches_river_directly(make) -> None:
    values = _drifting(0)
    direct = _river_direct(make, values)
    assert direct, "the stream must make river fire for the comparison to mean anything"
    assert run_with_restarts(lambda: RiverDetector(make()), values, chunk_size=700) == direct


def test_river_binary_adapter_matches_river_directly() -> None:
    rng = np.random.default_rng(1)
    errors = np.r_[rng.random(2000) < 0.1, rng.random(2000) < 0.4].astype(float)
    direct = _river_direct(DDM, errors)
    assert direct
    assert run_with_restarts(lambda: RiverDetector(DDM()), errors) == direct


def test_river_factory_sets_the_threshold_param() -> None:
    spec = DetectorConfig(name="PageHinkley", library="river", params={"delta": 0.2},
                          threshold_param="threshold")
    factory = build_factory(spec)
    det = factory(7.5)
    assert isinstance(det, RiverDetector)
    assert det.detector.threshold == 7.5 and det.detector.delta == 0.2
    assert factory(None).detector.threshold == PageHinkley().threshold


def test_driftline_adapter_matches_update_many() -> None:
    values = _drifting(2)
    wrapped = DriftlineDetector(make_detector("page_hinkley", threshold=8.0))
    direct = make_detector("page_hinkley", threshold=8.0).update_many(values)
    np.testing.assert_array_equal(wrapped.update_many(values), direct)


def test_reference_is_injected_for_page_hinkley() -> None:
    spec = DetectorConfig(name="page_hinkley", threshold_param="threshold", use_reference=True)
    reference = np.random.default_rng(0).normal(3.0, 2.0, size=500)
    det = build_factory(spec, reference)(12.0)
    assert isinstance(det, DriftlineDetector)
    assert det.detector.reference_mean == pytest.approx(reference.mean())
    assert det.detector.reference_std == pytest.approx(reference.std(ddof=1))
    assert det.detector.threshold == 12.0


def test_always_fire_fires_on_every_value() -> None:
    assert AlwaysFire().update_many(np.zeros(4)).tolist() == [0, 1, 2, 3]
    assert run_with_restarts(lambda: DriftlineDetector(AlwaysFire()), np.zeros(5)) == [0, 1, 2,
                                                                                        3, 4]


def test_unknown_river_detector_names_the_known_ones() -> None:
    with pytest.raises(DetectorUnavailableError, match="KSWIN"):
        build_factory(DetectorConfig(name="Nope", library="river", calibrate=False))
