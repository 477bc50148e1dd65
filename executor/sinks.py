"""Where detection outcomes go: run summary, exporter, dead letters, predictions.

:class:`OutcomeSinks` applies the :class:`executor.outcome.PartitionOutcome` list of one batch
-- whichever backend produced it -- in the executor's process: every result is counted in the
:class:`executor.summary.RunSummary` (per period, detections included), its readings go to the
exporter as the partition's (:meth:`executor.exporter.DriftExporter.apply_readings`), dead
letters to the dead-letter sink (the Kafka topic :class:`executor.dead_letter.
DeadLetterProducer` or the JSONL file :class:`executor.dead_letter.DeadLetterFile`), and, with
a predictions topic, one record per event to :class:`PredictionsProducer`. Nothing is flushed
until :meth:`OutcomeSinks.flush`: the Kafka executor flushes before it checkpoints and commits.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftline.executor.decoded import DeadLetter
from driftline.executor.outcome import BatchResult, PartitionOutcome
from driftline.executor.summary import RunSummary, period_of, periods_of

__all__ = ["BatchCounts", "DeadLetterSink", "OutcomeSinks", "PredictionsProducer"]

log = logging.getLogger("driftline.sinks")


class DeadLetterSink(Protocol):
    """Where dead letters are written."""

    def send(self, letter: DeadLetter) -> None: ...

    def flush(self, timeout: float | None = None) -> int: ...


@dataclass
class BatchCounts:
    """Counts of one applied batch (``n_records`` and ``n_labels``: filled by the Kafka
    executor)."""

    n_records: int = 0
    n_labels: int = 0
    n_processed: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)


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
        self._futures: list[Any] = []

    def send(self, outcome: PartitionOutcome) -> None:
        """Queue the predictions of ``outcome``'s processed events."""
        result = outcome.result
        if result is None:
            return
        n_classes = len(self.class_names)
        for i, (event_id, offset) in enumerate(zip(result.event_ids, outcome.offsets,
                                                   strict=True)):
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
            self._futures.append(self.producer.send(
                self.topic, value=json.dumps(body, separators=(",", ":")).encode(),
                key=event_id.encode("utf-8")))

    def flush(self, timeout: float | None = 30.0) -> int:
        """Block until the records sent so far are acknowledged; ``RuntimeError`` if one
        failed. Returns how many were flushed."""
        if not self._futures:
            return 0
        futures, self._futures = self._futures, []
        self.producer.flush(timeout=timeout)
        failed = [f for f in futures if not f.is_done or f.failed()]
        if failed:
            raise RuntimeError(f"{len(failed)} prediction records were not written: "
                               f"{failed[0].exception}")
        return len(futures)


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

    def apply(self, outcomes: Iterable[PartitionOutcome],
              rejected: Iterable[DeadLetter] = ()) -> BatchCounts:
        """Apply one batch: the partitions' ``outcomes`` and the records ``rejected`` before
        detection (e.g. invalid labels records)."""
        counts = BatchCounts()
        for letter in rejected:
            self._reject(letter, counts)
        for outcome in outcomes:
            source = str(outcome.partition)
            for joined in outcome.label_results:
                self._detections(joined, {})
                self._readings(joined, source)
            for letter in outcome.dead_letters:
                self._reject(letter, counts)
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
                self.predictions.send(outcome)
        if self.exporter is not None and counts.dead_letters:
            # Model failures are counted as failed by the pipeline's readings.
            failed = {r: n for r, n in counts.dead_letters.items() if r != "model"}
            self.exporter.observe_events(failed_by_reason=failed,
                                         dead_lettered=sum(counts.dead_letters.values()))
        return counts

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

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until the dead letters and predictions sent so far are acknowledged; raises
        (``DeadLetterError`` / ``RuntimeError``) if one failed."""
        if self.dead_letters is not None:
            self.dead_letters.flush(timeout=timeout)
        if self.predictions is not None:
            self.predictions.flush(timeout=timeout)
