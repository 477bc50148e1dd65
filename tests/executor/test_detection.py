"""The in-process detection backend: requests in order, outcomes as data, captured states."""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from driftline.executor.checkpoint import load_state
from driftline.executor.decode import DeadLetter, DecodedEvent, EventDecoder, encode_event
from driftline.executor.detection import (
    CheckpointAt,
    InProcessDetection,
    PackedRecords,
    PartitionBatch,
    StateMismatchError,
    detect_partition,
)
from driftline.executor.outcome import BatchResult, Detection


class Recording:
    """A pipeline that counts events, records what it was given in order, and fails the
    model on events whose id starts with ``crash``."""

    def __init__(self, state: Mapping[str, Any] | None) -> None:
        if state is not None and "seen" not in state:
            raise KeyError("seen")
        self.seen = 0 if state is None else int(state["seen"])
        self.log: list[Any] = []

    def process(self, events: Sequence[DecodedEvent]) -> BatchResult:
        self.log.append([e.event_id for e in events])
        if any(e.event_id.startswith("crash") for e in events):
            return BatchResult(dead_letters=[
                DeadLetter("model", "boom", None, e.event_id.encode(), e.topic, e.partition,
                           e.offset, None) for e in events])
        self.seen += len(events)
        ids = [e.event_id for e in events]
        return BatchResult(n_processed=len(events), event_ids=ids,
                           detections=[Detection("d", "inputs", "x", ids[-1])])

    def add_labels(self, labels: Mapping[str, int]) -> BatchResult:
        self.log.append(dict(labels))
        return BatchResult()

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}


DECODER = EventDecoder(["x"], n_classes=3)


def record(event_id: str, offset: int) -> tuple[bytes, bytes, int, int]:
    return encode_event(event_id, {"x": float(offset)}), event_id.encode(), offset, 1000 + offset


def test_detect_partition_joins_labels_first_and_keeps_original_bytes() -> None:
    pipeline = Recording(None)
    bad = (b'{"event_id": "p", "features": {"x": "high"}}', b"k", 11, None)
    batch = PartitionBatch("events", 2, [record("a", 10), bad, record("b", 12)],
                           labels=[{"z": 1}, {"y": 2}], periods=["p1", "p1", "p2"])
    outcome = detect_partition(DECODER, pipeline, batch)
    assert pipeline.log == [{"z": 1}, {"y": 2}, ["a", "b"]]
    assert len(outcome.label_results) == 2
    assert [(d.reason, d.offset, d.value) for d in outcome.dead_letters] == [
        ("wrong_type", 11, bad[0])]
    assert outcome.result.event_ids == ["a", "b"]
    assert outcome.offsets == [10, 12] and outcome.periods == ["p1", "p2"]
    crashed = detect_partition(DECODER, pipeline, PartitionBatch(
        "events", 2, [record("crash-1", 20), record("crash-2", 21)]))
    assert crashed.offsets == [] and crashed.result.n_processed == 0
    assert [(d.reason, d.value, d.key, d.timestamp_ms) for d in crashed.dead_letters] == [
        ("model", record(f"crash-{i}", o)[0], f"crash-{i}".encode(), 1000 + o)
        for i, o in ((1, 20), (2, 21))]


def captured(backend: InProcessDetection) -> list[tuple[int, int, dict[str, Any]]]:
    return [(at.partition, at.offset, load_state(payload)) for at, payload in backend.captured()]


def test_requests_take_effect_in_the_order_they_are_made() -> None:
    backend = InProcessDetection(DECODER, Recording)
    backend.open(0)
    backend.submit([PartitionBatch("events", 0, [record("a", 0), record("b", 1)])])
    with pytest.raises(RuntimeError, match="in flight"):
        backend.submit([PartitionBatch("events", 0, [record("c", 2)])])
    backend.capture([CheckpointAt("events", 0, 2)])  # after the batch submitted before it
    backend.wait()
    backend.submit([PartitionBatch("events", 0, [record("c", 2)])])  # k+1 before k's collect
    (first,) = backend.collect()
    (second,) = backend.collect()
    assert first.result.event_ids == ["a", "b"] and second.result.event_ids == ["c"]
    with pytest.raises(RuntimeError, match="no batch"):
        backend.collect()
    assert captured(backend) == [(0, 2, {"seen": 2})]  # captured before "c"
    with pytest.raises(RuntimeError, match="nothing was captured"):
        backend.captured()
    assert backend.state(0) == {"seen": 3}
    backend.close()


def test_a_state_that_does_not_fit_is_a_mismatch_and_a_failed_batch_fails_its_collect(
        ) -> None:
    backend = InProcessDetection(DECODER, Recording)
    with pytest.raises(StateMismatchError, match="KeyError"):
        backend.open(0, {"other": 1})
    assert backend.pipelines == {}
    backend.open(0, {"seen": 5})
    backend.submit([PartitionBatch("events", 7, [record("a", 0)])])
    backend.wait()  # the failure is the batch's
    with pytest.raises(LookupError, match="no pipeline for partition 7"):
        backend.collect()
    with pytest.raises(LookupError, match="no pipeline for partition 3"):
        backend.capture([CheckpointAt("events", 3, 1)])
    assert backend.state(0) == {"seen": 5}


def test_dropping_a_partition_forgets_its_captured_state_and_close_discards() -> None:
    backend = InProcessDetection(DECODER, Recording)
    for partition in (0, 1):
        backend.open(partition)
    backend.capture([CheckpointAt("events", 0, 0), CheckpointAt("events", 1, 0)])
    backend.drop([1])
    assert captured(backend) == [(0, 0, {"seen": 0})]
    backend.submit([PartitionBatch("events", 0, [record("a", 0)])])
    backend.capture([CheckpointAt("events", 0, 1)])
    backend.close()  # the unfinished batch and the capture not taken are gone
    with pytest.raises(RuntimeError, match="closed"):
        backend.state(0)
    with pytest.raises(RuntimeError, match="closed"):
        backend.captured()


def test_values_outside_the_reference_range_are_counted_and_served() -> None:
    decoder = EventDecoder(["x"], n_classes=3, ranges={"x": (0.0, 10.0)})
    pipeline = Recording(None)
    outcome = detect_partition(decoder, pipeline, PartitionBatch(
        "events", 0, [record(f"e{o}", o) for o in (3, 12, 4, 25)]))
    assert outcome.result.event_ids == ["e3", "e12", "e4", "e25"]
    assert outcome.quality == {"x": {"out_of_range": 2}}  # 12 and 25
    clean = detect_partition(decoder, pipeline, PartitionBatch("events", 0, [record("a", 1)]))
    assert clean.quality == {}


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
