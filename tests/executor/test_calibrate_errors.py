"""Start-up calibration of the error-rate detectors (DDM, EDDM, HDDM_A, ADWIN) to a target ARL0.

The reference is an independent check: alarms per value of the calibrated detector on fresh,
independently seeded Bernoulli streams at the calibration error rate, counted with
:func:`detectors.calibration_horizon.false_alarms` (a fresh detector per stream and after each
alarm, as the calibration counts them). Tolerance: the calibration rests on 5-10 expected alarms
(relative s.e. 30-45 %, more for EDDM whose alarms cluster) and the check below on ~60; a factor
2.5 either way is ~2-3 standard errors, while the defaults this replaces were off by a factor
~30 (EDDM's default beta=0.9 raises ~29 alarms per 20,000 in-control errors).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import driftline.executor.calibrate as calibrate
from driftline.detectors import make_detector
from driftline.detectors.calibration_horizon import false_alarms
from driftline.executor.calibrate import ERROR_PARAMETERS, calibrate_error_detector
from driftline.executor.pipeline import DetectionPipeline
from driftline.executor.summary import RunSummary, format_summary
from tests.executor.pipeline_helpers import fast_config

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
    assert result["params"]["drift_threshold"] == ERROR_PARAMETERS["ddm"].conservative == 4.5
    assert "error detector ddm" in result["message"]
    assert any("error detector ddm" in r.getMessage() for r in caplog.records)


def test_target_beyond_the_sensitive_end_uses_that_end_and_says_so() -> None:
    # ADWIN at delta 0.5 still alarms less than once per 1000 values of a 25 % error rate
    result = calibrate_error_detector("adwin", ERROR_RATE, 1000.0)
    assert result["status"] == "at_bound"
    assert result["params"]["delta"] == pytest.approx(0.5)
    assert "error detector adwin" in result["message"]


def test_explicit_parameter_in_config_is_kept(artifacts_dir: Path, loaded_model: Any) -> None:
    config = fast_config(artifacts_dir, detectors={
        "errors": {"target_arl0": 2000, "params": {"eddm": {"beta": 0.85, "alpha": 0.9}}}})
    pipeline = DetectionPipeline(loaded_model, config)
    assert pipeline.error_detectors["eddm"].beta == 0.85
    assert pipeline.error_calibration["eddm"]["status"] == "configured"


def test_calibration_is_stored_and_restored_without_recalibrating(
    artifacts_dir: Path, loaded_model: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = fast_config(artifacts_dir)
    pipeline = DetectionPipeline(loaded_model, config)
    state = pipeline.state_dict()
    saved = state["calibration"]["errors"]
    assert set(saved) == set(config.detectors.errors.detectors)
    expected = calibrate_error_detector(
        "eddm", float(loaded_model.profile.baseline_error_rate),
        config.detectors.errors.target_arl0, seed=config.detectors.calibration.seed)
    assert saved["eddm"]["params"] == expected["params"]
    assert pipeline.error_detectors["eddm"].beta == expected["params"]["beta"] != 0.9

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a restored pipeline recalibrated its error detectors")

    monkeypatch.setattr("driftline.executor.pipeline_detectors.calibrate_error_detector", refuse)
    monkeypatch.setattr(calibrate, "calibrate_parameter", refuse)
    restored = DetectionPipeline(loaded_model, config, state=state)
    for name, detector in restored.error_detectors.items():
        assert detector.get_params() == pipeline.error_detectors[name].get_params()
    assert restored.state_dict()["calibration"]["errors"] == saved


def test_run_summary_names_a_detector_out_of_reach() -> None:
    note = "error detector adwin: even its most sensitive delta=0.5 alarms less often"
    text = format_summary(RunSummary(calibration_notes=[note]), [])
    assert f"note: {note}" in text
