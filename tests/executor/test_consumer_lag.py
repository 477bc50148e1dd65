"""export_lag: lag of the assigned partitions from the fetch high watermarks; revoked ones go."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka import TopicPartition

from driftline.executor.consumer_lag import export_lag
from driftline.executor.exporter import DriftExporter
from tests.executor.test_exporter import samples


class FakeConsumer:
    def __init__(self, highwaters: dict[TopicPartition, int]) -> None:
        self.highwaters = dict(highwaters)

    def assignment(self) -> set[TopicPartition]:
        return set(self.highwaters)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters[tp]

    def end_offsets(self, tps: list[TopicPartition], timeout_ms: int) -> dict[Any, int]:
        raise AssertionError("every partition has a high watermark")


def lags(exporter: DriftExporter) -> dict[str, float]:
    return {dict(labels)["partition"]: v for (name, labels), v in samples(exporter).items()
            if name == "driftline_consumer_lag_messages"}


def test_lag_of_assigned_partitions_and_revoked_ones_dropped() -> None:
    exporter = DriftExporter(feature_names=[])
    tp0, tp1 = TopicPartition("events", 0), TopicPartition("events", 1)
    consumer = FakeConsumer({tp0: 100, tp1: 50})
    states = SimpleNamespace(next_offsets={tp0: 40, tp1: 50})
    export_lag(consumer, states, exporter, "earliest", refresh=False)  # type: ignore[arg-type]
    assert lags(exporter) == {"0": 60.0, "1": 0.0}
    # Partition 0 is revoked (rebalance): its last lag must not stay exported.
    del consumer.highwaters[tp0], states.next_offsets[tp0]
    export_lag(consumer, states, exporter, "earliest", refresh=False)  # type: ignore[arg-type]
    assert lags(exporter) == {"1": 0.0}
