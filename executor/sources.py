"""In-process event sources: replay the insurance months, a drift scenario or a data file as
encoded records.

:class:`ReplaySource` yields :class:`SourceRecord` values carrying the same bytes a producer
would put on Kafka (:func:`executor.decode.encode_event`) with synthetic topic, partition and
offset, so the executor's decode path is the one used in production. Each record also carries a
``period`` label (``"m07"`` for insurance month 7, ``"rows 0-999"``-style blocks for scenarios)
for the per-period summary. :class:`EncodedEventSource` does the same for events that are
already encoded (:class:`executor.file_replay.FileReplay`: a user's file under their schema).

Example
-------
>>> source = ReplaySource.insurance([1], topic="demo")
>>> record = next(iter(source))
>>> record.topic, record.partition, record.offset, record.period
('demo', 0, 0, 'm01')
>>> len(source)
1500
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.executor.decode import encode_event

__all__ = ["EncodedEventSource", "ReplaySource", "SourceRecord"]


@dataclass(frozen=True)
class SourceRecord:
    """One raw record as a consumer would see it."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    period: str


class ReplaySource:
    """Encoded events replayed in order (see the module docstring).

    Parameters
    ----------
    event_ids, features, feature_names, timestamps, labels, periods
        The rows to replay; ``labels`` entries may be ``None`` (no inline label).
    topic, partitions
        Synthetic topic; rows go to partition ``crc32(event_id) % partitions``, offsets count
        per partition.
    rate
        Events per second (``None``: as fast as possible).
    bad_records
        ``(position, raw bytes)`` records inserted before the row at ``position`` (poison
        messages, to exercise the dead-letter path).
    """

    def __init__(self, event_ids: Sequence[str], features: np.ndarray,
                 feature_names: Sequence[str], timestamps: np.ndarray,
                 labels: Sequence[int | None], periods: Sequence[str], *, topic: str = "replay",
                 partitions: int = 1, rate: float | None = None,
                 bad_records: Sequence[tuple[int, bytes]] = ()) -> None:
        n = len(event_ids)
        if not (features.shape[0] == len(timestamps) == len(labels) == len(periods) == n):
            raise ValueError("event_ids, features, timestamps, labels and periods must have the "
                             "same length")
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be > 0 or None, got {rate}")
        self.event_ids = list(event_ids)
        self.features = np.asarray(features, dtype=np.float64)
        self.feature_names = [str(f) for f in feature_names]
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.labels = list(labels)
        self.periods = list(periods)
        self.topic = topic
        self.partitions = int(partitions)
        self.rate = rate
        self.bad_records = sorted(bad_records, key=lambda item: item[0])

    @classmethod
    def insurance(cls, months: Sequence[int], *, topic: str = "replay", partitions: int = 1,
                  rate: float | None = None, with_labels: bool = True,
                  bad_records: Sequence[tuple[int, bytes]] = (),
                  data_dir: str | None = None) -> ReplaySource:
        """The insurance ``months`` in order, with ``group`` as inline label."""
        from driftline.dataloader.insurance import load_months

        data = load_months(months, data_dir)
        labels: list[int | None] = ([int(g) for g in data.group] if with_labels
                                    else [None] * len(data))
        periods = [f"m{int(m):02d}" for m in data.month]
        return cls(data.event_ids, data.features, data.feature_names, data.timestamps, labels,
                   periods, topic=topic, partitions=partitions, rate=rate,
                   bad_records=bad_records)

    @classmethod
    def scenario(cls, name: str, *, seed: int, n_rows: int, feature_names: Sequence[str],
                 means: np.ndarray, stds: np.ndarray, topic: str = "replay",
                 partitions: int = 1, rate: float | None = None,
                 period_rows: int = 1000) -> ReplaySource:
        """A tabular scenario mapped onto the model's features: column ``j`` of the scenario
        (standardised) becomes ``means[j] + stds[j] * x``; no labels."""
        from driftline.dataloader.scenarios import make_tabular_scenario

        scenario = make_tabular_scenario(name, n_rows=n_rows, seed=seed)
        rows = scenario.rows
        if rows.shape[1] < len(feature_names):
            raise ValueError(f"scenario {name!r} has {rows.shape[1]} columns, the model needs "
                             f"{len(feature_names)}")
        rows = rows[:, : len(feature_names)]
        features = np.asarray(means) + np.asarray(stds) * rows
        ids = [f"{name}-{seed}-{i:07d}" for i in range(n_rows)]
        periods = [f"rows {i // period_rows * period_rows}-"
                   f"{min(n_rows, (i // period_rows + 1) * period_rows) - 1}"
                   for i in range(n_rows)]
        start = time.time()
        return cls(ids, features, feature_names, start + np.arange(n_rows, dtype=np.float64),
                   [None] * n_rows, periods, topic=topic, partitions=partitions, rate=rate)

    def __len__(self) -> int:
        return len(self.event_ids) + len(self.bad_records)

    def __iter__(self) -> Iterator[SourceRecord]:
        next_offset = [0] * self.partitions
        bad = iter(self.bad_records)
        pending_bad = next(bad, None)
        started = time.monotonic()
        for i, event_id in enumerate(self.event_ids):
            period = self.periods[i]
            while pending_bad is not None and pending_bad[0] <= i:
                key = f"poison-{pending_bad[0]}".encode()
                partition = zlib.crc32(key) % self.partitions
                yield SourceRecord(pending_bad[1], key, self.topic, partition,
                                   next_offset[partition], int(self.timestamps[i] * 1000), period)
                next_offset[partition] += 1
                pending_bad = next(bad, None)
            if self.rate is not None:
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            features = dict(zip(self.feature_names, self.features[i].tolist(), strict=True))
            value = encode_event(event_id, features, self.labels[i], float(self.timestamps[i]))
            key = event_id.encode()
            partition = zlib.crc32(key) % self.partitions
            yield SourceRecord(value, key, self.topic, partition, next_offset[partition],
                               int(self.timestamps[i] * 1000), period)
            next_offset[partition] += 1
        while pending_bad is not None:
            key = f"poison-{pending_bad[0]}".encode()
            partition = zlib.crc32(key) % self.partitions
            yield SourceRecord(pending_bad[1], key, self.topic, partition,
                               next_offset[partition], None, self.periods[-1] if self.periods
                               else "")
            next_offset[partition] += 1
            pending_bad = next(bad, None)


