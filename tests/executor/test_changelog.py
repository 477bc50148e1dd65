"""ChangelogStore on a real broker: round trip through a compacted topic, chunked states, a
half-written checkpoint, and damaged, foreign or unreachable changelogs (cold start with a
reason, never an exception)."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from driftline.executor.changelog import ChangelogStore, changelog_topic
from driftline.executor.state_record import encode_record, encode_state
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import read_until_idle, unique

pytestmark = pytest.mark.kafka


def make_store(broker: TansuBroker, topic: str, failures: list[str] | None = None,
               **kwargs: Any) -> ChangelogStore:
    store = ChangelogStore(broker.bootstrap_servers, topic, client_id=unique("test"),
                           restore_timeout_s=20.0,
                           on_restore_failure=None if failures is None else failures.append,
                           **kwargs)
    store.ensure_topic(3)
    return store


def big_state(n: int, scale: float) -> dict[str, Any]:
    return {"window": [i * scale for i in range(n)], "n_seen": n}


def test_changelog_topic_is_derived_from_the_group() -> None:
    assert changelog_topic("driftline-executor") == "driftline-executor.driftline-state"
    assert changelog_topic("a b", "explicit.state") == "explicit.state"
    assert len(changelog_topic("g" * 400)) == 249


def test_states_round_trip_and_the_latest_record_wins(kafka_broker: TansuBroker,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Any] = []
    original = KafkaAdminClient.create_topics

    def spy(self: KafkaAdminClient, new_topics: list[Any], *args: Any, **kwargs: Any) -> Any:
        created.extend(new_topics)
        return original(self, new_topics, *args, **kwargs)

    monkeypatch.setattr(KafkaAdminClient, "create_topics", spy)
    topic = unique("state")
    writer = make_store(kafka_broker, topic)
    assert [(t.name, t.num_partitions, t.topic_configs) for t in created] == [
        (topic, 3, {"cleanup.policy": "compact", "segment.bytes": str(16 * 1024 * 1024)})]
    writer.save_many([("events", 0, 10, encode_state({"n": 10})),
                      ("events", 4, 7, encode_state({"n": 7})),
                      ("labels", 0, 3, b"{}")])
    writer.save("events", 0, 25, {"n": 25})
    writer.close()

    records = read_until_idle(kafka_broker.bootstrap_servers, topic)
    # keyed by topic/partition, in changelog partition partition % 3
    assert sorted((r.key, r.partition) for r in records) == [
        (b"events/0", 0), (b"events/0", 0), (b"events/4", 1), (b"labels/0", 0)]

    failures: list[str] = []
    reader = make_store(kafka_broker, topic, failures)
    found = reader.load_many([("events", 0), ("events", 4), ("labels", 0), ("events", 2)])
    assert {k: None if v is None else (v.offset, v.state) for k, v in found.items()} == {
        ("events", 0): (25, {"n": 25}), ("events", 4): (7, {"n": 7}),
        ("labels", 0): (3, {}), ("events", 2): None}
    assert failures == []
    reader.delete("events", 4)
    assert reader.load("events", 4) is None
    reader.close()


def test_a_state_above_the_record_limit_is_chunked_and_a_torn_write_keeps_the_last_one(
        kafka_broker: TansuBroker) -> None:
    topic = unique("state")
    store = make_store(kafka_broker, topic, max_record_bytes=4096)
    first, second = big_state(3000, 0.5), big_state(3100, 0.25)
    store.save("events", 1, 3000, first)
    store.save("events", 1, 3100, second)
    store.close()
    records = read_until_idle(kafka_broker.bootstrap_servers, topic)
    assert max(len(r.value) for r in records) <= 4096
    chunk_keys = {r.key for r in records if b"#" in r.key}
    assert {k.rsplit(b".", 1)[0] for k in chunk_keys} == {b"events/1#0", b"events/1#1"}

    failures: list[str] = []
    reader = make_store(kafka_broker, topic, failures)
    restored = reader.load("events", 1)
    assert restored is not None and (restored.offset, restored.state) == (3100, second)

    # a writer dies after some chunks of the next checkpoint: they go to the other slot (the
    # first one's), so the last complete checkpoint is still whole
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer.send(topic, key=b"events/1#0.0", value=b"f00d\nxxxx", partition=1).get(10)
    producer.close()
    restored = make_store(kafka_broker, topic, failures).load("events", 1)
    assert restored is not None and restored.state == second
    assert failures == []


@pytest.mark.parametrize(("value", "reason"), [
    (b"\x00\xff garbage", "truncated"),
    (b"not json\n{}", "corrupt"),
    (encode_record("events", 0, 5, b'{"n":5}')[:-2], "truncated"),
    (encode_record("events", 0, 5, b'{"n":5}').replace(b'"format":1', b'"format":99'),
     "incompatible_version"),
    (encode_record("events", 7, 5, b'{"n":5}'), "corrupt"),
    (encode_record("events", 0, 5, b"{}", chunks={"slot": 0, "count": 2, "generation": "ab"}),
     "truncated"),
])
def test_a_damaged_record_starts_the_partition_cold_with_its_reason(
        kafka_broker: TansuBroker, caplog: pytest.LogCaptureFixture, value: bytes,
        reason: str) -> None:
    topic = unique("state")
    failures: list[str] = []
    store = make_store(kafka_broker, topic, failures)
    store.save("events", 3, 9, {"n": 9})  # another partition's state is unaffected
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer.send(topic, key=b"events/0", value=value, partition=0).get(10)
    producer.close()
    with caplog.at_level(logging.WARNING, logger="driftline.checkpoint"):
        found = store.load_many([("events", 0), ("events", 3)])
    assert found[("events", 0)] is None
    assert found[("events", 3)] is not None and found[("events", 3)].state == {"n": 9}
    assert failures == [reason]
    assert any("starting cold" in r.getMessage() and reason in r.getMessage()
               for r in caplog.records)
    store.close()


def test_an_unreachable_changelog_starts_cold_and_refuses_writes() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    failures: list[str] = []
    store = ChangelogStore(f"127.0.0.1:{port}", "g.driftline-state", restore_timeout_s=2.0,
                           on_restore_failure=failures.append)
    started = time.monotonic()
    assert store.load_many([("events", 0), ("events", 1)]) == {
        ("events", 0): None, ("events", 1): None}
    assert failures == ["unreachable", "unreachable"]
    assert time.monotonic() - started < 30
    with pytest.raises(Exception):  # noqa: B017 - whatever kafka-python raises: not written
        store.save("events", 0, 1, {"n": 1})
    store.close()
