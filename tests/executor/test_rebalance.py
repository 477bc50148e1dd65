"""PartitionStates (rebalance listener) with a recording consumer and an in-process detection
backend of counting pipelines, and the batch helpers. (Checkpoint writes and the commits that
follow them: test_checkpoint_commits.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.future import Future

from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.checkpoint_commits import CheckpointCommits
from driftline.executor.decode import EventDecoder
from driftline.executor.detection import InProcessDetection
from driftline.executor.kafka_batch import decode_label
from driftline.executor.rebalance import PartitionStates

EVENTS, LABELS = "events", "labels"


class RecordingConsumer:
    def __init__(self, fail_commit: bool = False) -> None:
        self.seeks: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.async_commits: list[tuple[dict[TopicPartition, int], Future]] = []
        self.fail_commit = fail_commit

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        if self.fail_commit:
            raise TimeoutError("coordinator unavailable")
        self.commits.append({tp: o.offset for tp, o in offsets.items()})

    def commit_async(self, offsets: dict[TopicPartition, Any]) -> Future:
        # answered later, as by the broker: the test resolves the futures
        self.async_commits.append(({tp: o.offset for tp, o in offsets.items()}, Future()))
        return self.async_commits[-1][1]


class CountingPipeline:
    """Stands in for DetectionPipeline: its state is the number of events it has seen."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        if state is not None and "seen" not in state:
            raise ValueError("state of another pipeline")
        self.seen = 0 if state is None else int(state["seen"])

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}


def states_with(tmp_path: Path, consumer: RecordingConsumer, **kwargs: Any) -> PartitionStates:
    store = CheckpointStore(tmp_path)
    backend = InProcessDetection(EventDecoder(["x"]), CountingPipeline)
    return PartitionStates(consumer, store, backend, EVENTS, LABELS, **kwargs)


def pipeline(states: PartitionStates, partition: int) -> CountingPipeline:
    """The partition's pipeline in the (in-process) backend, opened on first use."""
    states.ensure_open(partition)
    return states.backend.pipelines[partition]


