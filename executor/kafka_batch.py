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

A batch the backend fails on (an error in a pipeline, a dead or stuck worker) or whose outcomes
cannot be applied raises :class:`BatchError`, which says where the batch lies in each
partition: the executor's poison-pill detection (:mod:`executor.failures`) counts failures
there. Records it has found to be poison (``poisoned``) never reach the backend again: they
become dead letters (``processing_failed``). Records the consumer could not read
(:class:`executor.decoded.SkippedRecord`) travel with their partition's records and are
applied as skips. The records of a batch stay here until it is flushed: a prediction refused
for what it is is dead-lettered with its record's bytes.
"""

from __future__ import annotations

import bisect
import collections
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition

from driftline.executor.decoded import DeadLetter, SkippedRecord
from driftline.executor.detection import DetectionBackend, PackedRecords, PartitionBatch
from driftline.executor.rebalance import PartitionStates
from driftline.executor.sinks import BatchCounts, OutcomeSinks

__all__ = ["BatchError", "BatchProcessor", "Positions", "decode_label"]

#: where a batch lies in each of its partitions: ``{TopicPartition: (first offset, next offset)}``
Positions = dict[TopicPartition, tuple[int, int]]


class BatchError(RuntimeError):
    """Detection of a batch, or applying its outcomes, failed; ``positions`` say where the
    batch lies and ``stage`` what failed (``detect`` or ``apply``)."""

    def __init__(self, stage: str, positions: Positions, cause: BaseException) -> None:
        super().__init__(f"{stage} failed on {_describe(positions)}: "
                         f"{type(cause).__name__}: {cause}")
        self.stage = stage
        self.positions = positions
        self.cause = f"{type(cause).__name__}: {cause}"


def _describe(positions: Positions) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}@{first}-{end - 1}"
                     for tp, (first, end) in sorted(positions.items())) or "no records"

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
    if not isinstance(event_id, str) or not event_id.strip() or not _encodable(event_id):
        return None, "bad_event_id"
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_classes:
        return None, "bad_label"
    return event_id, label


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Submitted:
    """A batch given to the backend: where each of its partitions lies, its records, the
    records rejected or skipped before detection (applied with the batch), and the events
    partitions that joined labels (their state changed). ``received`` once the backend is done
    with it and the offsets are advanced; ``counts`` once applied."""

    positions: Positions = field(default_factory=dict)
    records: dict[Any, Sequence[Any]] = field(default_factory=dict)
    rejected: list[DeadLetter] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    labelled: list[int] = field(default_factory=list)
    n_records: int = 0
    n_labels: int = 0
    received: bool = False
    counts: BatchCounts | None = None

    def original(self, topic: str, partition: int, offset: int,
                 ) -> tuple[bytes | None, bytes | None, int | None] | None:
        """``(value, key, timestamp_ms)`` of the record at ``offset``, if it is in the batch."""
        records = self.records.get(TopicPartition(topic, partition), ())
        offsets = [r.offset for r in records]
        i = bisect.bisect_left(offsets, offset)
        if i < len(records) and offsets[i] == offset:
            return records[i].value, records[i].key, records[i].timestamp
        return None


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
    label_decoder : callable, optional
        ``label_decoder(value)``: ``(event_id, class)`` of a labels record, or ``(None,
        reason)``; default :func:`decode_label` (``{"event_id", "label"}`` records). The schema
        path passes :meth:`executor.schema_decoder.SchemaDecoder.decode_label` (the schema's
        ``outputs.label``).
    poisoned : callable, optional
        ``poisoned(tp, offset)``: why the record is known to fail processing, or None.
    """

    def __init__(self, backend: DetectionBackend, states: PartitionStates, sinks: OutcomeSinks,
                 *, events_topic: str, labels_topic: str | None, n_classes: int,
                 label_decoder: Callable[[bytes | None], tuple[Any, Any]] | None = None,
                 poisoned: Callable[[TopicPartition, int], str | None] | None = None) -> None:
        self.backend = backend
        self.states = states
        self.sinks = sinks
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.n_classes = int(n_classes)
        self.label_decoder = label_decoder
        self.poisoned = poisoned
        self._submitted: collections.deque[_Submitted] = collections.deque()
        self._flushing: list[_Submitted] = []  # applied, outputs not flushed yet

    def submit(self, records: Mapping[Any, Sequence[Any]]) -> None:
        """Start one poll's ``{TopicPartition: [ConsumerRecord or SkippedRecord, ...]}`` in the
        backend (at most one batch is in flight: :meth:`receive` the previous one first)."""
        if any(not batch.received for batch in self._submitted):
            raise RuntimeError("the batch in flight was not received")
        parts: dict[int, PartitionBatch] = {}
        submitted = _Submitted()
        for tp, polled in records.items():
            if not polled:
                continue
            submitted.n_records += len(polled)
            submitted.positions[tp] = (polled[0].offset, polled[-1].offset + 1)
            batch = self._set_aside(tp, polled, submitted)
            submitted.records[tp] = batch
            if tp.topic == self.labels_topic:
                self._route_labels(tp, batch, parts, submitted)
            else:
                # even with every record set aside: the partition's pipeline is opened, so that
                # its checkpoint -- and commit -- move past them
                part = parts.setdefault(tp.partition, PartitionBatch(tp.topic, tp.partition))
                part.records = PackedRecords(batch)
        try:
            for partition in parts:
                self.states.ensure_open(partition)
            self.backend.submit(list(parts.values()))
        except Exception as exc:
            raise BatchError("detect", self._oldest_positions(submitted), exc) from exc
        self._submitted.append(submitted)

    def _set_aside(self, tp: Any, polled: Sequence[Any], submitted: _Submitted) -> list[Any]:
        """The records of ``polled`` to detect; skipped and poisoned ones are set aside."""
        kept = []
        for record in polled:
            if isinstance(record, SkippedRecord):
                submitted.skipped.append(record)
                continue
            why = None if self.poisoned is None else self.poisoned(tp, record.offset)
            if why is not None:
                submitted.rejected.append(DeadLetter(
                    "processing_failed", why, record.value, record.key, record.topic,
                    record.partition, record.offset, record.timestamp))
                continue
            kept.append(record)
        return kept

    def _oldest_positions(self, fallback: _Submitted) -> Positions:
        """Where the oldest batch not applied yet lies (the one a failure is about)."""
        for batch in self._submitted:
            if batch.counts is None:
                return dict(batch.positions)
        return dict(fallback.positions)

    def _route_labels(self, tp: Any, batch: Sequence[Any], parts: dict[int, PartitionBatch],
                      submitted: _Submitted) -> None:
        labels: dict[str, int] = {}
        for record in batch:
            event_id, label = (decode_label(record.value, self.n_classes)
                               if self.label_decoder is None else
                               self.label_decoder(record.value))
            if event_id is None:
                submitted.rejected.append(DeadLetter(
                    str(label), "labels record must be {\"event_id\": str, \"label\": class}"
                    if self.label_decoder is None else
                    "labels record does not match the schema's outputs.label",
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
                try:
                    self.backend.wait()
                except Exception as exc:
                    raise BatchError("detect", self._oldest_positions(batch), exc) from exc
                self._advance(batch)
        return bool(self._submitted)

    def _advance(self, batch: _Submitted) -> None:
        if batch.received:
            return
        states = self.states
        for tp, (_, next_offset) in batch.positions.items():
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
        try:
            outcomes = self.backend.collect()
        except Exception as exc:
            raise BatchError("detect", dict(batch.positions), exc) from exc
        self._advance(batch)
        try:
            counts = self.sinks.apply(outcomes, batch.rejected, batch.skipped, batch.original)
        except Exception as exc:
            raise BatchError("apply", dict(batch.positions), exc) from exc
        counts.n_records, counts.n_labels = batch.n_records, batch.n_labels
        batch.counts = counts
        self._flushing.append(batch)

    def flush_outputs(self, timeout: float | None = 30.0) -> None:
        """Block until dead letters and predictions sent so far are acknowledged; raises
        (``DeadLetterError`` / ``RuntimeError``) if one failed for a reason that may pass.
        Outputs refused for what they are are dead-lettered or skipped
        (:meth:`executor.sinks.OutcomeSinks.flush`)."""
        applied, self._flushing = self._flushing, []

        def original(topic: str, partition: int, offset: int) -> Any:
            for batch in applied:
                found = batch.original(topic, partition, offset)
                if found is not None:
                    return found
            return None

        self.sinks.flush(timeout=timeout, originals=original)
