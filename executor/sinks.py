"""Where detection outcomes go: run summary, exporter, dead letters, predictions.

:class:`OutcomeSinks` applies the :class:`executor.outcome.PartitionOutcome` list of one batch
-- whichever backend produced it -- in the executor's process: every result is counted in the
:class:`executor.summary.RunSummary` (per period, detections included), its readings go to the
exporter as the partition's (:meth:`executor.exporter.DriftExporter.apply_readings`), dead
letters to the dead-letter sink (the Kafka topic :class:`executor.dead_letter.
DeadLetterProducer` or the JSONL file :class:`executor.dead_letter.DeadLetterFile`), and, with
a predictions topic, one record per event to :class:`PredictionsProducer`; data-quality counts
to the exporter; records skipped past (:class:`executor.decoded.SkippedRecord`) to the summary,
``driftline_records_skipped_total`` and, as a marker without bytes, the dead-letter topic.
Nothing is flushed until :meth:`OutcomeSinks.flush`: the Kafka executor flushes before it
checkpoints and commits.

An output that fails never stops the stream. A prediction record the producer or the broker
refuses for what it is becomes a dead letter of its input record (reason
``output_rejected``, with the original bytes from ``originals``); a dead letter that can never
be written is skipped past (``dead_letter_failed``: an ERROR log, the metric, the summary).
A failure that may pass (the broker is away) raises from :meth:`OutcomeSinks.flush`, and the
executor redoes the batch from its checkpoint.

Predictions records are JSON, keyed by event id::

    {"event_id": "m07-00042", "predicted": 1, "class": "medium", "fallback": false,
     "label": 1, "topic": "events", "partition": 0, "offset": 1234}

Example
-------
>>> import numpy as np
>>> from driftline.executor.outcome import BatchResult, PartitionOutcome
>>> summary = RunSummary()
>>> result = BatchResult(n_processed=2, event_ids=["m01-1", "m02-1"], predicted=np.array([1, 0]),
...                      labels=np.array([1, 1]), used_fallback=np.array([False, False]))
>>> counts = OutcomeSinks(summary).apply([PartitionOutcome("events", 0, result=result,
...                                                        offsets=[7, 8])])
>>> counts.n_processed, {p: s.accuracy for p, s in summary.periods.items()}
(2, {'m01': 1.0, 'm02': 0.0})
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from driftline.executor.dead_letter import is_retriable
from driftline.executor.decoded import DeadLetter, SkippedRecord
from driftline.executor.outcome import BatchResult, PartitionOutcome
from driftline.executor.summary import RunSummary, period_of, periods_of

__all__ = ["BatchCounts", "DeadLetterSink", "Originals", "OutcomeSinks", "OutputFailure",
           "PredictionsProducer"]

log = logging.getLogger("driftline.sinks")

#: ``originals(topic, partition, offset)``: the record's ``(value, key, timestamp_ms)`` as
#: consumed, or None when it is not known
Originals = Callable[[str, int, int], tuple[bytes | None, bytes | None, int | None] | None]


class OutputFailure(NamedTuple):
    """An output record of the input record ``topic/partition@offset`` that cannot be
    written, and why."""

    topic: str
    partition: int
    offset: int
    error: BaseException


class DeadLetterSink(Protocol):
    """Where dead letters are written."""

    def send(self, letter: DeadLetter) -> None: ...

    def flush(self, timeout: float | None = None) -> list[tuple[DeadLetter, BaseException]]:
        """Wait for the letters sent; return those that can never be written."""


@dataclass
class BatchCounts:
    """Counts of one applied batch (``n_records`` and ``n_labels``: filled by the Kafka
    executor)."""

    n_records: int = 0
    n_labels: int = 0
    n_processed: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


class PredictionsProducer:
    """Writes one record per processed event to ``topic`` (see the module docstring).

    Parameters
    ----------
    producer : kafka.KafkaProducer
        A bytes producer.
    topic : str
    class_names : sequence of str
        Names of the predicted classes (``"class"`` field).
    """

    def __init__(self, producer: Any, topic: str, class_names: Sequence[str]) -> None:
        self.producer = producer
        self.topic = topic
        self.class_names = list(class_names)
        self._futures: list[tuple[Any, str, int, int]] = []

    def send(self, outcome: PartitionOutcome) -> list[OutputFailure]:
        """Queue the predictions of ``outcome``'s processed events; returns those the producer
        refused at once."""
        result = outcome.result
        if result is None:
            return []
        refused = []
        n_classes = len(self.class_names)
        for i, (event_id, offset) in enumerate(zip(result.event_ids, outcome.offsets,
                                                   strict=True)):
            try:
                predicted = int(result.predicted[i])
                label = int(result.labels[i])
                body = {
                    "event_id": event_id, "predicted": predicted,
                    "class": self.class_names[predicted] if 0 <= predicted < n_classes
                    else str(predicted),
                    "fallback": bool(result.used_fallback[i]),
                    "label": None if label < 0 else label,
                    "topic": outcome.topic, "partition": outcome.partition, "offset": offset,
                }
                future = self.producer.send(
                    self.topic, value=json.dumps(body, separators=(",", ":")).encode(),
                    key=event_id.encode("utf-8"))
            except Exception as exc:
                refused.append(OutputFailure(outcome.topic, outcome.partition, offset, exc))
                continue
            self._futures.append((future, outcome.topic, outcome.partition, offset))
        return refused

    def flush(self, timeout: float | None = 30.0) -> list[OutputFailure]:
        """Block until the records sent so far are acknowledged; returns those the broker
        refused for what they are. ``RuntimeError`` if one failed for a reason that may pass
        (or was not acknowledged in time)."""
        if not self._futures:
            return []
        futures, self._futures = self._futures, []
        self.producer.flush(timeout=timeout)
        refused = []
        for future, topic, partition, offset in futures:
            if not future.is_done:
                raise RuntimeError(f"the prediction of {topic}/{partition}@{offset} was not "
                                   "acknowledged")
            if future.failed():
                if is_retriable(future.exception):
                    raise RuntimeError(f"the prediction of {topic}/{partition}@{offset} was "
                                       f"not written: {future.exception}")
                refused.append(OutputFailure(topic, partition, offset, future.exception))
        return refused


class OutcomeSinks:
    """Applies detection outcomes (see the module docstring).

    Parameters
    ----------
    summary : RunSummary
        Accumulates per-period results, detections and dead letters.
    exporter : executor.exporter.DriftExporter, optional
    dead_letters : DeadLetterSink, optional
        None: rejected records are logged (at WARNING) and counted only.
    predictions : PredictionsProducer, optional
    """

    def __init__(self, summary: RunSummary, *, exporter: Any | None = None,
                 dead_letters: DeadLetterSink | None = None,
                 predictions: PredictionsProducer | None = None) -> None:
        self.summary = summary
        self.exporter = exporter
        self.dead_letters = dead_letters
        self.predictions = predictions
        # skip markers sent since the last flush (a refused one is not a second skip)
        self._markers: list[DeadLetter] = []

    def apply(self, outcomes: Iterable[PartitionOutcome],
              rejected: Iterable[DeadLetter] = (), skipped: Iterable[SkippedRecord] = (),
              originals: Originals | None = None) -> BatchCounts:
        """Apply one batch: the partitions' ``outcomes``, the records ``rejected`` before
        detection (e.g. invalid labels records) and those ``skipped`` past unread;
        ``originals`` gives the bytes of a record whose output is refused."""
        counts = BatchCounts()
        for record in skipped:
            self._skip(record.reason, record.where(), record.marker(), counts)
        for letter in rejected:
            self._reject(letter, counts)
        for outcome in outcomes:
            source = str(outcome.partition)
            for joined in outcome.label_results:
                self._detections(joined, {})
                self._readings(joined, source)
            for letter in outcome.dead_letters:
                self._reject(letter, counts)
            if outcome.quality and self.exporter is not None:
                self.exporter.observe_quality(outcome.quality)
            result = outcome.result
            if result is None:
                continue
            self._readings(result, source)
            if not result.n_processed:
                continue
            counts.n_processed += result.n_processed
            periods = (list(outcome.periods) if outcome.periods is not None
                       else periods_of(result.event_ids))
            self.summary.add_batch(periods, result.predicted, result.labels,
                                   result.used_fallback)
            self._detections(result, dict(zip(result.event_ids, periods, strict=True)))
            if self.predictions is not None:
                for failure in self.predictions.send(outcome):
                    self._output_refused(failure, originals, counts)
        self._export_counts(counts)
        return counts

    def _export_counts(self, counts: BatchCounts) -> None:
        if self.exporter is None:
            return
        if counts.dead_letters:
            # Model failures are counted as failed by the pipeline's readings.
            failed = {r: n for r, n in counts.dead_letters.items() if r != "model"}
            self.exporter.observe_events(failed_by_reason=failed,
                                         dead_lettered=sum(counts.dead_letters.values()))
        for reason, n in counts.skipped.items():
            self.exporter.count_skipped(reason, n)

    def _readings(self, result: BatchResult, source: str) -> None:
        if self.exporter is not None:
            self.exporter.apply_readings(result.readings, source=source)

    def _detections(self, result: BatchResult, period_by_id: dict[str, str]) -> None:
        for detection in result.detections:
            period = period_by_id.get(detection.event_id)
            self.summary.add_detection(
                detection, period if period is not None else period_of(detection.event_id))

    def _reject(self, letter: DeadLetter, counts: BatchCounts) -> None:
        counts.dead_letters[letter.reason] += 1
        self.summary.add_dead_letters([letter])
        if self.dead_letters is not None:
            self.dead_letters.send(letter)
        else:
            log.warning("rejected record (dead-letter output disabled): %s/%d@%d %s: %s",
                        letter.topic, letter.partition, letter.offset, letter.reason,
                        letter.detail)

    def _skip(self, reason: str, where: str, marker: DeadLetter | None,
              counts: BatchCounts) -> None:
        counts.skipped[reason] += 1
        self.summary.add_skipped(reason, where)
        if marker is not None and self.dead_letters is not None:
            self._markers.append(marker)
            self.dead_letters.send(marker)

    def _output_refused(self, failure: OutputFailure, originals: Originals | None,
                        counts: BatchCounts) -> None:
        value = key = timestamp = None
        original = None if originals is None else originals(
            failure.topic, failure.partition, failure.offset)
        if original is not None:
            value, key, timestamp = original
        log.error("the prediction of %s/%d@%d was refused, dead-lettering the record: %s: %s",
                  failure.topic, failure.partition, failure.offset,
                  type(failure.error).__name__, failure.error)
        self._reject(DeadLetter("output_rejected", f"prediction record refused: "
                                f"{type(failure.error).__name__}: {failure.error}"[:500],
                                value, key, failure.topic, failure.partition, failure.offset,
                                timestamp), counts)

    def flush(self, timeout: float | None = 30.0, originals: Originals | None = None) -> None:
        """Block until the predictions and dead letters sent so far are acknowledged. Refused
        predictions become dead letters (``originals``: their records' bytes), dead letters
        that cannot be written are skipped past; raises (``DeadLetterError`` /
        ``RuntimeError``) when a failure may pass."""
        counts = BatchCounts()
        if self.predictions is not None:
            for failure in self.predictions.flush(timeout=timeout):
                self._output_refused(failure, originals, counts)
        if self.dead_letters is not None:
            markers, self._markers = self._markers, []
            for letter, error in self.dead_letters.flush(timeout=timeout):
                where = f"{letter.topic}/{letter.partition}@{letter.offset}"
                if any(letter is marker for marker in markers):
                    # the record is skipped already; only the note of it is lost
                    log.error("the note of the skipped record %s could not be written: %s: %s",
                              where, type(error).__name__, error)
                    continue
                log.error("the dead letter of %s (%s) can never be written, skipping the "
                          "record: %s: %s", where, letter.reason, type(error).__name__, error)
                self._skip("dead_letter_failed", where, None, counts)
        self._export_counts(counts)
