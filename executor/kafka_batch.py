"""One micro-batch of the Kafka executor: polled records -> detection backend -> sinks.

:class:`BatchProcessor` takes the records of one ``poll`` (grouped by partition), decodes the
labels-topic records here (:func:`decode_label`) and routes the labels to the events
partitions that join them, and submits the events records of each partition, with those
labels, to the detection backend (:mod:`executor.detection`), which decodes and detects them.
Once the backend has done a batch, :meth:`BatchProcessor.receive` advances the partitions'
offsets and :meth:`BatchProcessor.complete` applies its outcomes (:class:`executor.sinks.
OutcomeSinks`: summary, exporter, dead letters, predictions). It does not commit: the runner
flushes the outputs (:meth:`BatchProcessor.flush_outputs`), checkpoints and commits afterwards,
so a failure anywhere leaves the batch uncommitted (at-least-once).

The calls follow the backend's shape: ``submit`` batch *k+1* may come after ``receive`` of
batch *k* and before its ``complete``, so a backend in another process works on *k+1* while
*k*'s outcomes are applied here.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition

from driftline.executor.decoded import DeadLetter
from driftline.executor.detection import DetectionBackend, PackedRecords, PartitionBatch
from driftline.executor.rebalance import PartitionStates
from driftline.executor.sinks import BatchCounts, OutcomeSinks

__all__ = ["BatchProcessor", "decode_label"]

log = logging.getLogger("driftline.kafka")


def decode_label(value: bytes | None, n_classes: int) -> tuple[str, int] | tuple[None, str]:
    """``(event_id, label)`` of a labels-topic record, or ``(None, reason)`` when invalid."""
    if not value:
        return None, "empty"
    try:
        data = json.loads(bytes(value).decode("utf-8"))
    except UnicodeDecodeError:
        return None, "bad_encoding"
    except (ValueError, RecursionError):
        return None, "not_json"
    if not isinstance(data, dict):
        return None, "not_object"
    event_id, label = data.get("event_id"), data.get("label")
    if not isinstance(event_id, str) or not event_id.strip():
        return None, "bad_event_id"
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_classes:
        return None, "bad_label"
    return event_id, label


@dataclass
class _Submitted:
    """A batch given to the backend: where each of its partitions ends, the invalid labels
    records (dead letters applied with the batch), and the events partitions that joined
    labels (their state changed). ``received`` once the backend is done with it and the
    offsets are advanced; ``counts`` once applied."""

    next_offsets: list[tuple[Any, int]]
    rejected: list[DeadLetter]
    labelled: list[int]
    n_records: int
    n_labels: int
    received: bool = False
    counts: BatchCounts | None = field(default=None)


class BatchProcessor:
    """Processes polled records through the detection backend (see the module docstring).

    Parameters
    ----------
    backend : DetectionBackend
    states : PartitionStates
        Offsets and open partitions.
    sinks : OutcomeSinks
        Where the outcomes go.
    events_topic, labels_topic : str
        The topics consumed (``labels_topic`` may be None).
    n_classes : int
        Labels must be classes ``0 .. n_classes - 1``.
    """

    def __init__(self, backend: DetectionBackend, states: PartitionStates, sinks: OutcomeSinks,
                 *, events_topic: str, labels_topic: str | None, n_classes: int) -> None:
        self.backend = backend
        self.states = states
        self.sinks = sinks
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.n_classes = int(n_classes)
        self._submitted: collections.deque[_Submitted] = collections.deque()

    def submit(self, records: Mapping[Any, Sequence[Any]]) -> None:
        """Start one poll's ``{TopicPartition: [ConsumerRecord, ...]}`` in the backend (at
        most one batch is in flight: :meth:`receive` the previous one first)."""
        if any(not batch.received for batch in self._submitted):
            raise RuntimeError("the batch in flight was not received")
        parts: dict[int, PartitionBatch] = {}
        submitted = _Submitted([], [], [], 0, 0)
        for tp, batch in records.items():
            if not batch:
                continue
            submitted.n_records += len(batch)
            submitted.next_offsets.append((tp, batch[-1].offset + 1))
            if tp.topic == self.labels_topic:
                self._route_labels(tp, batch, parts, submitted)
            else:
                part = parts.setdefault(tp.partition, PartitionBatch(tp.topic, tp.partition))
                part.records = PackedRecords(batch)
        for partition in parts:
            self.states.ensure_open(partition)
        self.backend.submit(list(parts.values()))
        self._submitted.append(submitted)

    def _route_labels(self, tp: Any, batch: Sequence[Any], parts: dict[int, PartitionBatch],
                      submitted: _Submitted) -> None:
        labels: dict[str, int] = {}
        for record in batch:
            event_id, label = decode_label(record.value, self.n_classes)
            if event_id is None:
                submitted.rejected.append(DeadLetter(
                    str(label), "labels record must be {\"event_id\": str, \"label\": class}",
                    record.value, record.key, record.topic, record.partition, record.offset,
                    record.timestamp))
            else:
                labels[event_id] = int(label)
        if not labels:
            return
        submitted.n_labels += len(labels)
        targets = self.states.label_targets(tp.partition)
        if not targets:
            log.warning("%d labels of %s/%d have no local pipeline to join", len(labels),
                        tp.topic, tp.partition)
        for partition in targets:
            parts.setdefault(partition, PartitionBatch(self.events_topic, partition)
                             ).labels.append(labels)
            submitted.labelled.append(partition)

    def receive(self) -> bool:
        """Wait until the backend is done with the batch in flight and advance its
        partitions' offsets -- without applying its outcomes, so that the next batch can be
        submitted before :meth:`complete` does that. True when a batch awaits
        :meth:`complete`."""
        for batch in self._submitted:
            if not batch.received:
                self.backend.wait()
                self._advance(batch)
        return bool(self._submitted)

    def _advance(self, batch: _Submitted) -> None:
        if batch.received:
            return
        states = self.states
        for tp, next_offset in batch.next_offsets:
            states.advance(tp, next_offset)
        # The label buffers are part of those partitions' state: checkpoint them with this
        # batch, so the labels offset is never saved ahead of the labels it covers.
        for partition in batch.labelled:
            events_tp = TopicPartition(self.events_topic, partition)
            if events_tp in states.next_offsets:
                states.dirty.add(events_tp)
        batch.received = True

    def complete(self) -> BatchCounts | None:
        """The counts of the oldest submitted batch once it is done (waits for the backend),
        with its offsets advanced and its outcomes applied; None if no batch is waiting.
        Outputs are not flushed (:meth:`flush_outputs`)."""
        if not self._submitted:
            return None
        batch = self._submitted[0]
        if batch.counts is None:
            self._finish(batch)
        self._submitted.popleft()
        return batch.counts

    def finish_in_flight(self) -> None:
        """Finish every submitted batch, keeping their counts for :meth:`complete` (used
        before a rebalance takes partitions away)."""
        for batch in self._submitted:
            if batch.counts is None:
                self._finish(batch)

    def _finish(self, batch: _Submitted) -> None:
        outcomes = self.backend.collect()
        self._advance(batch)
        counts = self.sinks.apply(outcomes, batch.rejected)
        counts.n_records, counts.n_labels = batch.n_records, batch.n_labels
        batch.counts = counts

    def flush_outputs(self, timeout: float | None = 30.0) -> None:
        """Block until dead letters and predictions sent so far are acknowledged; raises
        (``DeadLetterError`` / ``RuntimeError``) if one failed."""
        self.sinks.flush(timeout=timeout)