def test_assign_seeks_to_checkpoints_and_builds_pipelines_lazily(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(EVENTS, 1, 700, {"seen": 700})
    store.save(LABELS, 1, 650, {})
    consumer = RecordingConsumer()
    states = states_with(tmp_path, consumer)
    assigned = [TopicPartition(EVENTS, 0), TopicPartition(EVENTS, 1), TopicPartition(LABELS, 1)]
    states.on_partitions_assigned(assigned)
    assert consumer.seeks == {TopicPartition(EVENTS, 1): 700, TopicPartition(LABELS, 1): 650}
    assert states.backend.pipelines == {}  # nothing heavy on the consumer's network thread
    assert pipeline(states, 1).seen == 700 and states.restored[1]
    assert pipeline(states, 0).seen == 0 and not states.restored[0]
    assert states.restored_from_checkpoint == [1]


def test_a_checkpoint_that_does_not_fit_starts_cold(tmp_path: Path) -> None:
    CheckpointStore(tmp_path).save(EVENTS, 0, 10, {"other": True})
    states = states_with(tmp_path, RecordingConsumer())
    states.on_partitions_assigned([TopicPartition(EVENTS, 0)])
    assert pipeline(states, 0).seen == 0 and not states.restored[0]


def test_advance_capture_commit_and_revoke(tmp_path: Path) -> None:
    consumer = RecordingConsumer()
    commits: list[CheckpointCommits] = []
    states = states_with(tmp_path, consumer,
                         before_revoke=lambda revoked: commits[0].write_now(revoked))
    commits.append(CheckpointCommits(states.store, states, states.backend))
    tp = TopicPartition(EVENTS, 0)
    states.on_partitions_assigned([tp])
    pipeline(states, 0).seen = 120
    states.advance(tp, 120)
    commits[0].checkpoint()
    commits[0].commit_written(wait=True)
    assert CheckpointStore(tmp_path).load(EVENTS, 0) == (120, {"seen": 120})
    assert [offsets for offsets, _ in consumer.async_commits] == [{tp: 120}]
    pipeline(states, 0).seen = 130
    assert states.capture() == ([], [])  # only dirty partitions: nothing new is captured
    pipeline(states, 0).seen = 150
    states.advance(tp, 150)
    states.on_partitions_revoked([tp])
    assert CheckpointStore(tmp_path).load(EVENTS, 0) == (150, {"seen": 150})
    assert states.backend.pipelines == {} and states.next_offsets == {}
    commits[0].commit_written(wait=True)  # the revoked partition's offsets are not ours
    assert len(consumer.async_commits) == 1 and consumer.commits == []


def test_lost_partitions_are_dropped_without_writing(tmp_path: Path) -> None:
    states = states_with(tmp_path, RecordingConsumer())
    tp = TopicPartition(EVENTS, 0)
    states.on_partitions_assigned([tp])
    pipeline(states, 0).seen = 5
    states.advance(tp, 5)
    states.on_partitions_lost([tp])
    assert CheckpointStore(tmp_path).load(EVENTS, 0) is None
    assert states.backend.pipelines == {} and states.next_offsets == {}


def test_failed_flush_before_revoke_leaves_the_old_checkpoint(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CheckpointStore(tmp_path)
    store.save(EVENTS, 0, 100, {"seen": 100})

    def broken_flush(_: list[TopicPartition]) -> None:
        raise RuntimeError("dead letters not acknowledged")

    states = states_with(tmp_path, RecordingConsumer(), before_revoke=broken_flush)
    tp = TopicPartition(EVENTS, 0)
    states.on_partitions_assigned([tp])
    pipeline(states, 0).seen = 180
    states.advance(tp, 180)
    states.on_partitions_revoked([tp])
    assert store.load(EVENTS, 0) == (100, {"seen": 100})
    assert states.next_offsets == {}
    assert "re-processed from their last checkpoint: RuntimeError" in caplog.text


def test_commit_failure_is_reported_or_raised(tmp_path: Path) -> None:
    states = states_with(tmp_path, RecordingConsumer(fail_commit=True))
    tp = TopicPartition(EVENTS, 0)
    states.advance(tp, 3)
    assert states.commit({tp: 3}) is False
    with pytest.raises(TimeoutError):
        states.commit({tp: 3}, raise_errors=True)
    assert states.commit({TopicPartition(EVENTS, 9): 1})  # not assigned here: nothing sent


def test_an_async_commit_failure_is_raised_once_answered(tmp_path: Path) -> None:
    consumer = RecordingConsumer()
    states = states_with(tmp_path, consumer)
    tp = TopicPartition(EVENTS, 0)
    states.advance(tp, 7)
    states.commit_async({tp: 3})
    states.commit_async({})  # nothing to commit: nothing sent
    states.commit_async({TopicPartition(EVENTS, 4): 2})  # not assigned here: nothing sent
    states.commit_async({tp: 7})
    assert [offsets for offsets, _ in consumer.async_commits] == [{tp: 3}, {tp: 7}]
    states.raise_commit_failure()  # nothing answered yet
    consumer.async_commits[0][1].success(None)
    states.raise_commit_failure()
    consumer.async_commits[1][1].failure(TimeoutError("coordinator unavailable"))
    with pytest.raises(TimeoutError):
        states.raise_commit_failure()
    states.raise_commit_failure()  # raised once


def test_clear_forgets_everything(tmp_path: Path) -> None:
    states = states_with(tmp_path, RecordingConsumer())
    states.on_partitions_assigned([TopicPartition(EVENTS, 0), TopicPartition(EVENTS, 1)])
    pipeline(states, 0)
    states.advance(TopicPartition(EVENTS, 0), 9)
    states.backend.close()  # the session is torn down: its backend first
    states.clear()
    assert (states.open_partitions, states.pending, states.next_offsets, states.dirty) == (
        set(), {}, {}, set())
    # the consumer's close runs the revoke callback: nothing to do, nothing written
    states.on_partitions_revoked([TopicPartition(EVENTS, 0)])
    assert CheckpointStore(tmp_path).load(EVENTS, 0) is None


@pytest.mark.parametrize(("value", "expected"), [
    (b'{"event_id": "m01-00001", "label": 2}', ("m01-00001", 2)),
    (b"", (None, "empty")), (None, (None, "empty")), (b"\xff", (None, "bad_encoding")),
    (b"{", (None, "not_json")), (b"[1]", (None, "not_object")),
    (b'{"event_id": "", "label": 1}', (None, "bad_event_id")),
    (b'{"event_id": "x\\ud800y", "label": 1}', (None, "bad_event_id")),
    (b'{"event_id": "a", "label": 3}', (None, "bad_label")),
    (b'{"event_id": "a", "label": true}', (None, "bad_label")),
    (b'{"event_id": "a"}', (None, "bad_label")),
])
def test_decode_label(value: bytes | None, expected: tuple[Any, Any]) -> None:
    assert decode_label(value, n_classes=3) == expected