class EncodedEventSource:
    """Records of already encoded events (``event_id``, ``value``, ``timestamp``, ``period``
    attributes, as :class:`executor.file_replay.EncodedEvent`), partitioned and paced like
    :class:`ReplaySource`.

    Example
    -------
    >>> from driftline.executor.file_replay import EncodedEvent
    >>> events = [EncodedEvent(f"e{i}", b"{}", 1.5, "rows 0-9") for i in range(6)]
    >>> [(r.partition, r.offset) for r in EncodedEventSource(events, partitions=2)][3:]
    [(1, 3), (0, 0), (0, 1)]
    """

    def __init__(self, events: Iterable[Any], *, topic: str = "replay", partitions: int = 1,
                 rate: float | None = None) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be > 0 or None, got {rate}")
        self.events = events
        self.topic = topic
        self.partitions = int(partitions)
        self.rate = rate

    def __len__(self) -> int:
        return len(self.events)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[SourceRecord]:
        next_offset = [0] * self.partitions
        started = time.monotonic()
        events = self.events.events() if hasattr(self.events, "events") else self.events
        for i, event in enumerate(events):
            if self.rate is not None:
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            key = event.event_id.encode()
            partition = zlib.crc32(key) % self.partitions
            yield SourceRecord(event.value, key, self.topic, partition, next_offset[partition],
                               int(event.timestamp * 1000), event.period)
            next_offset[partition] += 1
