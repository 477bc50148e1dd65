"""OutcomeSinks: one batch's outcomes into the summary, the exporter, dead letters and the
predictions topic; outputs refused for what they are become dead letters (or skips), failures
that may pass are raised."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from driftline.executor.decode import DeadLetter
from driftline.executor.decoded import SkippedRecord
from driftline.executor.exporter import DriftExporter
from driftline.executor.outcome import (
    BatchResult,
    Detection,
    DetectorUpdate,
    PartitionOutcome,
    Readings,
)
from driftline.executor.sinks import OutcomeSinks, PredictionsProducer
from driftline.executor.summary import RunSummary
from tests.executor.test_exporter import value


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.is_done, self.exception = True, error

    def failed(self) -> bool:
        return self.exception is not None


class Producer:
    """Records sends; every record fails with ``fail``."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    def send(self, topic: str, value: bytes, key: bytes) -> Future:
        self.sent.append((topic, value, key))
        return Future(self.fail)

    def flush(self, timeout: float | None = None) -> None:
        return None


class Letters:
    """A dead-letter sink; letters whose reason is in ``refuse`` can never be written."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.sent: list[DeadLetter] = []
        self.refuse = refuse
        self._pending: list[DeadLetter] = []

    def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)
        self._pending.append(letter)

    def flush(self, timeout: float | None = None) -> list[tuple[DeadLetter, BaseException]]:
        pending, self._pending = self._pending, []
        return [(dl, MessageSizeTooLargeError("refused")) for dl in pending
                if dl.reason in self.refuse]


def letter(reason: str, offset: int) -> DeadLetter:
    return DeadLetter(reason, "why", b"raw", None, "events", 0, offset, None)


def outcome() -> PartitionOutcome:
    result = BatchResult(
        n_processed=3, n_model=2, n_fallback=1, event_ids=["m01-1", "m02-1", "m02-2"],
        predicted=np.array([0, 1, 2]), labels=np.array([0, 0, -1]),
        used_fallback=np.array([False, True, False]),
        detections=[Detection("ph", "inputs", "age", "m02-2")],
        readings=Readings(detectors=[DetectorUpdate("ph", "inputs", "age",
                                                    {"statistic": 2.0, "threshold": 4.0},
                                                    True, False, 1)],
                          n_processed=3, n_model=2, n_fallback=1, seconds=0.01))
    joined = BatchResult(detections=[Detection("ddm", "errors", "", "m01-9")],
                         readings=Readings(detectors=[DetectorUpdate(
                             "ddm", "errors", "", {"n_seen": 4.0}, False, False, 1)]))
    return PartitionOutcome("events", 1, dead_letters=[letter("model", 7)],
                            label_results=[joined], result=result, offsets=[4, 5, 6])


def test_a_batch_reaches_summary_exporter_dead_letters_and_predictions() -> None:
    summary, exporter, letters, producer = RunSummary(), DriftExporter(), Letters(), Producer()
    sinks = OutcomeSinks(summary, exporter=exporter, dead_letters=letters,
                         predictions=PredictionsProducer(producer, "preds", ["a", "b"]))
    counts = sinks.apply([outcome()], rejected=[letter("not_json", 3)])
    assert counts.n_processed == 3 and counts.dead_letters == {"not_json": 1, "model": 1}
    assert [(p, s.n_events, s.n_labelled, s.n_correct, s.n_fallback)
            for p, s in summary.periods.items()] == [("m01", 1, 1, 1, 0), ("m02", 2, 1, 0, 1)]
    assert summary.detections[("inputs", "age", "ph")] == {"m02": 1}
    assert summary.detections[("errors", "", "ddm")] == {"m01": 1}  # from the event id
    assert [d.offset for d in letters.sent] == [3, 7]
    assert value(exporter, "driftline_events_processed_total") == 3
    assert value(exporter, "driftline_events_dead_lettered_total") == 2
    # the model failures are the pipeline's to count (in its readings), not counted twice
    assert value(exporter, "driftline_events_failed_total", reason="not_json") == 1
    assert value(exporter, "driftline_events_failed_total", reason="model") == 0
    assert value(exporter, "driftline_drift_detections_total", detector="ph", stream="inputs",
                 feature="age") == 1
    assert value(exporter, "driftline_drift_detections_total", detector="ddm",
                 stream="errors", feature="") == 1
    bodies = [json.loads(v) for _, v, _ in producer.sent]
    assert [(b["event_id"], b["class"], b["label"], b["offset"], b["partition"])
            for b in bodies] == [("m01-1", "a", 0, 4, 1), ("m02-1", "b", 0, 5, 1),
                                 ("m02-2", "2", None, 6, 1)]
    sinks.flush()


def test_periods_given_with_the_batch_are_used() -> None:
    summary = RunSummary()
    given = outcome()
    given.periods = ["rows 0-9", "rows 0-9", "rows 10-19"]
    OutcomeSinks(summary).apply([given])
    assert {p: s.n_events for p, s in summary.periods.items()} == {"rows 0-9": 2,
                                                                   "rows 10-19": 1}
    assert summary.detections[("inputs", "age", "ph")] == {"rows 10-19": 1}


def test_without_a_dead_letter_sink_rejects_are_logged_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    summary = RunSummary()
    with caplog.at_level(logging.WARNING, logger="driftline.sinks"):
        OutcomeSinks(summary).apply([], rejected=[letter("empty", 9)])
    assert summary.dead_letters == {"empty": 1}
    assert "events/0@9 empty" in caplog.text


def test_predictions_failing_for_a_reason_that_may_pass_fail_the_flush() -> None:
    producer = Producer(fail=KafkaTimeoutError("broker away"))
    sinks = OutcomeSinks(RunSummary(), predictions=PredictionsProducer(producer, "p", ["a"]))
    sinks.apply([outcome()])
    with pytest.raises(RuntimeError, match=r"events/1@4 was not written: .*broker away"):
        sinks.flush()
    sinks.flush()  # the failed ones are not retried: the batch is redone from its checkpoint


def originals(topic: str, partition: int, offset: int) -> tuple[bytes, bytes, int]:
    return f"value {topic}/{partition}@{offset}".encode(), b"key", 1000 + offset


def test_predictions_refused_for_what_they_are_dead_letter_their_input_records() -> None:
    summary, exporter, letters = RunSummary(), DriftExporter(), Letters()
    producer = Producer(fail=MessageSizeTooLargeError("too large"))
    sinks = OutcomeSinks(summary, exporter=exporter, dead_letters=letters,
                         predictions=PredictionsProducer(producer, "p", ["a", "b"]))
    broken = outcome()
    broken.result.event_ids[1] = "x\ud800y"  # the producer cannot even encode its key
    sinks.apply([broken], originals=originals)
    assert [(d.reason, d.offset, d.value) for d in letters.sent] == [
        ("model", 7, b"raw"),
        ("output_rejected", 5, b"value events/1@5")]  # refused at once
    assert "UnicodeEncodeError" in letters.sent[1].detail
    sinks.flush(originals=originals)  # the broker refuses the other two
    assert [(d.reason, d.offset, d.value, d.key, d.timestamp_ms)
            for d in letters.sent[2:]] == [
        ("output_rejected", 4, b"value events/1@4", b"key", 1004),
        ("output_rejected", 6, b"value events/1@6", b"key", 1006)]
    assert summary.dead_letters == {"model": 1, "output_rejected": 3}
    assert value(exporter, "driftline_events_dead_lettered_total") == 4


def test_skipped_records_and_unwritable_dead_letters_are_counted_once(
        caplog: pytest.LogCaptureFixture) -> None:
    summary, exporter = RunSummary(), DriftExporter()
    letters = Letters(refuse=("not_json", "corrupt_record"))
    sinks = OutcomeSinks(summary, exporter=exporter, dead_letters=letters)
    skipped = SkippedRecord("events", 2, 40, "corrupt_record", "header key is not UTF-8")
    counts = sinks.apply([], rejected=[letter("not_json", 3), letter("empty", 4)],
                         skipped=[skipped])
    assert counts.skipped == {"corrupt_record": 1}
    marker = letters.sent[0]
    assert (marker.reason, marker.offset, marker.value, marker.key) == (
        "corrupt_record", 40, None, None)
    with caplog.at_level(logging.ERROR, logger="driftline.sinks"):
        sinks.flush()
    # the refused dead letter is skipped; the refused marker is not a second skip
    assert summary.skipped == {"corrupt_record": 1, "dead_letter_failed": 1}
    assert summary.skipped_at == ["events/2@40", "events/0@3"]
    assert value(exporter, "driftline_records_skipped_total", reason="corrupt_record") == 1
    assert value(exporter, "driftline_records_skipped_total", reason="dead_letter_failed") == 1
    assert "events/0@3 (not_json) can never be written" in caplog.text


def test_quality_counts_reach_the_exporter() -> None:
    exporter = DriftExporter()
    flagged = outcome()
    flagged.quality = {"age": {"out_of_range": 2}}
    OutcomeSinks(RunSummary(), exporter=exporter).apply([flagged, flagged])
    assert value(exporter, "driftline_data_quality_flags_total", feature="age",
                 flag="out_of_range") == 4
