"""A run with an ``alarms:`` budget: every calibrated entry is calibrated to its share, the plan
is logged, every series' target ARL0 is exported, and a restored pipeline keeps all of it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.detectors import detector_class
from driftline.detectors.calibration import ColumnRequest, calibrate_columns
from driftline.executor.alarm_budget import announce_targets
from driftline.executor.decode import EventDecoder, encode_event
from driftline.executor.exporter import DriftExporter
from driftline.executor.pipeline import DetectionPipeline
from tests.executor.pipeline_helpers import fast_config, fast_detectors

MONTH_ROWS = 30 * 86400 * 1000.0   # one period of the budget at 1,000 events/s

COLUMNS = [{"detector": "incremental_ks", "method": "ks_tail", "params": {"window_size": 200}},
           {"detector": "page_hinkley", "method": "cusum", "params": {"delta": 0.25}}]


def budget_config(artifacts_dir: Path) -> Any:
    return fast_config(
        artifacts_dir, alarms={"false_pages": 1, "per": "30d", "event_rate_per_s": 1000},
        detectors=fast_detectors(features=COLUMNS, prediction=COLUMNS, input_vector=[],
                                 errors=[{"detector": "ddm"},
                                         {"detector": "eddm", "params": {"beta": 0.9}}]))


def test_budgeted_pipeline(artifacts_dir: Path, loaded_model: Any,
                           caplog: pytest.LogCaptureFixture) -> None:
    config = budget_config(artifacts_dir)
    pipeline = DetectionPipeline(loaded_model, config)
    k = len(loaded_model.profile.feature_names)
    kp = len(pipeline.prediction_names)
    sources = 2 * k + 2 * kp + 1            # eddm sets its alarm parameter: outside the budget
    plan = pipeline.alarm_plan
    assert plan is not None and plan.expected_false_pages == pytest.approx(1.0)
    per_series = MONTH_ROWS * sources        # rate x period x sources / pages
    for row in plan.rows:
        assert row.column_arl0 == pytest.approx(per_series, rel=1e-12)
    # the banks are calibrated to the planned family target (k series share it)
    reference = loaded_model.profile.reference_matrix()
    ph = pipeline.streams["features"].detectors["page_hinkley"]
    expected = calibrate_columns(ColumnRequest(
        detector_class("page_hinkley"), reference, per_series / k, {"delta": 0.25},
        n_streams=50, seed=0, options={"method": "cusum"}))
    assert [d.threshold for d in ph.detectors] == pytest.approx(expected.values)
    # a budget-sized ARL0 needs a far higher threshold than the entries' default 20,000
    small = calibrate_columns(ColumnRequest(
        detector_class("page_hinkley"), reference, 20_000.0, {"delta": 0.25},
        n_streams=50, seed=0, options={"method": "cusum"}))
    assert np.all(np.array(expected.values) > 1.5 * np.array(small.values))
    ddm = pipeline.streams["errors"].calibration["ddm"]
    assert ddm["status"] == "fallback" and "out of reach" in ddm["message"]
    assert pipeline.streams["errors"].calibration["eddm"]["status"] == "configured"

    targets = pipeline.series_targets()
    assert len(targets) == sources + 1
    for detector, stream, feature, arl0 in targets:
        if detector == "eddm":
            assert arl0 == 20_000.0
        else:
            assert arl0 == pytest.approx(per_series, rel=1e-12), (detector, stream, feature)

    exporter = DriftExporter(loaded_model.profile)
    for detector, stream, features in pipeline.detector_series():
        exporter.register_detector(detector, stream, features)
    with caplog.at_level(logging.INFO, logger="driftline.alarms"):
        announce_targets(pipeline, exporter)
    assert "1 false page(s) per 30d at 1000 events/s" in caplog.text
    assert "features/page_hinkley" in caplog.text
    page = exporter.generate().decode()
    assert "driftline_alarm_budget_events_per_second 1000.0" in page.splitlines()
    feature = loaded_model.profile.feature_names[0]
    line = (f'driftline_detector_target_arl0{{detector="page_hinkley",feature="{feature}",'
            f'stream="inputs"}}')
    assert any(row.startswith(line) and float(row.split()[-1]) == pytest.approx(per_series)
               for row in page.splitlines())

    # restored from its state: same plan, same thresholds, no recalibration needed
    restored = DetectionPipeline(loaded_model, config, state=pipeline.state_dict())
    assert restored.series_targets() == targets
    assert [d.threshold for d in restored.streams["features"].detectors[
        "page_hinkley"].detectors] == [d.threshold for d in ph.detectors]


def test_without_a_budget_the_entries_targets_are_exported(artifacts_dir: Path,
                                                           loaded_model: Any) -> None:
    config = fast_config(artifacts_dir, detectors=fast_detectors(
        features=[{"detector": "page_hinkley", "target_arl0": 3000}], prediction=[],
        input_vector=[], errors=[{"detector": "ddm", "target_arl0": 500}]))
    pipeline = DetectionPipeline(loaded_model, config)
    assert pipeline.alarm_plan is None
    k = len(loaded_model.profile.feature_names)
    assert sorted({(d, s, a) for d, s, _, a in pipeline.series_targets()}) == [
        ("ddm", "errors", 500.0), ("page_hinkley", "inputs", 3000.0 * k)]


def test_a_changed_budget_recalibrates_a_restored_pipeline(artifacts_dir: Path,
                                                           loaded_model: Any) -> None:
    """A checkpoint made under one budget, restored under another (a new rate): the entries
    whose target changed are recalibrated and start afresh, everything else continues."""
    config = budget_config(artifacts_dir)
    before = DetectionPipeline(loaded_model, config)
    rows = loaded_model.profile.reference_matrix()[:300]
    decoder = EventDecoder(loaded_model.profile.feature_names,
                           n_classes=len(loaded_model.class_names))
    names = loaded_model.profile.feature_names
    events = [decoder.decode(encode_event(f"e{i}", dict(zip(names, row.tolist(), strict=True)),
                                          None, 1.0), topic="t", partition=0, offset=i,
                             timestamp_ms=1000) for i, row in enumerate(rows)]
    before.process(events)
    state = before.state_dict()
    assert state["counters"]["n_processed"] == 300

    faster = config.model_copy(update={"alarms": config.alarms.model_copy(
        update={"event_rate_per_s": 4000.0})})
    after = DetectionPipeline(loaded_model, faster, state=state)
    fresh = DetectionPipeline(loaded_model, faster)
    calibrated = {("features", "incremental_ks"), ("features", "page_hinkley"),
                  ("prediction", "incremental_ks"), ("prediction", "page_hinkley"),
                  ("errors", "ddm")}
    assert after.retargeted == calibrated           # eddm is configured: same target
    for stream, detector in calibrated:
        assert after.state_dict()["detectors"][stream][detector] == \
            fresh.state_dict()["detectors"][stream][detector]
        assert after.state_dict()["calibration"][stream][detector] == \
            fresh.state_dict()["calibration"][stream][detector]
    ph_before = [d.threshold for d in before.streams["features"].detectors[
        "page_hinkley"].detectors]
    ph_after = [d.threshold for d in after.streams["features"].detectors[
        "page_hinkley"].detectors]
    assert all(a > b for a, b in zip(ph_after, ph_before, strict=True))   # 4x the ARL0
    assert after.state_dict()["detectors"]["errors"]["eddm"] == state["detectors"]["errors"][
        "eddm"]
    assert after.counters["n_processed"] == 300
    # the same budget again: nothing recalibrated, every detector continues
    same = DetectionPipeline(loaded_model, config, state=state)
    assert same.retargeted == set()
    assert same.state_dict()["detectors"] == state["detectors"]
