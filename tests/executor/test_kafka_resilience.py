"""The Kafka executor against a real broker when things go wrong or scale out.

* poison messages (29 kinds) go to ``<topic>.dlt`` with their original bytes and the headers,
  the good events around them are all processed;
* the broker restarts (in-memory storage: it comes back empty) and the executor reconnects and
  processes what is produced afterwards, without exiting;
* two executors in one consumer group split the partitions, together process every event, and a
  partition that moves to the other replica continues from its checkpoint.

The executors run in threads of the test process (the process-level behaviour -- SIGTERM,
kill -9 -- is covered by test_kafka_executor.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.decode import DeadLetter, EventDecoder, encode_event
from driftline.executor.kafka_clients import ensure_topic
from driftline.executor.kafka_runner import KafkaExecutor
from driftline.executor.replay import insurance_events, replay
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import (
    consume_all,
    executor_config,
    partition_sizes,
    produce,
    running,
    unique,
    wait_until,
)

pytestmark = pytest.mark.kafka

GOOD = {"age": 40.0, "emergency_braking": 1.0, "braking_distance": 30.0, "power": 100.0,
        "miles": 20_000.0}


def _event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "features": {**GOOD, **changes}}


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


POISON: list[bytes | None] = [
    b"not json at all", b"", None, b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'"a string"', b"42",
    b"null", _json({"features": GOOD}), _json({"event_id": "p"}),
    _json({"event_id": "p", "features": [1, 2]}),
    _json({"event_id": "p", "features": {k: v for k, v in GOOD.items() if k != "miles"}}),
    _json(_event("p", age="forty")), _json(_event("p", power=True)),
    b'{"event_id": "p", "features": {"age": NaN, "emergency_braking": 1, "braking_distance": 3,'
    b' "power": 1, "miles": 1}}',
    _json(_event("p")).replace(b"40.0", b"Infinity"),
    _json(_event("p")).replace(b"40.0", b"-Infinity"),
    _json(_event("p", miles=1e300)), _json({**_event("p"), "pad": "x" * 70_000}),
    _json({**_event("p"), "extra": 1}), _json(_event("p", colour=3.0)),
    _json({**_event("p"), "label": 99}), _json({**_event("p"), "label": "high"}),
    _json({**_event("p"), "event_id": 17}), _json({**_event("p"), "event_id": " "}),
    _json(_event("p", age={"nested": [1, {"deeper": None}]})),
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"event_id": "p", "event_id": "q", "features": {}}',
    _json({**_event("p"), "timestamp": "yesterday"}),
]


# worker_process: detection in the forked worker (default) or in the consumer's process
@pytest.mark.parametrize("worker_process", [True, False], ids=["worker", "single-process"])
def test_poison_messages_go_to_the_dead_letter_topic_with_headers(
        kafka_broker: TansuBroker, artifacts_dir: Path, checkpoint_dir: Path, tmp_path: Path,
        kafka_model: Any, worker_process: bool) -> None:
    assert len(POISON) >= 20
    topic, group = unique("poison"), unique("group")
    ensure_topic(kafka_broker.bootstrap_servers, topic, 1)
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, bad in enumerate(POISON):
        records.append((f"good-{i}".encode(), encode_event(f"good-{i}", GOOD)))
        records.append((f"bad-{i}".encode(), bad))
    produce(kafka_broker.bootstrap_servers, topic, records)
    # The reference: what the decoder says about each record, by offset.
    decoder = EventDecoder(kafka_model.profile.feature_names,
                           n_classes=len(kafka_model.class_names))
    expected = {}
    for offset, (key, value) in enumerate(records):
        decoded = decoder.decode(value, key=key, topic=topic, partition=0, offset=offset,
                                 timestamp_ms=None)
        if isinstance(decoded, DeadLetter):
            expected[offset] = (decoded.reason, value, key)
    assert len(expected) == len(POISON) and len({r for r, _, _ in expected.values()}) >= 15

    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group,
                     worker_process=worker_process)
    with running(config, kafka_model) as executor:
        dead = consume_all(kafka_broker.bootstrap_servers, f"{topic}.dlt",
                           expected=len(POISON), timeout_s=90)
        wait_until(lambda: executor.summary.n_processed == len(POISON), 60, "good events")
    got = {}
    for record in dead:
        headers = dict(record.headers)
        assert headers["driftline.source.topic"] == topic.encode()
        assert headers["driftline.source.partition"] == b"0"
        assert headers["driftline.detail"]
        assert headers["driftline.source.timestamp"].isdigit()
        got[int(headers["driftline.source.offset"])] = (
            headers["driftline.reason"].decode(), record.value, record.key)
    # A null value travels as b"" (flagged by a header).
    normalised = {o: (r, b"" if v is None else v, k) for o, (r, v, k) in expected.items()}
    assert got == normalised
    assert sum(executor.summary.dead_letters.values()) == len(POISON)


def test_broker_restart_is_survived(
        tansu_broker_factory: Any, artifacts_dir: Path, checkpoint_dir: Path, tmp_path: Path,
        kafka_model: Any) -> None:
    broker: TansuBroker = tansu_broker_factory()
    topic, group = unique("restart"), unique("group")
    ensure_topic(broker.bootstrap_servers, topic, 1)
    first = [(f"a-{i}".encode(), encode_event(f"a-{i}", GOOD)) for i in range(300)]
    produce(broker.bootstrap_servers, topic, first)
    config = executor_config(broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group)
    with running(config, kafka_model) as executor:
        wait_until(lambda: executor.summary.n_processed == 300, 60, "the first 300 events")
        broker.restart(down_seconds=3.0)
        # In-memory storage: the topic is gone; recreate it and produce fewer records than
        # before, so the old position lies beyond the new log end.
        ensure_topic(broker.bootstrap_servers, topic, 1)
        second = [(f"b-{i}".encode(), encode_event(f"b-{i}", GOOD)) for i in range(200)]
        produce(broker.bootstrap_servers, topic, second)
        wait_until(lambda: executor.summary.n_processed == 500, 120,
                   "the events produced after the restart")
    store = CheckpointStore(checkpoint_dir)
    assert store.load(topic, 0).offset == 200


@pytest.mark.parametrize("worker_process", [True, False], ids=["worker", "single-process"])
def test_two_executors_split_partitions_and_state_follows_the_partition(
        kafka_broker: TansuBroker, artifacts_dir: Path, checkpoint_dir: Path, tmp_path: Path,
        kafka_model: Any, worker_process: bool) -> None:
    topic, group = unique("pair"), unique("group")
    predictions = f"{topic}.predictions"
    bootstrap = kafka_broker.bootstrap_servers

    def send(months: list[int]) -> None:
        total, events = insurance_events(months)
        replay(events, bootstrap_servers=bootstrap, topic=topic, partitions=4, progress=False,
               total=total)

    store = CheckpointStore(checkpoint_dir)
    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group,
                     predictions_topic=predictions, max_rows=100, worker_process=worker_process)

    def checkpointed(sizes: dict[int, int]) -> bool:
        return all((c := store.load(topic, p)) is not None and c.offset == size
                   for p, size in sizes.items())

    def owned(executor: KafkaExecutor) -> set[int]:
        states = executor.states
        return set() if states is None else {tp.partition for tp in states.next_offsets}

    send([1, 2])
    first_half = partition_sizes(bootstrap, topic, 3000)
    with running(config, kafka_model) as first:
        wait_until(lambda: checkpointed(first_half), 60, "the first replica to checkpoint all")
        with running(config, kafka_model) as second:
            wait_until(lambda: owned(second) and len(owned(first)) + len(owned(second)) == 4
                       and not owned(first) & owned(second), 60, "the partitions to be split")
            split = (owned(first), owned(second))
            send([3, 4])
            sizes = partition_sizes(bootstrap, topic, 6000)
            wait_until(lambda: checkpointed(sizes), 120, "both replicas to finish")
            moved = set(second.states.restored_from_checkpoint)
            assert (owned(first), owned(second)) == split
    assert split[0] and split[1]
    # Every partition the second replica took over continued from the first one's checkpoint.
    assert moved == split[1]
    assert second.summary.n_processed >= sum(sizes[p] - first_half[p] for p in split[1])
    wanted = {f"m{m:02d}-{i:05d}" for m in range(1, 5) for i in range(1500)}
    records = consume_all(bootstrap, predictions, timeout_s=60, until=lambda rs: {
        json.loads(r.value)["event_id"] for r in rs} >= wanted)
    assert {json.loads(r.value)["event_id"] for r in records} == wanted
    # The state of every partition has seen each of its events exactly once, across replicas.
    for partition, size in sizes.items():
        assert store.load(topic, partition).state["counters"]["n_processed"] == size


def test_labels_from_a_co_partitioned_topic_are_joined_by_event_id(
        kafka_broker: TansuBroker, artifacts_dir: Path, checkpoint_dir: Path, tmp_path: Path,
        kafka_model: Any) -> None:
    topic, labels, group = unique("labelled"), unique("labels"), unique("group")
    total, events = insurance_events([1])
    replay(events, bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, partitions=2,
           labels="topic", labels_topic=labels, progress=False, total=total)
    sizes = partition_sizes(kafka_broker.bootstrap_servers, topic, total)
    store = CheckpointStore(checkpoint_dir)
    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group,
                     labels_topic=labels)

    def labelled() -> bool:
        states = [store.load(topic, p) for p in sizes]
        return all(c is not None for c in states) and sum(
            c.state["counters"]["n_labelled"] for c in states) == total

    with running(config, kafka_model):
        wait_until(labelled, 90, "every event to be joined with its label")
    for partition, size in sizes.items():
        state = store.load(topic, partition).state
        assert state["counters"]["n_processed"] == size
        errors = state["detectors"]["errors"]
        assert errors and all(d["counters"]["n_seen"] > 0 for d in errors.values()), (
            "error detectors ran on the joined labels")
    assert {p for t, p in store.partitions() if t == labels} == set(sizes)


def test_an_executor_started_before_its_broker_retries_with_capped_backoff(
        tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path, kafka_model: Any) -> None:
    from tests.conftest import TansuBroker, free_port, tansu_binary

    broker = TansuBroker(tansu_binary(), free_port(), tmp_path / "late-broker.log")
    topic, group = unique("late"), unique("group")
    config = executor_config(broker, tmp_path, artifacts_dir, checkpoint_dir, topic, group)
    try:
        with running(config, kafka_model, backoff_max_s=0.5) as executor:
            wait_until(lambda: executor.n_session_failures >= 3, 120,
                       "failed connection attempts while the broker is down")
            assert executor.backoff_s == pytest.approx(0.5)  # 0.2, 0.4, then capped at 0.5
            broker.start()
            ensure_topic(broker.bootstrap_servers, topic, 1)
            produce(broker.bootstrap_servers, topic,
                    [(f"e{i}".encode(), encode_event(f"e{i}", GOOD)) for i in range(50)])
            wait_until(lambda: executor.summary.n_processed == 50, 120,
                       "the events once the broker is up")
    finally:
        broker.stop()
