"""The forked detection backend against the same backend run in this process; a dead or stuck
worker is reported, not waited for."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.executor.checkpoint import load_state
from driftline.executor.decode import EventDecoder
from driftline.executor.detection import (
    CheckpointAt,
    InProcessDetection,
    PartitionBatch,
    StateMismatchError,
)
from driftline.executor.exporter import DriftExporter
from driftline.executor.forked_detection import ForkedDetection, WorkerError
from driftline.executor.pipeline import DetectionPipeline
from driftline.executor.sources import ReplaySource
from tests.executor.pipeline_helpers import fast_config


def _records(months: list[int], bad_every: int = 0) -> list[tuple[Any, Any, int, Any]]:
    out = []
    for i, r in enumerate(ReplaySource.insurance(months, topic="events")):
        value = b"{not json" if bad_every and i % bad_every == 0 else r.value
        out.append((value, r.key, i, r.timestamp_ms))
    return out


class Setup:
    """A model, a config with a checkpoint directory, and a factory of in-process backends
    (what the forked backend runs in its child)."""

    def __init__(self, model: Any, config: Any) -> None:
        self.model, self.config = model, config
        self.decoder = EventDecoder(model.profile.feature_names,
                                    n_classes=len(model.class_names))
        self.template = DetectionPipeline(model, config).state_dict()

    def make_pipeline(self, state: Any) -> DetectionPipeline:
        return DetectionPipeline(self.model, self.config,
                                 state=state if state is not None else self.template)

    def in_process(self) -> InProcessDetection:
        return InProcessDetection(self.decoder, self.make_pipeline)


@pytest.fixture
def setup(loaded_model: Any, artifacts_dir: Path, tmp_path: Path) -> Iterator[Any]:
    config = fast_config(artifacts_dir, checkpoint={"dir": str(tmp_path / "ckpt")})
    made = Setup(loaded_model, config)
    forked = ForkedDetection(made.in_process)
    yield made, forked
    forked.close()


def _samples(exporter: DriftExporter, name: str) -> list[tuple[str, Any, float]]:
    return sorted((s.name, sorted(s.labels.items()), s.value)
                  for metric in exporter.registry.collect() for s in metric.samples
                  if s.name == name)


def test_forked_outcomes_equal_the_in_process_ones(setup: Any) -> None:
    made, forked = setup
    local = made.in_process()
    exporters = {"forked": DriftExporter(made.model.profile),
                 "local": DriftExporter(made.model.profile)}
    forked.open(0)
    local.open(0)
    records = _records([1, 2, 13, 14, 30], bad_every=97)
    for lo in range(0, len(records), 700):
        batch = [PartitionBatch("events", 0, records[lo:lo + 700])]
        forked.submit(batch)
        local.submit(batch)
        (got,) = forked.collect()
        (expected,) = local.collect()
        exporters["forked"].apply_readings(got.result.readings, source=0)
        exporters["local"].apply_readings(expected.result.readings, source=0)
        assert [(d.reason, d.offset, d.value) for d in got.dead_letters] == [
            (d.reason, d.offset, d.value) for d in expected.dead_letters]
        assert got.offsets == expected.offsets
        assert got.result.detections == expected.result.detections
        assert got.result.flags == expected.result.flags
        np.testing.assert_array_equal(got.result.predicted, expected.result.predicted)
    assert forked.state(0) == local.state(0)
    # the readings that crossed the pipe give the exporter the same numbers
    for name in ("driftline_events_processed_total", "driftline_drift_detections_total",
                 "driftline_detector_statistic", "driftline_live_value_bucket"):
        got_samples = _samples(exporters["forked"], name)
        assert got_samples and got_samples == _samples(exporters["local"], name)
    local.close()


def test_a_capture_is_the_state_before_the_next_batch(setup: Any) -> None:
    _, forked = setup
    forked.open(3)
    records = _records([1, 2])
    forked.submit([PartitionBatch("events", 3, records[:600])])
    forked.collect()
    after_first = forked.state(3)
    forked.capture([CheckpointAt("events", 3, 600)])
    forked.submit([PartitionBatch("events", 3, records[600:1200])])  # changes it meanwhile
    (at, payload), = forked.captured()  # answered before the batch: no wait for it
    assert (at.partition, at.offset) == (3, 600)
    assert load_state(payload) == after_first
    forked.collect()
    assert forked.state(3) != after_first
    with pytest.raises(RuntimeError, match="nothing was captured"):
        forked.captured()
    forked.drop([3])
    with pytest.raises(WorkerError, match="no pipeline for partition 3"):
        forked.state(3)


def test_the_next_batch_goes_in_once_the_previous_one_is_done(setup: Any) -> None:
    # the executor waits for batch k, submits k+1, and only then unpickles k's outcomes
    made, forked = setup
    local = made.in_process()
    local.open(0)
    forked.open(0)
    records = _records([1, 2, 13])
    first, second = records[:700], records[700:1400]
    forked.submit([PartitionBatch("events", 0, first)])
    with pytest.raises(RuntimeError, match="in flight"):
        forked.submit([PartitionBatch("events", 0, second)])
    forked.wait()
    forked.submit([PartitionBatch("events", 0, second)])
    for chunk in (first, second):  # collected in the order submitted
        (got,) = forked.collect()
        local.submit([PartitionBatch("events", 0, chunk)])
        (expected,) = local.collect()
        assert got.offsets == expected.offsets
        assert got.result.detections == expected.result.detections
    forked.submit([PartitionBatch("events", 5, first)])  # no pipeline there: the batch fails
    forked.wait()  # the answer is in; the failure is the batch's, raised when collected
    with pytest.raises(WorkerError, match="no pipeline for partition 5"):
        forked.collect()
    local.close()


def test_a_state_that_does_not_fit_is_a_mismatch_and_the_worker_lives_on(setup: Any) -> None:
    made, forked = setup
    broken = dict(made.template, model_sha256="0" * 64)
    with pytest.raises(StateMismatchError, match="other model weights"):
        forked.open(1, broken)
    with pytest.raises(WorkerError, match="no pipeline for partition 9"):
        forked.state(9)
    forked.open(1)
    assert forked.state(1)["counters"]["n_processed"] == 0


def test_a_dead_worker_is_reported_not_waited_for(setup: Any) -> None:
    _, forked = setup
    forked.open(0)
    os.kill(forked.process.pid, signal.SIGKILL)
    forked.process.join(10)
    with pytest.raises(WorkerError, match="gone"):
        forked.submit([PartitionBatch("events", 0, _records([1])[:10])])
        forked.collect()


def test_worker_ignores_ctrl_c_and_exits_when_the_executor_is_gone(setup: Any) -> None:
    _, forked = setup
    forked.open(0)
    forked.state(0)  # answered: the child serves, its signal handlers are in place
    os.kill(forked.process.pid, signal.SIGINT)
    os.kill(forked.process.pid, signal.SIGTERM)
    time.sleep(0.3)
    assert forked.alive  # the executor decides when its worker stops
    forked._conn.close()  # what the kernel does when the executor is killed
    forked.process.join(10)
    assert not forked.alive


def test_a_stuck_worker_is_reported_after_the_answer_timeout(setup: Any) -> None:
    made, _ = setup
    forked = ForkedDetection(made.in_process, answer_timeout_s=1.0)
    try:
        forked.open(0)
        forked.state(0)  # answers in time
        os.kill(forked.process.pid, signal.SIGSTOP)  # alive, but answering nothing
        forked.submit([PartitionBatch("events", 0, _records([1])[:10])])
        started = time.monotonic()
        with pytest.raises(WorkerError, match="did not answer within 1 s"):
            forked.wait()
        assert 0.9 < time.monotonic() - started < 5
        with pytest.raises(WorkerError, match="stuck"):
            forked.collect()  # stays failed: the session is rebuilt
    finally:
        forked.close()  # kills the stopped child
    assert not forked.alive
