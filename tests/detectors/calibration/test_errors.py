"""detectors.calibration.errors: the error-rate detectors' alarm parameters at a target ARL0.

The reference is an independent check: alarms per value of the calibrated detector on fresh,
independently seeded Bernoulli streams at the calibration error rate, counted with
:func:`detectors.calibration.false_alarms` (a fresh detector per stream and after each
alarm, as the calibration counts them). Tolerance: the calibration rests on 5-10 expected alarms
(relative s.e. 30-45 %, more for EDDM whose alarms cluster) and the check below on ~60; a factor
2.5 either way is ~2-3 standard errors, while the defaults this replaces were off by a factor
~30 (EDDM's default beta=0.9 raises ~29 alarms per 20,000 in-control errors).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from driftline.detectors import make_detector
from driftline.detectors.calibration import calibrate_error_detector, false_alarms
from driftline.detectors.ddm import DDM

ERROR_RATE = 0.25
TARGET = 2000.0


def _fresh_rate(name: str, params: dict[str, Any], n_streams: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    alarms = sum(
        false_alarms(lambda: make_detector(name, **params),
                     (rng.random(int(TARGET)) < ERROR_RATE).astype(np.float64))
        for _ in range(n_streams))
    return alarms / (n_streams * TARGET)


@pytest.mark.parametrize("name", ["ddm", "eddm", "hddm_a"])
def test_calibrated_false_alarm_rate_is_near_the_target(name: str) -> None:
    result = calibrate_error_detector(name, ERROR_RATE, TARGET, seed=3)
    assert result["status"] == "calibrated", result
    rate = _fresh_rate(name, result["params"], 60, seed=1000 + len(name))
    assert 1 / 2.5 < rate * TARGET < 2.5, (rate * TARGET, result)


def test_eddm_default_is_far_off_the_target() -> None:
    # what the calibration fixes: EDDM at its default beta alarms far more often
    rate = _fresh_rate("eddm", {}, 60, seed=77)
    assert rate * TARGET > 5


def test_unreachable_target_falls_back_to_the_most_conservative_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # at a 0.5 % error rate DDM's warm-up mostly sees no error, and it then alarms at the first
    # error whatever its threshold
    with caplog.at_level(logging.WARNING, logger="driftline.calibrate"):
        result = calibrate_error_detector("ddm", 0.005, 20_000.0)
    assert result["status"] == "fallback"
    assert result["params"]["drift_threshold"] == DDM.alarm.conservative == 4.5
    assert "error detector ddm" in result["message"]
    assert any("error detector ddm" in r.getMessage() for r in caplog.records)


def test_target_beyond_the_sensitive_end_uses_that_end_and_says_so() -> None:
    # ADWIN at delta 0.5 still alarms less than once per 1000 values of a 25 % error rate
    result = calibrate_error_detector("adwin", ERROR_RATE, 1000.0)
    assert result["status"] == "at_bound"
    assert result["params"]["delta"] == pytest.approx(0.5)
    assert "error detector adwin" in result["message"]


def test_only_detectors_declaring_fresh_streams_are_calibrated_here() -> None:
    with pytest.raises(ValueError, match=r"page_hinkley.*statistic_path"):
        calibrate_error_detector("page_hinkley", ERROR_RATE, TARGET)
    with pytest.raises(ValueError, match="error_rate"):
        calibrate_error_detector("ddm", 1.5, TARGET)


@pytest.mark.parametrize("name", ["ddm", "eddm", "hddm_a", "adwin"])
def test_error_free_reference_uses_the_most_sensitive_value(name: str) -> None:
    # a baseline rate of 0 (a data-quality flag the reference never showed): no value alarms
    # on an error-free stream, so the most sensitive one meets any target
    result = calibrate_error_detector(name, 0.0, 50_000.0)
    cls = make_detector(name).__class__
    alarm = cls.alarm
    sensitive = alarm.value(alarm.bounds[0] if alarm.increasing else alarm.bounds[1])
    assert result["status"] == "no_errors" and result["message"] == ""
    assert result["params"][alarm.name] == pytest.approx(sensitive)
    detector = make_detector(name, **result["params"])
    assert len(detector.update_many(np.zeros(20_000))) == 0
