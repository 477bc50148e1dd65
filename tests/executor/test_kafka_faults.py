"""Records no executor may stall on, on a real broker (issue 11, items 1-3, and the fuzz test).

* the issue's three records -- an event id holding a lone surrogate with a predictions topic
  set, a record over 1 MiB, a record whose header key is not UTF-8 -- among good events: each
  is dead-lettered (the large one cut to the producer limit, with its size and hash) or, the
  unreadable one, skipped past with a metric and a note in the dead-letter topic; every good
  event is predicted once, every partition committed to its end, and the consumer session
  never restarts;
* the fuzz test: 65 kinds of malformed record (those three included) mixed with good events
  over three partitions, detected in the forked worker: every good event predicted once, every
  bad one dead-lettered (with the decoder's reason) or skipped-and-counted once, all partitions
  committed to the log end, one consumer session.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kafka import KafkaProducer

from driftline.executor.dead_letter import DEFAULT_MAX_RECORD_BYTES
from driftline.executor.decode import DeadLetter, EventDecoder, encode_event
from driftline.executor.kafka_clients import ensure_topic
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import (
    RawHeaderKey,
    committed_offsets,
    executor_config,
    read_until_idle,
    running,
    unique,
    wait_until,
)
from tests.executor.malformed import BAD_HEADER_KEY, GOOD, MALFORMED, UNREADABLE
from tests.executor.test_exporter import value

pytestmark = pytest.mark.kafka

PARTITIONS = 3


class Produced(NamedTuple):
    """What a test put into the events topic: positions of good and bad records."""

    good: dict[str, tuple[int, int]]  # event id -> (partition, offset)
    bad: dict[tuple[int, int], str]  # (partition, offset) -> kind
    ends: dict[int, int]  # log end offset per partition


def produce_mixed(bootstrap: str, topic: str, kinds: list[str], good_between: int) -> Produced:
    """``good_between`` good events before each bad record of ``kinds`` (round robin over the
    partitions) and at the end of every partition; the unreadable record goes alone in its
    record batch, as a client writing it would send it."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             max_request_size=4 * 1024 * 1024)
    good: dict[str, Any] = {}
    bad: dict[Any, str] = {}
    n_good = 0

    def send_good(partition: int) -> None:
        nonlocal n_good
        event_id = f"good-{n_good:05d}"
        n_good += 1
        good[event_id] = (partition, producer.send(
            topic, key=event_id.encode(), value=encode_event(event_id, GOOD),
            partition=partition))

    for i, kind in enumerate(kinds):
        partition = i % PARTITIONS
        for _ in range(good_between):
            send_good(partition)
        if kind == UNREADABLE:
            producer.flush()
            future = producer.send(topic, key=b"bad-header", value=encode_event("h", GOOD),
                                   headers=[(RawHeaderKey(BAD_HEADER_KEY), b"v")],
                                   partition=partition)
            producer.flush()
        else:
            future = producer.send(topic, key=kind.encode(), value=MALFORMED[kind],
                                   partition=partition)
        bad[(partition, future)] = kind
    for partition in range(PARTITIONS):
        for _ in range(good_between):
            send_good(partition)
    producer.flush()
    producer.close()
    good_at = {event_id: (p, f.get(10).offset) for event_id, (p, f) in good.items()}
    bad_at = {(p, f.get(10).offset): kind for (p, f), kind in bad.items()}
    ends: dict[int, int] = {}
    for partition, offset in [*good_at.values(), *bad_at]:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return Produced(good_at, bad_at, ends)


class Run(NamedTuple):
    """What an executor run over a :class:`Produced` topic left behind."""

    produced: Produced
    predictions: list[Any]
    dead_letters: list[Any]
    executor: Any


def run_over(broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
             model: Any, kinds: list[str], *, worker_process: bool, good_between: int) -> Run:
    topic, group = unique("faults"), unique("group")
    predictions = f"{topic}.predictions"
    ensure_topic(broker.bootstrap_servers, topic, PARTITIONS)
    produced = produce_mixed(broker.bootstrap_servers, topic, kinds, good_between)
    config = executor_config(broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group,
                             predictions_topic=predictions, max_rows=200,
                             worker_process=worker_process)
    with running(config, model) as executor:
        wait_until(lambda: committed_offsets(broker.bootstrap_servers, group, topic,
                                             range(PARTITIONS)) == produced.ends,
                   120, "every partition committed to its log end")
    return Run(produced, read_until_idle(broker.bootstrap_servers, predictions),
               read_until_idle(broker.bootstrap_servers, f"{topic}.dlt"), executor)


def by_source(records: list[Any]) -> Counter[tuple[int, int]]:
    return Counter((int(dict(r.headers)["driftline.source.partition"]),
                    int(dict(r.headers)["driftline.source.offset"])) for r in records)


