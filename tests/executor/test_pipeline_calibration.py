"""The pipeline's start-up calibration: configured alarm parameters are kept, calibrations travel
in the state (a restored pipeline does not recalibrate), notes reach the run summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftline.detectors.calibration import calibrate_error_detector, errors
from driftline.executor.pipeline import DetectionPipeline
from driftline.executor.summary import RunSummary, format_summary
from tests.executor.pipeline_helpers import FAST_STREAMS, fast_config, fast_detectors


def test_explicit_parameter_in_config_is_kept(artifacts_dir: Path, loaded_model: Any) -> None:
    config = fast_config(artifacts_dir, detectors=fast_detectors(errors=[
        {"detector": "ddm", "target_arl0": 2000},
        {"detector": "eddm", "target_arl0": 2000, "params": {"beta": 0.85, "alpha": 0.9}}]))
    pipeline = DetectionPipeline(loaded_model, config)
    errors_stream = pipeline.streams["errors"]
    assert errors_stream.detectors["eddm"].beta == 0.85
    assert errors_stream.calibration["eddm"]["status"] == "configured"
    assert errors_stream.calibration["ddm"]["status"] != "configured"


def test_configured_alarm_on_a_column_bank_is_used_as_is(artifacts_dir: Path,
                                                         loaded_model: Any) -> None:
    config = fast_config(artifacts_dir, detectors=fast_detectors(features=[
        {"detector": "page_hinkley", "params": {"threshold": 42.0}}]))
    pipeline = DetectionPipeline(loaded_model, config)
    bank = pipeline.streams["features"].detectors["page_hinkley"]
    assert {d.threshold for d in bank.detectors} == {42.0}
    assert pipeline.state_dict()["calibration"]["features"]["page_hinkley"]["values"] == [
        42.0] * len(loaded_model.profile.feature_names)


def test_calibration_is_stored_and_restored_without_recalibrating(
    artifacts_dir: Path, loaded_model: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = fast_config(artifacts_dir)
    pipeline = DetectionPipeline(loaded_model, config)
    state = pipeline.state_dict()
    saved = state["calibration"]["errors"]
    assert set(saved) == {entry["detector"] for entry in FAST_STREAMS["errors"]}
    expected = calibrate_error_detector(
        "eddm", float(loaded_model.profile.baseline_error_rate), 2000.0,
        seed=config.detectors.calibration.seed)
    assert saved["eddm"]["params"] == expected["params"]
    detectors = pipeline.streams["errors"].detectors
    assert detectors["eddm"].beta == expected["params"]["beta"] != 0.9

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a restored pipeline recalibrated its error detectors")

    monkeypatch.setattr("driftline.executor.pipeline_detectors.calibrate_error_detector", refuse)
    monkeypatch.setattr(errors, "calibrate_parameter", refuse)
    restored = DetectionPipeline(loaded_model, config, state=state)
    for name, detector in restored.streams["errors"].detectors.items():
        assert detector.get_params() == detectors[name].get_params()
    assert restored.state_dict()["calibration"]["errors"] == saved


def test_run_summary_names_a_detector_out_of_reach() -> None:
    note = "error detector adwin: even its most sensitive delta=0.5 alarms less often"
    text = format_summary(RunSummary(calibration_notes=[note]), [])
    assert f"note: {note}" in text
