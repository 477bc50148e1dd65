"""One micro-batch from the consumer, past records the client cannot read.

:func:`poll_batch` polls until ``max_rows`` records or ``max_wait_ms``. kafka-python raises
``CorruptRecordError`` from ``poll`` when it cannot parse a record -- a record batch failing
its CRC, a header key that is not UTF-8 -- and does not move past it: every later ``poll``
raises again (kafka-python 3 even spins inside ``poll`` when called again at the same
position), so one such record would stall its partition, and every other one, forever. Here
the record's position is read from the consumer (:func:`unreadable_position`), logged at ERROR,
and the consumer seeks past it; the record comes back among its partition's records as an
:class:`executor.decoded.SkippedRecord` (``corrupt_record``), which the executor counts
(``driftline_records_skipped_total``) and notes in the dead-letter topic. kafka-python parses a
record batch from its start whatever the fetch offset, so a record after an unreadable one in
the same batch is unreadable too and is skipped the same way, one by one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import TopicPartition
from kafka.errors import CorruptRecordError

from driftline.executor.decoded import SkippedRecord

__all__ = ["poll_batch", "unreadable_position"]

log = logging.getLogger("driftline.kafka")


def unreadable_position(consumer: Any) -> tuple[TopicPartition, int] | None:
    """The partition and offset of the record the consumer's last ``poll`` could not parse,
    or None when it cannot be told.

    kafka-python keeps the records it is handing out, partition by partition, in its fetcher;
    after a parse error the partition in hand is the one that failed, at the offset it was to
    return next. No public API says so: the position is only trusted when it is the consumer's
    position of an assigned partition.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    in_hand = getattr(fetcher, "_next_partition_records", None)
    tp = getattr(in_hand, "topic_partition", None)
    offset = getattr(in_hand, "next_fetch_offset", None)
    if tp is None or not isinstance(offset, int) or tp not in consumer.assignment():
        return None
    try:
        if consumer.position(tp, timeout_ms=1000) != offset:
            return None
    except Exception:
        return None
    return tp, offset


def _skip_unreadable(consumer: Any, error: CorruptRecordError) -> SkippedRecord:
    found = unreadable_position(consumer)
    if found is None:
        raise error
    tp, offset = found
    log.error("%s/%d@%d cannot be read, skipping past it: %s", tp.topic, tp.partition, offset,
              error, extra={"topic": tp.topic, "partition": tp.partition, "offset": offset})
    consumer.seek(tp, offset + 1)
    return SkippedRecord(tp.topic, tp.partition, offset, "corrupt_record",
                         f"{type(error).__name__}: {error}"[:500])


def poll_batch(consumer: Any, *, max_rows: int, max_wait_ms: int, poll_timeout_ms: int,
               stop_event: threading.Event | None = None) -> dict[Any, list[Any]]:
    """Up to ``max_rows`` records (``ConsumerRecord`` or :class:`SkippedRecord`), by
    partition in offset order: the first ``poll`` waits up to ``poll_timeout_ms``, the next
    ones take what is already fetched until ``max_wait_ms`` have passed."""
    deadline = time.monotonic() + max_wait_ms / 1000.0
    timeout_ms = poll_timeout_ms
    merged: dict[Any, list[Any]] = {}
    n = 0
    while n < max_rows and not (stop_event is not None and stop_event.is_set()):
        try:
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=max_rows - n)
        except CorruptRecordError as error:
            skipped = _skip_unreadable(consumer, error)
            merged.setdefault(TopicPartition(skipped.topic, skipped.partition), []).append(
                skipped)
            n += 1
            continue
        if not polled:
            break
        for tp, records in polled.items():
            merged.setdefault(tp, []).extend(records)
            n += len(records)
        if deadline - time.monotonic() <= 0:
            break
        timeout_ms = 0
    return merged
