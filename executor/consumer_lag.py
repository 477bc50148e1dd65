"""Consumer lag per partition for the exporter, the recreated-topic case it reveals, and
whether an idle consumer is caught up.

The lag of a partition is its log end minus the next offset the executor will process. A
position *beyond* the log end means the topic was recreated (or a broker without persistent
storage restarted); the consumer is then moved per ``auto_offset_reset``. :func:`caught_up`
asks the brokers for the log ends -- a round trip that fails when they are gone -- so that an
idle executor is alive (``/healthz``) only while it is connected, assigned and has read
everything.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import TopicPartition

from driftline.executor.rebalance import PartitionStates

__all__ = ["caught_up", "export_lag"]

log = logging.getLogger("driftline.kafka")


def export_lag(consumer: Any, states: PartitionStates, exporter: Any, auto_offset_reset: str,
               *, refresh: bool) -> None:
    """Export the consumer lag of every assigned partition (``refresh``: also ask the broker
    for the end offsets of partitions not fetched yet) and drop that of revoked ones."""
    # The high watermark comes with every fetch response; ListOffsets is only asked for
    # partitions not fetched yet (and some brokers answer it with a stale offset).
    assigned = list(consumer.assignment())
    ends: dict[Any, int] = {tp: hw for tp in assigned
                            if (hw := consumer.highwater(tp)) is not None}
    ends_from_fetch = set(ends)
    missing = [tp for tp in assigned if tp not in ends]
    if refresh and missing:
        try:
            ends.update(consumer.end_offsets(missing, timeout_ms=2_000))
        except Exception as exc:
            log.debug("end offsets unavailable: %s", exc)
    for tp in assigned:
        end = ends.get(tp)
        position = states.next_offsets.get(tp)
        if end is None or position is None:
            continue
        if position > end and tp in ends_from_fetch:
            _position_beyond_end(consumer, states, tp, position, end, auto_offset_reset)
            continue
        exporter.set_consumer_lag(tp.topic, tp.partition, end - position)
    exporter.retain_consumer_lag((tp.topic, tp.partition) for tp in assigned)


def _position_beyond_end(consumer: Any, states: PartitionStates, tp: Any, position: int,
                         end: int, auto_offset_reset: str) -> None:
    # The log is shorter than what was already processed: the topic was recreated (or a
    # broker without persistent storage restarted). Kafka would answer OFFSET_OUT_OF_RANGE;
    # some brokers just return nothing, so apply auto_offset_reset here. Detector state is
    # kept: it summarises the stream so far, whatever the offsets.
    log.warning("%s/%d: position %d is beyond the log end %d (topic recreated?); "
                "resetting to the %s", tp.topic, tp.partition, position, end,
                auto_offset_reset)
    if auto_offset_reset == "earliest":
        consumer.seek_to_beginning(tp)
        states.next_offsets[tp] = 0
    else:
        consumer.seek_to_end(tp)
        states.next_offsets[tp] = end
    states.dirty.add(tp)


def caught_up(consumer: Any, states: PartitionStates, timeout_ms: int = 2_000) -> bool:
    """Whether the consumer has joined its group, reaches the brokers and has read up to the
    log end of every partition assigned to it (with none assigned: of none -- a standby
    replica is idle, not stuck)."""
    if states.n_assignments == 0 or states.closed:
        return False
    assigned = list(consumer.assignment())
    probe = assigned or [TopicPartition(states.events_topic, p)
                         for p in sorted(consumer.partitions_for_topic(states.events_topic)
                                         or ())]
    if not probe:
        return False
    try:
        ends = consumer.end_offsets(probe, timeout_ms=timeout_ms)
        return all(consumer.position(tp, timeout_ms=timeout_ms) >= ends[tp] for tp in assigned)
    except Exception as exc:
        log.debug("not caught up: %s", exc)
        return False
