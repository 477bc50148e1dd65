"""The detection worker process against the same pipeline run in this process."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.decode import EventDecoder
from driftline.executor.exporter import DriftExporter
from driftline.executor.kafka_batch import detect_records
from driftline.executor.pipeline import DetectionPipeline
from driftline.executor.sources import ReplaySource
from driftline.executor.worker import (
    DetectionWorker,
    ExporterRecorder,
    PackedRecords,
    RemotePipeline,
    WorkerError,
)
from tests.executor.pipeline_helpers import fast_config


def _records(months: list[int], bad_every: int = 0) -> list[tuple[Any, Any, int, Any]]:
    out = []
    for i, r in enumerate(ReplaySource.insurance(months, topic="events")):
        value = b"{not json" if bad_every and i % bad_every == 0 else r.value
        out.append((value, r.key, i, r.timestamp_ms))
    return out


@pytest.fixture
def setup(loaded_model: Any, artifacts_dir: Path, tmp_path: Path) -> Any:
    config = fast_config(artifacts_dir, checkpoint={"dir": str(tmp_path / "ckpt")})
    decoder = EventDecoder(loaded_model.profile.feature_names,
                           n_classes=len(loaded_model.class_names))
    template = DetectionPipeline(loaded_model, config).state_dict()
    worker = DetectionWorker(loaded_model, config, decoder, template)
    yield loaded_model, config, decoder, template, worker
    worker.close()


def test_worker_outcomes_equal_the_pipeline_run_here(setup: Any) -> None:
    model, config, decoder, template, worker = setup
    local = DetectionPipeline(model, config, state=template)
    exporter = DriftExporter(model.profile)
    remote = RemotePipeline(worker, 0, None, exporter.for_source(0))
    records = _records([1, 2, 13, 14, 30], bad_every=97)
    for lo in range(0, len(records), 700):
        chunk = records[lo:lo + 700]
        expected = detect_records(decoder, local, "events", 0, chunk)
        worker.submit_batch([("events", 0, chunk)])
        (got,) = worker.collect_batch()
        remote.replay(got.exporter_calls)
        assert [(d.reason, d.offset, d.value) for d in got.rejects] == [
            (d.reason, d.offset, d.value) for d in expected.rejects]
        assert got.offsets == expected.offsets and got.periods == expected.periods
        assert got.result.detections == expected.result.detections
        assert got.result.flags == expected.result.flags
        np.testing.assert_array_equal(got.result.predicted, expected.result.predicted)
    assert remote.state_dict() == local.state_dict()
    # the replayed observations reached the real exporter: the same numbers as a local
    # pipeline reporting to an exporter of its own
    reference = DriftExporter(model.profile)
    replayed = DetectionPipeline(model, config, state=template,
                                 exporter=reference.for_source(0))
    for lo in range(0, len(records), 700):
        detect_records(decoder, replayed, "events", 0, records[lo:lo + 700])
    for name in ("driftline_events_processed_total", "driftline_drift_detections_total",
                 "driftline_detector_statistic", "driftline_events_failed_total"):
        got_samples = _samples(exporter, name)
        assert got_samples and got_samples == _samples(reference, name)


def _samples(exporter: DriftExporter, name: str) -> list[tuple[str, Any, float]]:
    return sorted((s.name, sorted(s.labels.items()), s.value)
                  for metric in exporter.registry.collect() for s in metric.samples
                  if s.name == name)


def test_a_snapshot_is_the_state_before_the_next_batch(setup: Any) -> None:
    _, config, _, _, worker = setup
    store = CheckpointStore(config.checkpoint.dir)
    remote = RemotePipeline(worker, 3, None, None)
    records = _records([1, 2])
    worker.submit_batch([("events", 3, records[:600])])
    worker.collect_batch()
    after_first = remote.state_dict()
    remote.snapshot_checkpoint("events", 3, 600)
    worker.submit_batch([("events", 3, records[600:1200])])  # changes the pipeline meanwhile
    worker.post("write", [("labels", 3, 41)])
    worker.collect_batch()
    worker.drain()
    deadline = time.monotonic() + 10
    while store.load("labels", 3) is None and time.monotonic() < deadline:
        time.sleep(0.02)  # written on the worker's checkpoint thread
    remote.close()  # waits for the worker's pending writes
    saved = store.load("events", 3)
    assert saved is not None and saved.offset == 600
    assert saved.state == after_first
    assert store.load("labels", 3).offset == 41


def test_the_next_batch_goes_in_once_the_previous_one_is_answered(setup: Any) -> None:
    # the executor drains batch k, submits k+1, and only then unpickles k's outcomes
    model, config, decoder, template, worker = setup
    local = DetectionPipeline(model, config, state=template)
    RemotePipeline(worker, 0, None, None)
    records = _records([1, 2, 13])
    first, second = records[:700], records[700:1400]
    worker.submit_batch([("events", 0, first)])
    with pytest.raises(RuntimeError, match="in flight"):
        worker.submit_batch([("events", 0, second)])
    worker.drain()
    worker.submit_batch([("events", 0, second)])
    for chunk in (first, second):  # collected in the order submitted
        (got,) = worker.collect_batch()
        expected = detect_records(decoder, local, "events", 0, chunk)
        assert got.offsets == expected.offsets
        assert got.result.detections == expected.result.detections
    worker.submit_batch([("events", 5, first)])  # no pipeline there: the batch fails
    worker.drain()  # the answer is in; the failure is the batch's, raised when collected
    with pytest.raises(WorkerError, match="no pipeline for partition 5"):
        worker.collect_batch()


def test_a_state_that_does_not_fit_is_an_error_and_the_worker_lives_on(setup: Any) -> None:
    _, _, _, template, worker = setup
    broken = dict(template, model_sha256="0" * 64)
    with pytest.raises(WorkerError, match="other model weights"):
        RemotePipeline(worker, 1, broken, None)
    with pytest.raises(WorkerError, match="no pipeline for partition 9"):
        worker.call("state", 9)
    assert RemotePipeline(worker, 1, None, None).state_dict()["counters"]["n_processed"] == 0


def test_a_dead_worker_is_reported_not_waited_for(setup: Any) -> None:
    worker = setup[4]
    RemotePipeline(worker, 0, None, None)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.join(10)
    with pytest.raises(WorkerError, match="gone"):
        worker.submit_batch([("events", 0, _records([1])[:10])])
        worker.collect_batch()


def test_worker_ignores_ctrl_c_and_exits_when_the_executor_is_gone(setup: Any) -> None:
    worker = setup[4]
    os.kill(worker.process.pid, signal.SIGINT)
    os.kill(worker.process.pid, signal.SIGTERM)
    time.sleep(0.3)
    assert worker.alive  # the executor decides when its worker stops
    worker._conn.close()  # what the kernel does when the executor is killed
    worker.process.join(10)
    assert not worker.alive


def test_recorder_captures_bank_readings_by_value() -> None:
    class Bank:
        n_features = 2
        drift_detected = np.array([True, False])
        warning_detected = np.array([False, False])

        def feature_statistics(self) -> dict[str, dict[str, float]]:
            return {"a": {"statistic": 0.5}, "b": {"statistic": 0.1}}

    recorder = ExporterRecorder()
    bank = Bank()
    recorder.observe_bank("iks", "inputs", bank, np.array([[3, 0]]))
    recorder.observe_events(processed=5)
    bank.drift_detected = np.array([False, False])  # later changes do not leak into the record
    (name, args, _), (name2, _, kwargs2) = recorder.take()
    assert name == "observe_bank" and args[2].drift_detected.tolist() == [True, False]
    assert args[2].feature_statistics()["a"]["statistic"] == 0.5
    assert name2 == "observe_events" and kwargs2 == {"processed": 5}
    assert recorder.take() == []


def test_packed_records_give_back_every_field_in_order() -> None:
    class Record:
        def __init__(self, value: Any, key: Any, offset: int, timestamp: Any) -> None:
            self.value, self.key, self.offset, self.timestamp = value, key, offset, timestamp

    rows = [(b'{"a": 1}', b"k1", 10, 1_700_000_000_000), (None, None, 11, None),
            (b"", b"", 12, -1), (b"\xff\x00 bytes", None, 13, 5), (None, b"k5", 14, 6)]
    packed = PackedRecords([Record(*row) for row in rows])
    assert len(packed) == len(rows)
    assert list(pickle.loads(pickle.dumps(packed))) == rows
    assert list(PackedRecords([])) == []
