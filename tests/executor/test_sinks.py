"""OutcomeSinks: one batch's outcomes into the summary, the exporter, dead letters and the
predictions topic."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from driftline.executor.decode import DeadLetter
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
    """Records sends; with ``fail`` every record fails."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    def send(self, topic: str, value: bytes, key: bytes) -> Future:
        self.sent.append((topic, value, key))
        return Future(TimeoutError("not acknowledged") if self.fail else None)

    def flush(self, timeout: float | None = None) -> None:
        return None


class Letters:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, letter: DeadLetter) -> None:
        self.sent.append(letter)

    def flush(self, timeout: float | None = None) -> int:
        return len(self.sent)


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


def test_unacknowledged_predictions_fail_the_flush() -> None:
    producer = Producer(fail=True)
    sinks = OutcomeSinks(RunSummary(), predictions=PredictionsProducer(producer, "p", ["a"]))
    sinks.apply([outcome()])
    with pytest.raises(RuntimeError, match="3 prediction records were not written"):
        sinks.flush()
    sinks.flush()  # the failed ones are not retried: the batch is redone from its checkpoint
