"""DeadLetterProducer: headers, original bytes and key, records cut to the size limit, flush
failures (retriable: raised; refused for what they are: returned), and a real broker."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from driftline.executor.dead_letter import (
    DETAIL_MAX_BYTES,
    RECORD_OVERHEAD_BYTES,
    DeadLetterError,
    DeadLetterProducer,
    dead_letter_headers,
    dead_letter_record,
)
from driftline.executor.decode import DeadLetter
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import consume_all, unique


def letter(**changes: Any) -> DeadLetter:
    fields: dict[str, Any] = dict(reason="not_json", detail="Expecting value at line 1",
                                  value=b"{oops", key=b"k-1", topic="events", partition=2,
                                  offset=41, timestamp_ms=1_700_000_000_123)
    fields.update(changes)
    return DeadLetter(**fields)


class FakeFuture:
    def __init__(self, error: Exception | None = None, done: bool = True) -> None:
        self.is_done = done
        self.exception = error

    def failed(self) -> bool:
        return self.is_done and self.exception is not None


class FakeProducer:
    """Records sends; ``fail_with`` makes every future fail, ``flush_error`` makes flush raise,
    ``refuse`` makes ``send`` itself raise."""

    def __init__(self, fail_with: Exception | None = None,
                 flush_error: Exception | None = None, refuse: Exception | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.flushes = 0
        self.fail_with = fail_with
        self.flush_error = flush_error
        self.refuse = refuse

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> FakeFuture:
        assert value is not None or key is not None, "kafka refuses records without key and value"
        if self.refuse is not None:
            raise self.refuse
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})
        return FakeFuture(self.fail_with)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1
        if self.flush_error is not None:
            raise self.flush_error


def test_headers_say_why_and_where_from() -> None:
    headers = dict(dead_letter_headers(letter()))
    assert headers == {
        "driftline.reason": b"not_json",
        "driftline.detail": b"Expecting value at line 1",
        "driftline.source.topic": b"events",
        "driftline.source.partition": b"2",
        "driftline.source.offset": b"41",
        "driftline.source.timestamp": b"1700000000123",
    }
    assert all(isinstance(v, bytes) for v in headers.values())


def test_original_value_and_key_go_to_the_suffixed_topic() -> None:
    producer = FakeProducer()
    dlt = DeadLetterProducer(producer)
    dlt.send(letter())
    dlt.send(letter(reason="non_finite", value=b'{"x": NaN}', key=None, offset=42))
    assert [s["topic"] for s in producer.sent] == ["events.dlt", "events.dlt"]
    assert [(s["value"], s["key"]) for s in producer.sent] == [
        (b"{oops", b"k-1"), (b'{"x": NaN}', None)]
    assert dlt.pending == 2
    assert dlt.flush() == [] and producer.flushes == 1 and dlt.pending == 0
    assert dlt.sent_by_reason == {"not_json": 1, "non_finite": 1}
    assert DeadLetterProducer(producer, suffix="-dead").topic_for("t") == "t-dead"


def test_null_value_is_sent_empty_and_flagged() -> None:
    producer = FakeProducer()
    dlt = DeadLetterProducer(producer)
    dlt.send(letter(reason="empty", value=None, key=None, timestamp_ms=None))
    dlt.send(letter(reason="empty", value=None, key=b"k"))
    first, second = producer.sent
    assert first["value"] == b"" and first["key"] is None
    assert dict(first["headers"])["driftline.source.null"] == b"key+value"
    assert dict(first["headers"])["driftline.source.timestamp"] == b""
    assert dict(second["headers"])["driftline.source.null"] == b"value"


def test_long_details_are_cut_on_a_character_boundary() -> None:
    detail = "é" * DETAIL_MAX_BYTES  # two bytes each
    value = dict(dead_letter_headers(letter(detail=detail)))["driftline.detail"]
    assert len(value) <= DETAIL_MAX_BYTES
    assert value.decode("utf-8") == "é" * (DETAIL_MAX_BYTES // 2)


def test_a_retriable_failure_makes_flush_raise() -> None:
    dlt = DeadLetterProducer(FakeProducer(fail_with=KafkaTimeoutError("broker gone")))
    dlt.send(letter())
    with pytest.raises(DeadLetterError, match=r"events/2@41 failed: .*broker gone"):
        dlt.flush()


def test_records_refused_for_what_they_are_are_returned_not_raised() -> None:
    refused = MessageSizeTooLargeError("too large for the broker")
    dlt = DeadLetterProducer(FakeProducer(fail_with=refused))
    dlt.send(letter())
    assert [(dl.offset, error) for dl, error in dlt.flush()] == [(41, refused)]
    unsendable = TypeError("not bytes")
    dlt = DeadLetterProducer(FakeProducer(refuse=unsendable))
    dlt.send(letter(offset=7))
    assert dlt.pending == 1
    assert [(dl.offset, error) for dl, error in dlt.flush()] == [(7, unsendable)]
    assert dlt.pending == 0 and dlt.sent_by_reason == {}


def size(value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return len(value) + len(key or b"") + sum(len(k) + len(v) + 10 for k, v in headers)


def test_a_record_over_the_limit_keeps_a_prefix_its_size_and_hash() -> None:
    original = bytes(range(256)) * 8000  # 2 MB
    value, key, headers = dead_letter_record(letter(value=original, key=b"k"), 1_000_000)
    assert size(value, key, headers) <= 1_000_000 - RECORD_OVERHEAD_BYTES
    assert len(value) > 990_000 and original.startswith(value) and key == b"k"
    named = dict(headers)
    assert named["driftline.truncated"] == str(len(original)).encode()
    assert named["driftline.source.sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert "driftline.key_truncated" not in named
    # a key too large on its own is cut too, with its own size and hash
    huge_key = b"k" * 600_000
    value, key, headers = dead_letter_record(letter(value=original, key=huge_key), 1_000_000)
    assert size(value, key, headers) <= 1_000_000 - RECORD_OVERHEAD_BYTES
    named = dict(headers)
    assert huge_key.startswith(key) and len(key) < len(huge_key)
    assert named["driftline.key_truncated"] == b"600000"
    assert named["driftline.source.key_sha256"] == hashlib.sha256(huge_key).hexdigest().encode()
    # under the limit: untouched
    assert dead_letter_record(letter(), 1_000_000) == (b"{oops", b"k-1",
                                                      dead_letter_headers(letter()))
    with pytest.raises(ValueError, match="max_record_bytes"):
        DeadLetterProducer(FakeProducer(), max_record_bytes=100)


def test_a_flush_timeout_raises() -> None:
    dlt = DeadLetterProducer(FakeProducer(flush_error=TimeoutError("flush timed out")))
    dlt.send(letter())
    with pytest.raises(DeadLetterError, match="flushing 1 dead letters failed"):
        dlt.flush(timeout=0.1)


def test_nothing_pending_flushes_nothing() -> None:
    producer = FakeProducer()
    assert DeadLetterProducer(producer).flush() == []
    assert producer.flushes == 0


def test_bad_suffix_is_refused() -> None:
    with pytest.raises(ValueError, match="suffix"):
        DeadLetterProducer(FakeProducer(), suffix="")


@pytest.mark.kafka
def test_dead_letters_reach_the_broker_with_their_headers(kafka_broker: TansuBroker) -> None:
    from driftline.executor.kafka_clients import ensure_topic, make_producer

    topic = unique("dlt-unit")
    assert ensure_topic(kafka_broker.bootstrap_servers, f"{topic}.dlt", 1)
    assert not ensure_topic(kafka_broker.bootstrap_servers, f"{topic}.dlt", 1)
    producer = make_producer(kafka_broker.bootstrap_servers, "dlt-test")
    try:
        dlt = DeadLetterProducer(producer)
        dlt.send(letter(topic=topic))
        dlt.send(letter(topic=topic, reason="empty", value=None, key=None, offset=42))
        assert dlt.flush(timeout=10) == []
    finally:
        producer.close()
    records = consume_all(kafka_broker.bootstrap_servers, f"{topic}.dlt", expected=2)
    assert [(r.value, r.key) for r in records] == [(b"{oops", b"k-1"), (b"", None)]
    first = dict(records[0].headers)
    assert first["driftline.reason"] == b"not_json"
    assert first["driftline.source.topic"] == topic.encode()
    assert (first["driftline.source.partition"], first["driftline.source.offset"]) == (b"2", b"41")
    assert dict(records[1].headers)["driftline.source.null"] == b"key+value"
