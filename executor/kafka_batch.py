"""One micro-batch of the Kafka executor: decode, dead-letter, detect, emit predictions.

:class:`BatchProcessor` takes the records of one ``poll`` (grouped by partition), decodes them
with :class:`executor.decode.EventDecoder`, sends the rejects to the dead-letter topic, runs
each partition's events through that partition's pipeline (:class:`executor.rebalance.
PartitionStates`), joins late labels from the labels topic, writes one record per event to the
optional predictions topic and counts everything in the exporter and the run summary. It does
not commit: the runner flushes the producer (:meth:`BatchProcessor.flush_outputs`), checkpoints
and commits afterwards, so a failure anywhere leaves the batch uncommitted (at-least-once).

Predictions records are JSON, keyed by event id::

    {"event_id": "m07-00042", "predicted": 1, "class": "medium", "fallback": false,
     "label": 1, "topic": "events", "partition": 0, "offset": 1234}
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from driftline.executor.dead_letter import DeadLetterProducer
from driftline.executor.decode import DeadLetter, DecodedEvent, EventDecoder, with_originals
from driftline.executor.rebalance import PartitionStates
from driftline.executor.summary import RunSummary
from driftline.executor.worker import PackedRecords

__all__ = ["BatchOutcome", "BatchProcessor", "PartitionOutcome", "decode_label", "detect_records",
           "period_of"]

log = logging.getLogger("driftline.kafka")


def period_of(event_id: str) -> str:
    """Summary period of an event id: ``"m07"`` for insurance ids like ``"m07-00042"``."""
    head = event_id.split("-", 1)[0]
    return head if len(head) == 3 and head[0] == "m" and head[1:].isdigit() else "stream"


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


class BatchOutcome:
    """Counts of one batch."""

    def __init__(self) -> None:
        self.n_records = 0
        self.n_processed = 0
        self.n_labels = 0
        self.dead_letters: Counter[str] = Counter()


@dataclasses.dataclass
class PartitionOutcome:
    """What detection did with one partition's records of a batch. Picklable: with
    ``batch.worker_process`` it comes back from the detection worker.

    ``rejects`` are the records to dead-letter (undecodable, or a batch the model failed on,
    with the original bytes); ``result`` is the pipeline's :class:`executor.pipeline.
    BatchResult` (None when nothing was processed), ``offsets`` and ``periods`` follow its
    ``event_ids``; ``exporter_calls`` are the exporter observations recorded in the worker.
    """

    rejects: list[DeadLetter]
    result: Any | None = None
    offsets: list[int] = dataclasses.field(default_factory=list)
    periods: list[str] = dataclasses.field(default_factory=list)
    exporter_calls: list[Any] = dataclasses.field(default_factory=list)


def detect_records(decoder: EventDecoder, pipeline: Any, topic: str, partition: int,
                   records: Iterable[tuple[bytes | None, bytes | None, int, int | None]]
                   ) -> PartitionOutcome:
    """Decode ``[(value, key, offset, timestamp_ms), ...]`` of one partition and run the
    decoded events through ``pipeline``."""
    outcome = PartitionOutcome([])
    events: list[DecodedEvent] = []
    originals = {}
    for value, key, offset, timestamp in records:
        decoded = decoder.decode(value, key=key, topic=topic, partition=partition,
                                 offset=offset, timestamp_ms=timestamp)
        if isinstance(decoded, DeadLetter):
            outcome.rejects.append(decoded)
        else:
            events.append(decoded)
            originals[offset] = (value, key, timestamp)
    if not events:
        return outcome
    result = pipeline.process(events)
    outcome.rejects.extend(with_originals(result.dead_letters, originals))
    result.dead_letters = []
    if result.n_processed:
        outcome.result = result
        outcome.offsets = [event.offset for event in events]
        outcome.periods = [period_of(event_id) for event_id in result.event_ids]
    return outcome


@dataclasses.dataclass
class _Submitted:
    """A submitted batch: ``results`` is None while they are in the worker; ``received``
    once it is done and its partitions' offsets advanced (:meth:`BatchProcessor.receive`)."""

    outcome: BatchOutcome
    jobs: list[tuple[Any, int, Any, Iterable[Any]]]
    results: list[PartitionOutcome] | None
    received: bool


class BatchProcessor:
    """Processes polled records into the partition pipelines (see the module docstring).

    Parameters
    ----------
    decoder : EventDecoder
    states : PartitionStates
        Pipelines and offsets per partition.
    events_topic, labels_topic : str
        The topics consumed (``labels_topic`` may be None).
    exporter : executor.exporter.DriftExporter, optional
    dead_letters : DeadLetterProducer, optional
        None disables the dead-letter topic (rejects are then logged and counted only).
    producer : kafka.KafkaProducer, optional
        Writes the predictions topic.
    predictions_topic : str, optional
    class_names : sequence of str
    summary : RunSummary
        Accumulates per-period results and detections.
    worker : executor.worker.DetectionWorker, optional
        Runs decoding and detection in a child process (the pipelines of ``states`` are then
        :class:`executor.worker.RemotePipeline`); without it they run here.
    """

    def __init__(self, decoder: EventDecoder, states: PartitionStates, *, events_topic: str,
                 labels_topic: str | None, exporter: Any | None,
                 dead_letters: DeadLetterProducer | None, producer: Any | None,
                 predictions_topic: str | None, class_names: Sequence[str],
                 summary: RunSummary, worker: Any | None = None) -> None:
        self.decoder = decoder
        self.states = states
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.exporter = exporter
        self.dead_letters = dead_letters
        self.producer = producer
        self.predictions_topic = predictions_topic
        self.class_names = list(class_names)
        self.summary = summary
        self.worker = worker
        self._prediction_futures: list[Any] = []
        self._submitted: collections.deque[_Submitted] = collections.deque()
        self._finished: collections.deque[BatchOutcome] = collections.deque()

    @property
    def overlapped(self) -> bool:
        """True when batches run in the detection worker (submit returns before they are
        done)."""
        return self.worker is not None

    def process(self, records: Mapping[Any, Sequence[Any]]) -> BatchOutcome:
        """Process one poll's ``{TopicPartition: [ConsumerRecord, ...]}`` and wait for it."""
        self.submit(records)
        outcome = self.complete()
        assert outcome is not None
        return outcome

    def submit(self, records: Mapping[Any, Sequence[Any]]) -> None:
        """Start one poll's records: labels are joined now, events go to their partitions'
        pipelines -- in the detection worker (returns at once) or here (done on return).
        :meth:`complete` finishes the batch (batches complete in the order submitted)."""
        if any(batch.results is None and not batch.received for batch in self._submitted):
            raise RuntimeError("the batch in flight was not received")
        outcome = BatchOutcome()
        jobs = []
        for tp, batch in records.items():
            if not batch:
                continue
            outcome.n_records += len(batch)
            if tp.topic == self.labels_topic:
                self._labels(tp, batch, outcome)
                self.states.advance(tp, batch[-1].offset + 1)
                continue
            payload: Iterable[Any] = (
                [(r.value, r.key, r.offset, r.timestamp) for r in batch] if self.worker is None
                else PackedRecords(batch))
            jobs.append((tp, batch[-1].offset + 1, self.states.pipeline(tp.partition), payload))
        if self.worker is not None and jobs:
            self.worker.submit_batch([(tp.topic, tp.partition, payload)
                                      for tp, _, _, payload in jobs])
            self._submitted.append(_Submitted(outcome, jobs, None, received=False))
        else:
            self._submitted.append(_Submitted(outcome, jobs, [
                detect_records(self.decoder, pipeline, tp.topic, tp.partition, payload)
                for tp, _, pipeline, payload in jobs], received=False))

    def receive(self) -> bool:
        """Wait until the worker has answered the batch in flight and advance its partitions'
        offsets -- without applying its outcome, so that the next batch can be submitted before
        :meth:`complete` does that. True when a batch awaits :meth:`complete`."""
        for batch in self._submitted:
            if not batch.received:
                if batch.results is None:
                    self.worker.drain()
                self._advance(batch)
        return bool(self._submitted or self._finished)

    def _advance(self, batch: _Submitted) -> None:
        """Advance the offsets of ``batch``'s partitions (once)."""
        if not batch.received:
            for tp, next_offset, _, _ in batch.jobs:
                self.states.advance(tp, next_offset)
            batch.received = True

    def complete(self) -> BatchOutcome | None:
        """The outcome of the oldest submitted batch once it is done (waits for the worker),
        with its dead letters sent, its offsets advanced and its results counted; None if no
        batch is waiting. Outputs are not flushed (:meth:`flush_outputs`)."""
        if self._finished:
            return self._finished.popleft()
        if not self._submitted:
            return None
        return self._finish(self._submitted.popleft())

    def finish_in_flight(self) -> None:
        """Finish every submitted batch, keeping their outcomes for :meth:`complete` (used
        before a rebalance takes partitions away)."""
        while self._submitted:
            self._finished.append(self._finish(self._submitted.popleft()))

    def _finish(self, batch: _Submitted) -> BatchOutcome:
        outcome, results = batch.outcome, batch.results
        if results is None:
            assert self.worker is not None
            results = self.worker.collect_batch()
        self._advance(batch)
        for (tp, _, pipeline, _), partition_outcome in zip(batch.jobs, results, strict=True):
            if partition_outcome.exporter_calls:
                pipeline.replay(partition_outcome.exporter_calls)
            self._apply(tp, partition_outcome, outcome)
        if self.exporter is not None and outcome.dead_letters:
            # Model failures are already counted as failed by the pipeline.
            failed = {r: n for r, n in outcome.dead_letters.items() if r != "model"}
            self.exporter.observe_events(failed_by_reason=failed,
                                         dead_lettered=sum(outcome.dead_letters.values()))
        return outcome

    def _reject(self, letter: DeadLetter, outcome: BatchOutcome) -> None:
        outcome.dead_letters[letter.reason] += 1
        self.summary.add_dead_letters([letter])
        if self.dead_letters is not None:
            self.dead_letters.send(letter)
        else:
            log.warning("rejected record (dead-letter topic disabled): %s/%d@%d %s: %s",
                        letter.topic, letter.partition, letter.offset, letter.reason,
                        letter.detail)

    def _apply(self, tp: Any, done: PartitionOutcome, outcome: BatchOutcome) -> None:
        for letter in done.rejects:
            self._reject(letter, outcome)
        result = done.result
        if result is None:
            return
        outcome.n_processed += result.n_processed
        self.summary.add_batch(done.periods, result.predicted, result.labels,
                               result.used_fallback)
        period_by_id = dict(zip(result.event_ids, done.periods, strict=True))
        for detection in result.detections:
            self.summary.add_detection(detection, period_by_id[detection.event_id])
        if self.producer is not None and self.predictions_topic:
            self._emit_predictions(tp, done)

    def _emit_predictions(self, tp: Any, done: PartitionOutcome) -> None:
        result = done.result
        for i, (event_id, offset) in enumerate(zip(result.event_ids, done.offsets,
                                                   strict=True)):
            predicted = int(result.predicted[i])
            label = int(result.labels[i])
            body = {
                "event_id": event_id, "predicted": predicted,
                "class": self.class_names[predicted] if 0 <= predicted < len(
                    self.class_names) else str(predicted),
                "fallback": bool(result.used_fallback[i]),
                "label": None if label < 0 else label,
                "topic": tp.topic, "partition": tp.partition, "offset": offset,
            }
            self._prediction_futures.append(self.producer.send(
                self.predictions_topic, value=json.dumps(body, separators=(",", ":")).encode(),
                key=event_id.encode("utf-8")))

    def _labels(self, tp: Any, batch: Sequence[Any], outcome: BatchOutcome) -> None:
        labels: dict[str, int] = {}
        for record in batch:
            event_id, label = decode_label(record.value, len(self.class_names))
            if event_id is None:
                self._reject(DeadLetter(
                    str(label), "labels record must be {\"event_id\": str, \"label\": class}",
                    record.value, record.key, record.topic, record.partition, record.offset,
                    record.timestamp), outcome)
            else:
                labels[event_id] = int(label)
        if not labels:
            return
        outcome.n_labels += len(labels)
        # Co-partitioned with the events topic: labels of partition i belong to events
        # partition i; otherwise every local pipeline gets them.
        states = self.states
        if tp.partition in states.pipelines or tp.partition in states.pending:
            partitions = [tp.partition]
        else:
            partitions = list(states.pipelines)
        targets = [states.pipeline(p) for p in partitions]
        # The label buffers are part of those partitions' state: checkpoint them with this
        # batch, so the labels offset is never saved ahead of the labels it covers.
        for p in partitions:
            events_tp = type(tp)(self.events_topic, p)
            if events_tp in states.next_offsets:
                states.dirty.add(events_tp)
        if not targets:
            log.warning("%d labels of %s/%d have no local pipeline to join", len(labels),
                        tp.topic, tp.partition)
        for target in targets:
            for detection in target.add_labels(labels):
                self.summary.add_detection(detection, period_of(detection.event_id))

    def flush_outputs(self, timeout: float | None = 30.0) -> None:
        """Block until dead letters and predictions sent so far are acknowledged; raises
        (``DeadLetterError`` / ``RuntimeError``) if one failed."""
        if self.dead_letters is not None:
            self.dead_letters.flush(timeout=timeout)
        if self._prediction_futures:
            futures, self._prediction_futures = self._prediction_futures, []
            self.producer.flush(timeout=timeout)
            failed = [f for f in futures if not f.is_done or f.failed()]
            if failed:
                raise RuntimeError(f"{len(failed)} prediction records were not written: "
                                   f"{failed[0].exception}")
