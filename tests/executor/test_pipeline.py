"""DetectionPipeline: batched inference and detectors, JSON state that continues bit-for-bit,
model failures as dead letters, labels joined from a bounded buffer, readings as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import driftline.executor.pipeline_detectors as pipeline_detectors
from driftline.dataloader.insurance import load_months
from driftline.executor.decode import DecodedEvent
from driftline.executor.exporter import DriftExporter
from driftline.executor.pipeline import DetectionPipeline
from driftline.model.artifacts import LoadedModel
from tests.executor.pipeline_helpers import fast_config


def events_of(months: list[int], *, labels: bool = True, partition: int = 0
              ) -> list[DecodedEvent]:
    data = load_months(months)
    return [DecodedEvent(data.event_ids[i], data.features[i].copy(),
                         int(data.group[i]) if labels else None, float(data.timestamps[i]),
                         "t", partition, i) for i in range(len(data))]


def batches(events: list[DecodedEvent], size: int) -> list[list[DecodedEvent]]:
    return [events[i:i + size] for i in range(0, len(events), size)]


class FixedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def drifting_events() -> list[DecodedEvent]:
    return events_of([1, 12, 24, 36])


def test_state_dict_round_trip_continues_bit_for_bit(
    artifacts_dir: Path, loaded_model: LoadedModel, drifting_events: list[DecodedEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = fast_config(artifacts_dir)
    clock = FixedClock()
    original = DetectionPipeline(loaded_model, config, clock=clock)
    parts = batches(drifting_events, 700)
    half = len(parts) // 2
    for batch in parts[:half]:
        original.process(batch)
    original.add_labels({"late-1": 1})
    state = json.loads(json.dumps(original.state_dict(), allow_nan=False))

    # the restored pipeline reuses the calibration in the state instead of recalibrating
    def no_calibration(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("restored pipeline must not recalibrate")

    monkeypatch.setattr(pipeline_detectors, "calibrate_columns", no_calibration)
    restored = DetectionPipeline(loaded_model, config, state=state, clock=clock)
    assert restored.state_dict() == original.state_dict()
    detections_a, detections_b = [], []
    for batch in parts[half:]:
        detections_a += original.process(batch).detections
        detections_b += restored.process(batch).detections
    assert detections_a == detections_b
    assert len(detections_a) > 0
    assert json.dumps(restored.state_dict()) == json.dumps(original.state_dict())


def test_state_from_another_model_is_refused(
    artifacts_dir: Path, loaded_model: LoadedModel,
) -> None:
    config = fast_config(artifacts_dir)
    pipeline = DetectionPipeline(loaded_model, config)
    state = pipeline.state_dict()
    state["model_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="other model weights"):
        pipeline.load_state_dict(state)


def test_drift_is_detected_on_drifting_features_only(
    artifacts_dir: Path, loaded_model: LoadedModel, drifting_events: list[DecodedEvent],
) -> None:
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    detections = []
    for batch in batches(drifting_events, 500):
        detections += pipeline.process(batch).detections
    inputs = {d.feature for d in detections if d.stream == "inputs" and d.feature}
    assert {"emergency_braking", "miles"} <= inputs
    assert pipeline.counters["n_processed"] == len(drifting_events)
    assert pipeline.counters["n_labelled"] == len(drifting_events)


class BrokenModel:
    """Delegates to a real model until ``broken`` is set, then predict raises."""

    def __init__(self, model: LoadedModel) -> None:
        self._model = model
        self.profile = model.profile
        self.class_names = model.class_names
        self.broken = False

    def predict(self, X: np.ndarray) -> Any:
        if self.broken:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self._model.predict(X)


def test_model_failure_dead_letters_the_batch_and_pipeline_continues(
    artifacts_dir: Path, loaded_model: LoadedModel,
) -> None:
    model = BrokenModel(loaded_model)
    exporter = DriftExporter(loaded_model.profile)
    pipeline = DetectionPipeline(model, fast_config(artifacts_dir))
    events = events_of([1])
    model.broken = True
    result = pipeline.process(events[:300])
    exporter.apply_readings(result.readings)
    assert result.n_processed == 0 and result.readings.seconds is None
    assert [d.reason for d in result.dead_letters] == ["model"] * 300
    assert [d.offset for d in result.dead_letters] == [e.offset for e in events[:300]]
    assert "simulated" in result.dead_letters[0].detail
    assert pipeline.counters["n_model_failures"] == 300
    model.broken = False
    result = pipeline.process(events[300:600])
    exporter.apply_readings(result.readings)
    assert result.n_processed == 300 and not result.dead_letters
    text = exporter.generate().decode()
    assert 'driftline_events_failed_total{reason="model"} 300.0' in text
    assert "driftline_events_processed_total 300.0" in text


def test_labels_are_joined_from_the_buffer_in_either_order(
    artifacts_dir: Path, loaded_model: LoadedModel,
) -> None:
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    events = events_of([1], labels=False)[:400]
    data = load_months([1])
    truth = {events[i].event_id: int(data.group[i]) for i in range(400)}
    early = {k: truth[k] for k in list(truth)[:100]}
    pipeline.add_labels(early)                       # labels before their events
    result = pipeline.process(events)
    assert (result.labels[:100] == [truth[e.event_id] for e in events[:100]]).all()
    assert (result.labels[100:] == -1).all()
    late = {k: truth[k] for k in list(truth)[100:]}
    pipeline.add_labels(late)                        # labels after their events
    assert pipeline.counters["n_labelled"] == 400
    assert pipeline.counters["n_late_labels"] == 300
    predicted = result.predicted
    expected_errors = int(sum(predicted[i] != truth[e.event_id] for i, e in enumerate(events)))
    assert pipeline.counters["n_errors"] == expected_errors
    n_seen = {name: d.n_seen for name, d in pipeline.streams["errors"].detectors.items()}
    assert set(n_seen.values()) == {400}


def test_label_buffer_is_bounded(artifacts_dir: Path, loaded_model: LoadedModel) -> None:
    config = fast_config(artifacts_dir, labels={"buffer_size": 50, "max_age_s": 10.0})
    clock = FixedClock()
    pipeline = DetectionPipeline(loaded_model, config, clock=clock)
    pipeline.add_labels({f"nobody-{i}": 0 for i in range(80)})
    assert pipeline.join.n_waiting_labels == 50
    assert pipeline.join.n_labels_evicted == 30
    pipeline.process(events_of([2], labels=False)[:120])
    assert pipeline.join.n_waiting_predictions == 50
    assert pipeline.join.n_predictions_evicted == 70
    clock.now += 11.0                                # everything is now too old
    pipeline.add_labels({"another": 1})
    assert pipeline.join.n_waiting_labels == 1
    assert pipeline.join.n_labels_evicted == 80


def test_exporter_receives_detector_series(
    artifacts_dir: Path, loaded_model: LoadedModel, drifting_events: list[DecodedEvent],
) -> None:
    exporter = DriftExporter(loaded_model.profile)
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    for detector, stream, features in pipeline.detector_series():
        exporter.register_detector(detector, stream, features)
    for batch in batches(drifting_events, 1000):
        exporter.apply_readings(pipeline.process(batch).readings)
    text = exporter.generate().decode()
    for detector, stream, feature in [("incremental_ks", "inputs", "miles"),
                                      ("page_hinkley", "predictions", "confidence"),
                                      ("nm_ddm", "inputs", ""), ("ddm", "errors", "")]:
        assert (f'driftline_detector_observations{{detector="{detector}",feature="{feature}",'
                f'stream="{stream}"}}') in text
    assert f"driftline_events_processed_total {float(len(drifting_events))}" in text


def test_empty_batch_is_a_no_op(artifacts_dir: Path, loaded_model: LoadedModel) -> None:
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    before = pipeline.state_dict()
    assert pipeline.process([]).n_processed == 0
    assert pipeline.state_dict() == before


def test_readings_say_what_the_detectors_and_the_batch_say(
    artifacts_dir: Path, loaded_model: LoadedModel, drifting_events: list[DecodedEvent],
) -> None:
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    series = {(d, s, f) for d, s, features in pipeline.detector_series() for f in features}
    for batch in batches(drifting_events[:3000], 1000):
        result = pipeline.process(batch)
        readings = result.readings
        assert {(u.detector, u.stream, u.feature) for u in readings.detectors} == series
        found: dict[tuple[str, str, str], int] = {}
        for d in result.detections:
            found[(d.detector, d.stream, d.feature)] = found.get(
                (d.detector, d.stream, d.feature), 0) + 1
        for update in readings.detectors:
            key = (update.detector, update.stream, update.feature)
            assert update.detections == found.get(key, 0)
            assert update.drift == result.flags[key]
        bank = pipeline.streams["features"].detectors["page_hinkley"]
        ph = {u.feature: u for u in readings.detectors
              if (u.detector, u.stream) == ("page_hinkley", "inputs")}
        for name in pipeline.feature_names:
            np.testing.assert_equal(ph[name].statistics, bank.feature_statistics()[name])
        # the live histograms: every finite value once, in the profile's buckets
        histograms = loaded_model.profile.feature_histograms
        X = np.stack([e.features for e in batch])
        for counts in readings.distributions:
            assert counts.counts.sum() == len(batch)
            if counts.stream == "inputs":
                column = X[:, pipeline.feature_names.index(counts.feature)]
                assert counts.counts.tolist() == histograms[counts.feature].count(column)
                assert counts.total == pytest.approx(column.sum())
        assert {c.feature for c in readings.distributions if c.stream == "inputs"} == set(
            histograms)
        assert (readings.n_processed, readings.n_model + readings.n_fallback) == (
            len(batch), len(batch))
        assert readings.seconds == result.seconds > 0
        assert readings.failed_by_reason == {}


def test_late_labels_report_the_error_detectors(
    artifacts_dir: Path, loaded_model: LoadedModel,
) -> None:
    pipeline = DetectionPipeline(loaded_model, fast_config(artifacts_dir))
    events = events_of([1], labels=False)[:200]
    pipeline.process(events)
    data = load_months([1])
    joined = pipeline.add_labels({e.event_id: int(data.group[i]) for i, e in enumerate(events)})
    assert joined.n_processed == 0 and joined.readings.seconds is None
    assert {u.detector for u in joined.readings.detectors} == set(
        pipeline.streams["errors"].detectors)
    assert {u.statistics["n_seen"] for u in joined.readings.detectors
            if "n_seen" in u.statistics} == {200.0}
    assert pipeline.add_labels({"unknown": 1}).readings.detectors == []
