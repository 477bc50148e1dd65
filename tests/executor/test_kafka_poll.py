"""poll_batch with a consumer that cannot parse some records: they are skipped past in order,
and an error whose position cannot be told is raised, not guessed. (The real client and broker:
test_kafka_faults.py.)"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CorruptRecordError

from driftline.executor.decoded import SkippedRecord
from driftline.executor.kafka_poll import poll_batch, unreadable_position

TP = TopicPartition("events", 1)


class Consumer:
    """Hands out offsets of one partition; ``unreadable`` offsets raise CorruptRecordError with
    the fetcher in the state kafka-python leaves it in (the partition in hand, at the offset
    it was to return next). ``tell`` False: the fetcher says nothing."""

    def __init__(self, end: int, unreadable: set[int], *, tell: bool = True) -> None:
        self.next, self.end, self.unreadable, self.tell = 0, end, unreadable, tell
        self._fetcher = SimpleNamespace(_next_partition_records=None)
        self.seeks: list[int] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return self.next

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.next = offset

    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> dict[Any, list[Any]]:
        out = []
        while self.next < self.end and len(out) < max_records:
            if self.next in self.unreadable:
                if out:
                    break  # the records before it first, as kafka-python does
                if self.tell:
                    self._fetcher._next_partition_records = SimpleNamespace(
                        topic_partition=TP, next_fetch_offset=self.next)
                raise CorruptRecordError("Found invalid record structure: UnicodeDecodeError")
            out.append(SimpleNamespace(offset=self.next, topic=TP.topic, partition=TP.partition))
            self.next += 1
        return {TP: out} if out else {}


def test_unreadable_records_are_skipped_past_in_order() -> None:
    consumer = Consumer(end=10, unreadable={3, 4, 8})
    batch = poll_batch(consumer, max_rows=100, max_wait_ms=1000, poll_timeout_ms=10)
    assert [(type(r).__name__, r.offset) for r in batch[TP]] == [
        ("SimpleNamespace", 0), ("SimpleNamespace", 1), ("SimpleNamespace", 2),
        ("SkippedRecord", 3), ("SkippedRecord", 4), ("SimpleNamespace", 5),
        ("SimpleNamespace", 6), ("SimpleNamespace", 7), ("SkippedRecord", 8),
        ("SimpleNamespace", 9)]
    assert consumer.seeks == [4, 5, 9]
    skipped = batch[TP][3]
    assert isinstance(skipped, SkippedRecord) and skipped.reason == "corrupt_record"
    assert "UnicodeDecodeError" in skipped.detail and skipped.where() == "events/1@3"


def test_max_rows_counts_skipped_records() -> None:
    consumer = Consumer(end=10, unreadable={0, 1})
    batch = poll_batch(consumer, max_rows=3, max_wait_ms=1000, poll_timeout_ms=10)
    assert [r.offset for r in batch[TP]] == [0, 1, 2]


def test_an_error_whose_position_cannot_be_told_is_raised() -> None:
    consumer = Consumer(end=5, unreadable={2}, tell=False)
    with pytest.raises(CorruptRecordError):
        poll_batch(consumer, max_rows=100, max_wait_ms=1000, poll_timeout_ms=10)
    assert consumer.seeks == []
    # a stale hint (not where the consumer stands) is not trusted either
    consumer._fetcher._next_partition_records = SimpleNamespace(topic_partition=TP,
                                                                next_fetch_offset=0)
    assert unreadable_position(consumer) is None
