"""ReplaySource and EncodedEventSource: the records a consumer would see, decodable by the
executor's decoder."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from driftline.dataloader.insurance import FEATURE_NAMES, load_month
from driftline.executor.decode import DecodedEvent, EventDecoder
from driftline.executor.file_replay import EncodedEvent
from driftline.executor.sources import EncodedEventSource, ReplaySource


def test_insurance_records_decode_back_to_the_data() -> None:
    data = load_month(3)
    decoder = EventDecoder(FEATURE_NAMES, n_classes=3)
    records = list(ReplaySource.insurance([3], topic="t"))
    assert [r.offset for r in records] == list(range(1500))
    events = [decoder.decode(r.value, key=r.key, topic=r.topic, partition=r.partition,
                             offset=r.offset, timestamp_ms=r.timestamp_ms) for r in records]
    assert all(isinstance(e, DecodedEvent) for e in events)
    np.testing.assert_array_equal(np.stack([e.features for e in events]), data.features)
    assert [e.label for e in events] == data.group.tolist()
    assert [e.event_id for e in events] == list(data.event_ids)
    assert {r.period for r in records} == {"m03"}


def test_partitions_keep_per_partition_offsets_and_stable_keys() -> None:
    records = list(ReplaySource.insurance([1], partitions=4))
    by_partition: dict[int, list[int]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(record.offset)
    assert sorted(by_partition) == [0, 1, 2, 3]
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())
    again = list(ReplaySource.insurance([1], partitions=4))
    assert [r.partition for r in again] == [r.partition for r in records]


def test_bad_records_are_inserted_in_place_including_at_the_end() -> None:
    source = ReplaySource(["a", "b"], np.zeros((2, 1)), ["x"], np.array([1.0, 2.0]),
                          [None, None], ["p", "p"], bad_records=[(1, b"bad"), (2, b"last")])
    values = [r.value for r in source]
    assert values[1] == b"bad" and values[3] == b"last" and len(values) == len(source) == 4


def test_rate_spaces_the_events(monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.executor.sources as sources

    clock = {"now": 50.0}
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(sources.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(sources.time, "sleep", sleep)
    source = ReplaySource([f"e{i}" for i in range(21)], np.zeros((21, 1)), ["x"],
                          np.arange(21.0), [None] * 21, ["p"] * 21, rate=100.0)
    assert len(list(source)) == 21
    assert clock["now"] - 50.0 == pytest.approx(0.2)   # event i leaves at i / rate
    assert len(sleeps) == 20


def test_encoded_events_keep_their_bytes_keys_times_and_periods() -> None:
    events = [EncodedEvent(f"e{i}", f'{{"i":{i}}}'.encode(), 10.0 + i / 4, f"p{i // 5}")
              for i in range(12)]
    records = list(EncodedEventSource(events, topic="mine", partitions=3))
    assert [r.value for r in records] == [e.value for e in events]
    assert [r.key for r in records] == [e.event_id.encode() for e in events]
    assert [r.timestamp_ms for r in records] == [int(e.timestamp * 1000) for e in events]
    assert [r.period for r in records] == [e.period for e in events]
    for partition in range(3):
        mine = [r for r in records if r.partition == partition]
        assert [r.offset for r in mine] == list(range(len(mine)))
        assert all(zlib.crc32(r.key) % 3 == partition for r in mine)


def test_encoded_events_are_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.executor.sources as sources

    clock = {"now": 5.0}
    monkeypatch.setattr(sources.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(sources.time, "sleep",
                        lambda seconds: clock.__setitem__("now", clock["now"] + seconds))
    events = [EncodedEvent(f"e{i}", b"{}", 0.0, "p") for i in range(11)]
    assert len(list(EncodedEventSource(events, rate=50.0))) == 11
    assert clock["now"] - 5.0 == pytest.approx(0.2)
    with pytest.raises(ValueError, match="rate"):
        EncodedEventSource(events, rate=0.0)
    with pytest.raises(ValueError, match="partitions"):
        EncodedEventSource(events, partitions=0)
