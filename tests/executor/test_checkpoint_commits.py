"""CheckpointCommits: offsets are committed only once their checkpoint is written; a store that
refuses writes makes it failing (metric, backoff, retry of every partition) until a retry
succeeds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.checkpoint_commits import CheckpointCommits
from driftline.executor.exporter import DriftExporter
from tests.executor.test_exporter import value
from tests.executor.test_rebalance import (
    EVENTS,
    LABELS,
    RecordingConsumer,
    pipeline,
    states_with,
)


class GatedStore(CheckpointStore):
    """A directory store whose saves wait for ``gate`` and fail while ``broken``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = threading.Event()
        self.gate.set()
        self.broken = False

    def save_payload(self, topic: str, partition: int, offset_next: int,
                     payload: bytes) -> None:
        self.gate.wait(10)
        if self.broken:
            raise OSError(28, "No space left on device")
        super().save_payload(topic, partition, offset_next, payload)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(tmp_path: Path) -> tuple[Any, GatedStore, RecordingConsumer, CheckpointCommits,
                                   DriftExporter, Clock]:
    consumer = RecordingConsumer()
    states = states_with(tmp_path, consumer)
    store = GatedStore(tmp_path)
    exporter, clock = DriftExporter(), Clock()
    commits = CheckpointCommits(store, states, states.backend, metrics=exporter,
                                backoff_initial_s=0.5, backoff_max_s=4.0, clock=clock)
    states.on_partitions_assigned([TopicPartition(EVENTS, 0), TopicPartition(LABELS, 0)])
    return states, store, consumer, commits, exporter, clock


def committed(consumer: RecordingConsumer) -> list[dict[TopicPartition, int]]:
    return [offsets for offsets, _ in consumer.async_commits]


def test_offsets_are_committed_only_once_their_checkpoint_is_written(tmp_path: Path) -> None:
    states, store, consumer, commits, exporter, _ = setup(tmp_path)
    events, labels = TopicPartition(EVENTS, 0), TopicPartition(LABELS, 0)
    pipeline(states, 0).seen = 40
    states.advance(events, 40)
    states.advance(labels, 12)
    store.gate.clear()  # the disk is slow
    commits.checkpoint()
    commits.commit_written()
    assert committed(consumer) == [] and commits.durable == {}
    store.gate.set()
    commits.commit_written(wait=True)
    assert committed(consumer) == [{events: 40, labels: 12}]
    assert store.load(EVENTS, 0) == (40, {"seen": 40}) and store.load(LABELS, 0) == (12, {})
    assert value(exporter, "driftline_checkpoint_failing") == 0
    assert value(exporter, "driftline_last_checkpoint_timestamp_seconds") > 0


def test_a_failing_store_stops_commits_backs_off_and_recovers(tmp_path: Path) -> None:
    states, store, consumer, commits, exporter, clock = setup(tmp_path)
    events = TopicPartition(EVENTS, 0)
    pipeline(states, 0).seen = 10
    states.advance(events, 10)
    commits.checkpoint()
    commits.commit_written(wait=True)
    store.broken = True
    pipeline(states, 0).seen = 20
    states.advance(events, 20)
    commits.checkpoint()
    commits.commit_written(wait=True)
    assert commits.failing and committed(consumer) == [{events: 10}]
    assert events in states.dirty  # to be written again
    assert value(exporter, "driftline_checkpoint_failing") == 1
    assert value(exporter, "driftline_checkpoint_failures_total") == 1
    assert not commits.retry_due()  # backing off
    clock.now += 0.5
    assert commits.retry_due()
    commits.retry()  # still broken: the wait doubles
    assert commits.failing and commits.backoff_s == 1.0
    clock.now += 0.9
    assert not commits.retry_due()
    for expected in (2.0, 4.0, 4.0):  # up to the cap
        clock.now += commits.backoff_s
        commits.retry()
        assert commits.backoff_s == expected
    assert value(exporter, "driftline_checkpoint_failures_total") == 5
    assert committed(consumer) == [{events: 10}]
    assert store.load(EVENTS, 0) == (10, {"seen": 10})
    store.broken = False
    pipeline(states, 0).seen = 25  # the pipeline kept its state in memory meanwhile
    states.advance(events, 25)
    clock.now += commits.backoff_s
    commits.retry()
    assert not commits.failing and commits.backoff_s == 0.5
    assert store.load(EVENTS, 0) == (25, {"seen": 25})
    assert committed(consumer)[-1] == {events: 25}
    assert value(exporter, "driftline_checkpoint_failing") == 0


def test_finish_commits_what_is_durable_and_waits_for_the_broker(tmp_path: Path) -> None:
    states, store, consumer, commits, _, _ = setup(tmp_path)
    events = TopicPartition(EVENTS, 0)
    pipeline(states, 0).seen = 7
    states.advance(events, 7)
    commits.finish(timeout_ms=1000)
    assert consumer.commits == [{events: 7}]
    assert store.load(EVENTS, 0) == (7, {"seen": 7})
    store.broken = True
    states.advance(events, 9)
    commits.finish(timeout_ms=1000)  # not written: the commit stays at 7
    assert consumer.commits[-1] == {events: 7}
    commits.close()
