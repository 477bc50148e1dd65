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

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from executor.dead_letter import DeadLetterProducer
from executor.decode import DeadLetter, DecodedEvent, EventDecoder
from executor.rebalance import PartitionStates
from executor.summary import RunSummary

__all__ = ["BatchOutcome", "BatchProcessor", "decode_label", "period_of"]

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
    """

    def __init__(self, decoder: EventDecoder, states: PartitionStates, *, events_topic: str,
                 labels_topic: str | None, exporter: Any | None,
                 dead_letters: DeadLetterProducer | None, producer: Any | None,
                 predictions_topic: str | None, class_names: Sequence[str],
                 summary: RunSummary) -> None:
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
        self._prediction_futures: list[Any] = []

    def process(self, records: Mapping[Any, Sequence[Any]]) -> BatchOutcome:
        """Process one poll's ``{TopicPartition: [ConsumerRecord, ...]}``."""
        outcome = BatchOutcome()
        for tp, batch in records.items():
            if not batch:
                continue
            outcome.n_records += len(batch)
            if tp.topic == self.labels_topic:
                self._labels(tp, batch, outcome)
            else:
                self._events(tp, batch, outcome)
            self.states.advance(tp, batch[-1].offset + 1)
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

    def _events(self, tp: Any, batch: Sequence[Any], outcome: BatchOutcome) -> None:
        events: list[DecodedEvent] = []
        by_offset = {}
        for record in batch:
            decoded = self.decoder.decode(record.value, key=record.key, topic=record.topic,
                                          partition=record.partition, offset=record.offset,
                                          timestamp_ms=record.timestamp)
            if isinstance(decoded, DeadLetter):
                self._reject(decoded, outcome)
            else:
                events.append(decoded)
                by_offset[record.offset] = record
        if not events:
            return
        result = self.states.pipeline(tp.partition).process(events)
        for letter in result.dead_letters:
            original = by_offset.get(letter.offset)
            if original is not None:
                # The pipeline only knows the decoded event; dead-letter the original bytes.
                letter = dataclasses.replace(letter, value=original.value, key=original.key,
                                             timestamp_ms=original.timestamp)
            self._reject(letter, outcome)
        if result.n_processed == 0:
            return
        outcome.n_processed += result.n_processed
        periods = [period_of(e) for e in result.event_ids]
        self.summary.add_batch(periods, result.predicted, result.labels, result.used_fallback)
        period_by_id = dict(zip(result.event_ids, periods, strict=True))
        for detection in result.detections:
            self.summary.add_detection(detection, period_by_id[detection.event_id])
        if self.producer is not None and self.predictions_topic:
            self._emit_predictions(events, result)

    def _emit_predictions(self, events: Sequence[DecodedEvent], result: Any) -> None:
        for i, event in enumerate(events):
            predicted = int(result.predicted[i])
            label = int(result.labels[i])
            body = {
                "event_id": event.event_id, "predicted": predicted,
                "class": self.class_names[predicted] if 0 <= predicted < len(
                    self.class_names) else str(predicted),
                "fallback": bool(result.used_fallback[i]),
                "label": None if label < 0 else label,
                "topic": event.topic, "partition": event.partition, "offset": event.offset,
            }
            self._prediction_futures.append(self.producer.send(
                self.predictions_topic, value=json.dumps(body, separators=(",", ":")).encode(),
                key=event.event_id.encode("utf-8")))

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