def assert_run_is_clean(run: Run, model: Any) -> None:
    """Every good event predicted once; every bad record dead-lettered once with the decoder's
    reason (the unreadable one: its note); one consumer session."""
    produced, executor = run.produced, run.executor
    predicted = Counter(json.loads(r.value)["event_id"] for r in run.predictions)
    assert predicted == Counter(list(produced.good))  # each good event exactly once
    assert by_source(run.dead_letters) == Counter(list(produced.bad))  # each bad one once
    decoder = EventDecoder(model.profile.feature_names, n_classes=len(model.class_names))
    for record in run.dead_letters:
        headers = dict(record.headers)
        where = (int(headers["driftline.source.partition"]),
                 int(headers["driftline.source.offset"]))
        kind = produced.bad[where]
        if kind == UNREADABLE:
            assert headers["driftline.reason"] == b"corrupt_record"
            assert b"UnicodeDecodeError" in headers["driftline.detail"]
            assert record.value == b"" and headers["driftline.source.null"] == b"key+value"
            continue
        expected = decoder.decode(MALFORMED[kind], topic="t", partition=0, offset=0,
                                  timestamp_ms=None)
        assert isinstance(expected, DeadLetter)
        assert headers["driftline.reason"] == expected.reason.encode(), kind
        if kind != "over_a_mebibyte":
            assert record.value == (MALFORMED[kind] or b""), kind
    n_unreadable = sum(kind == UNREADABLE for kind in produced.bad.values())
    assert dict(executor.summary.skipped) == ({"corrupt_record": n_unreadable}
                                              if n_unreadable else {})
    assert value(executor.exporter, "driftline_records_skipped_total",
                 reason="corrupt_record") == n_unreadable
    assert sum(executor.summary.dead_letters.values()) == len(produced.bad) - n_unreadable
    assert executor.summary.n_processed == len(produced.good)
    assert (executor.n_sessions, executor.n_session_failures) == (1, 0)


ISSUE_RECORDS = ["event_id_lone_high_surrogate", "over_a_mebibyte", UNREADABLE]


@pytest.fixture(scope="module")
def issue_run(kafka_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory,
              artifacts_dir: Path, pipeline_template: Path, kafka_model: Any) -> Run:
    """The issue's three records among good events, each on its own partition, detected in
    the executor's process."""
    tmp = tmp_path_factory.mktemp("issue-records")
    checkpoints = tmp / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / pipeline_template.name).write_bytes(pipeline_template.read_bytes())
    return run_over(kafka_broker, tmp, artifacts_dir, checkpoints, kafka_model, ISSUE_RECORDS,
                    worker_process=False, good_between=40)


def dead_letter_of(run: Run, kind: str) -> Any:
    (where,) = [w for w, k in run.produced.bad.items() if k == kind]
    (record,) = [r for r in run.dead_letters if by_source([r]) == Counter([where])]
    return record


def test_a_lone_surrogate_event_id_is_dead_lettered_not_a_restart_loop(
        issue_run: Run, kafka_model: Any) -> None:
    record = dead_letter_of(issue_run, "event_id_lone_high_surrogate")
    assert dict(record.headers)["driftline.reason"] == b"bad_event_id"
    assert record.value == MALFORMED["event_id_lone_high_surrogate"]
    assert_run_is_clean(issue_run, kafka_model)
    # counted once: a restart loop used to double driftline_events_processed_total
    assert value(issue_run.executor.exporter, "driftline_events_processed_total") == len(
        issue_run.produced.good)


def test_a_record_over_a_mebibyte_is_dead_lettered_cut_with_its_size_and_hash(
        issue_run: Run) -> None:
    record = dead_letter_of(issue_run, "over_a_mebibyte")
    original = MALFORMED["over_a_mebibyte"]
    assert original is not None and len(original) > 1024 * 1024
    headers = dict(record.headers)
    assert headers["driftline.reason"] == b"too_large"
    assert headers["driftline.truncated"] == str(len(original)).encode()
    assert headers["driftline.source.sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert original.startswith(record.value) and len(record.value) > 900_000
    size = len(record.value) + len(record.key or b"") + sum(
        len(k) + len(v) for k, v in record.headers)
    assert size <= DEFAULT_MAX_RECORD_BYTES
    assert record.key == b"over_a_mebibyte"


def test_a_header_key_that_is_not_utf8_is_skipped_counted_and_noted(issue_run: Run) -> None:
    record = dead_letter_of(issue_run, UNREADABLE)
    (where,) = [w for w, k in issue_run.produced.bad.items() if k == UNREADABLE]
    assert dict(record.headers)["driftline.reason"] == b"corrupt_record"
    summary = issue_run.executor.summary
    topic = dict(record.headers)["driftline.source.topic"].decode()
    assert summary.skipped == {"corrupt_record": 1}
    assert summary.skipped_at == [f"{topic}/{where[0]}@{where[1]}"]
    assert value(issue_run.executor.exporter, "driftline_records_skipped_total",
                 reason="corrupt_record") == 1
    # the good events after it on its partition were all predicted
    after = [event_id for event_id, (p, o) in issue_run.produced.good.items()
             if p == where[0] and o > where[1]]
    predicted = {json.loads(r.value)["event_id"] for r in issue_run.predictions}
    assert after and set(after) <= predicted


def test_fuzz_65_kinds_of_malformed_record_among_good_events(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any) -> None:
    kinds = [*MALFORMED, UNREADABLE]
    assert len(kinds) >= 60 and set(ISSUE_RECORDS) <= set(kinds)
    run = run_over(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, kafka_model, kinds,
                   worker_process=True, good_between=4)
    assert len(run.produced.bad) == len(kinds) and len(set(run.produced.ends)) == PARTITIONS
    assert_run_is_clean(run, kafka_model)
