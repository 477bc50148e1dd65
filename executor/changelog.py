"""Detector state in Kafka: a compacted changelog topic per consumer group.

With ``checkpoint.store: kafka`` the executor keeps each partition's checkpoint -- the pipeline
state and the offset it belongs to -- as a record of a compacted topic,
``<group_id>.driftline-state`` unless ``checkpoint.changelog_topic`` names one
(:func:`changelog_topic`), instead of a file. Any replica of the group, on any machine, restores
a partition it is assigned from the partition's latest record: Kafka is the only shared thing.

Records
    One per input partition, keyed ``<topic>/<partition>``, in changelog partition
    ``partition % n`` (the topic is created with as many partitions as the events topic,
    ``cleanup.policy=compact`` and 16 MiB segments when missing), its value in the format of
    :mod:`executor.state_record`. A state larger than the broker accepts in one record
    (``message.max.bytes`` / ``max.message.bytes``, or ``max_record_bytes``) is written as
    chunks keyed ``<topic>/<partition>#<slot>.<i>``, then the header record naming the chunks'
    slot and a random generation. The two slots alternate, so the chunks of the last complete
    checkpoint survive compaction until the next one is complete: a writer that dies half-way
    leaves the previous checkpoint readable.

Writes
    :meth:`ChangelogStore.save_many` sends a checkpoint's records and waits until the brokers
    acknowledged every one (``acks=all``); only then does the executor commit the offsets
    (:mod:`executor.checkpoint_commits`). A refused or timed-out write raises: the store is
    failing, consumption pauses and the write is retried.

Restores
    :meth:`ChangelogStore.load_many` reads the changelog partitions holding the assigned
    partitions from the beginning until the position reached the end offsets *and* polls came
    back empty (Tansu's ListOffsets can trail the log end), keeping the latest record per key.
    A changelog that cannot be read within ``restore_timeout_s`` (``unreachable``), a damaged,
    cut or foreign-format record (``corrupt``, ``truncated``, ``incompatible_version``) is
    logged at WARNING and reported to ``on_restore_failure``; the partition starts cold.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from driftline.configs.kafka_names import MAX_TOPIC_LENGTH
from driftline.executor.kafka_clients import (
    BOOTSTRAP_TIMEOUT_MS,
    message_size_limit,
    producer_settings,
    topic_partitions,
)
from driftline.executor.state_record import (
    Checkpoint,
    RestoreFailure,
    decode_checkpoint,
    encode_record,
    encode_state,
    read_record,
)

__all__ = ["CHANGELOG_SUFFIX", "TOPIC_CONFIG", "ChangelogStore", "changelog_topic"]

CHANGELOG_SUFFIX = ".driftline-state"
#: a record's room for its key, header line and Kafka's record and batch overhead
_RECORD_OVERHEAD = 1024
_DEFAULT_RECORD_BYTES = 1_000_000
_ACK_TIMEOUT_S = 30.0
#: compacted; small segments, since compaction never touches the active segment and a restore
#: reads all of it
TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 * 1024 * 1024)}
_IDLE_POLLS = 2

log = logging.getLogger("driftline.checkpoint")


def changelog_topic(group_id: str, configured: str | None = None) -> str:
    """The changelog topic of consumer group ``group_id``: ``configured`` if given, else the
    group id (characters Kafka refuses in topic names replaced by ``_``) plus
    :data:`CHANGELOG_SUFFIX`.

    >>> changelog_topic("fraud scoring/eu")
    'fraud_scoring_eu.driftline-state'
    """
    if configured:
        return configured
    base = re.sub(r"[^A-Za-z0-9._-]", "_", group_id) or "driftline"
    return base[: MAX_TOPIC_LENGTH - len(CHANGELOG_SUFFIX)] + CHANGELOG_SUFFIX


def _key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class ChangelogStore:
    """A :class:`executor.checkpoint.StateStore` in a compacted Kafka topic (see the module
    docstring).

    Parameters
    ----------
    bootstrap_servers : str or list of str
    topic : str
        The changelog topic (:func:`changelog_topic`).
    client_id : str
        Prefix of the store's clients' ids.
    restore_timeout_s : float
        The longest read of the changelog on assignment.
    max_record_bytes : int, optional
        The largest record to write; default the brokers' limit for the topic.
    on_restore_failure : callable, optional
        Called with the reason of each partition whose state could not be restored.
    """

    def __init__(self, bootstrap_servers: str | list[str], topic: str, *,
                 client_id: str = "driftline", restore_timeout_s: float = 30.0,
                 max_record_bytes: int | None = None,
                 on_restore_failure: Callable[[str], None] | None = None) -> None:
        if not restore_timeout_s > 0:
            raise ValueError(f"restore_timeout_s must be > 0, got {restore_timeout_s}")
        if max_record_bytes is not None and max_record_bytes < 2 * _RECORD_OVERHEAD:
            raise ValueError(f"max_record_bytes must be >= {2 * _RECORD_OVERHEAD}, got "
                             f"{max_record_bytes}")
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.client_id = client_id
        self.restore_timeout_s = float(restore_timeout_s)
        self.max_record_bytes = max_record_bytes
        self.on_restore_failure = on_restore_failure
        self._producer: KafkaProducer | None = None
        self._partitions: int | None = None
        self._slots: dict[str, int] = {}  # the chunk slot of each key's last complete write

    # -- the topic --------------------------------------------------------------------------

    def ensure_topic(self, partitions: int) -> bool:
        """Create the changelog topic (``partitions`` partitions, compacted) unless it exists;
        True if created. Learns the record size limit."""
        admin = KafkaAdminClient(bootstrap_servers=self._servers(),
                                 client_id=f"{self.client_id}-admin",
                                 bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
        try:
            created = False
            if self.topic not in set(admin.list_topics()):
                try:
                    admin.create_topics([NewTopic(self.topic, max(1, partitions), 1,
                                                  topic_configs=dict(TOPIC_CONFIG))])
                    created = True
                    log.info("created the changelog topic %s (%d partitions, compacted)",
                             self.topic, max(1, partitions))
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()
        if self.max_record_bytes is None:
            limit = message_size_limit(self.bootstrap_servers, [self.topic],
                                       client_id=f"{self.client_id}-admin")
            self.max_record_bytes = max(2 * _RECORD_OVERHEAD, limit or _DEFAULT_RECORD_BYTES)
        return created

    def prepare(self, source: Any) -> None:
        """:meth:`ensure_topic` with as many partitions as ``source.topic`` has. A failure
        is logged, not raised: restores then fail (``unreachable``: the partitions start cold)
        and checkpoint writes fail (consumption pauses until they succeed)."""
        try:
            self.ensure_topic(topic_partitions(source.bootstrap_servers, source.topic,
                                               client_id=f"{self.client_id}-admin"))
        except Exception as exc:
            log.warning("changelog topic %s unavailable: %s: %s", self.topic,
                        type(exc).__name__, exc)

    def _servers(self) -> list[str]:
        if isinstance(self.bootstrap_servers, str):
            return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return list(self.bootstrap_servers)

    def _partition_count(self, client: Any) -> int:
        if self._partitions is None:
            parts = client.partitions_for(self.topic) if isinstance(client, KafkaProducer) \
                else client.partitions_for_topic(self.topic)
            if not parts:
                raise RuntimeError(f"changelog topic {self.topic} does not exist")
            self._partitions = len(parts)
        return self._partitions

    # -- writes -----------------------------------------------------------------------------

    def _producer_now(self) -> KafkaProducer:
        if self._producer is None:
            limit = self.max_record_bytes or _DEFAULT_RECORD_BYTES
            self._producer = KafkaProducer(**producer_settings(
                self.bootstrap_servers, f"{self.client_id}-state", linger_ms=0,
                max_request_size=limit + _RECORD_OVERHEAD))
        return self._producer

    def _records(self, topic: str, partition: int, offset_next: int, payload: bytes,
                 ) -> list[tuple[str, bytes]]:
        key = _key(topic, partition)
        room = (self.max_record_bytes or _DEFAULT_RECORD_BYTES) - _RECORD_OVERHEAD
        if len(payload) <= room:
            return [(key, encode_record(topic, partition, offset_next, payload))]
        slot = 1 - self._slots.get(key, 1)
        generation = uuid.uuid4().hex
        pieces = [payload[i : i + room] for i in range(0, len(payload), room)]
        records = [(f"{key}#{slot}.{i}", generation.encode() + b"\n" + piece)
                   for i, piece in enumerate(pieces)]
        chunks = {"slot": slot, "count": len(pieces), "generation": generation}
        records.append((key, encode_record(topic, partition, offset_next, payload,
                                           chunks=chunks)))
        return records

    def save_many(self, checkpoints: Iterable[tuple[str, int, int, bytes]]) -> None:
        """Send the records of ``(topic, partition, offset_next, payload)`` checkpoints and
        wait for the brokers' acknowledgement of every one (raises if one is refused)."""
        producer = self._producer_now()
        n = self._partition_count(producer)
        futures = []
        slots: dict[str, int] = {}
        for topic, partition, offset, payload in checkpoints:
            for key, value in self._records(topic, partition, offset, payload):
                futures.append(producer.send(self.topic, key=key.encode(), value=value,
                                             partition=partition % n))
                if "#" in key:
                    slots[key.partition("#")[0]] = int(key.partition("#")[2].partition(".")[0])
        producer.flush(timeout=_ACK_TIMEOUT_S)
        for future in futures:
            future.get(timeout=_ACK_TIMEOUT_S)
        self._slots.update(slots)

    def save_payload(self, topic: str, partition: int, offset_next: int,
                     payload: bytes) -> None:
        """One encoded checkpoint (:meth:`save_many`)."""
        self.save_many([(topic, partition, offset_next, payload)])

    def save(self, topic: str, partition: int, offset_next: int,
             pipeline_state: dict[str, Any]) -> None:
        """One pipeline state (:meth:`save_many`)."""
        self.save_payload(topic, partition, offset_next, encode_state(pipeline_state))

    def delete(self, topic: str, partition: int) -> None:
        """Write a tombstone for ``topic``/``partition`` (compaction removes its record)."""
        producer = self._producer_now()
        n = self._partition_count(producer)
        producer.send(self.topic, key=_key(topic, partition).encode(), value=None,
                      partition=partition % n).get(timeout=_ACK_TIMEOUT_S)

    # -- restores ---------------------------------------------------------------------------

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        """The latest checkpoint of ``topic``/``partition`` (:meth:`load_many`)."""
        return self.load_many([(topic, partition)])[(topic, partition)]

    def load_many(self, partitions: Iterable[tuple[str, int]],
                  ) -> dict[tuple[str, int], Checkpoint | None]:
        """The latest checkpoint of each ``(topic, partition)``; None where there is none or
        it is unusable (logged, reported to ``on_restore_failure``)."""
        wanted = list(dict.fromkeys(partitions))
        if not wanted:
            return {}
        try:
            latest = self._read_latest({p for _, p in wanted})
        except Exception as exc:
            for topic, partition in wanted:
                self._failed(topic, partition, RestoreFailure(
                    "unreachable", f"changelog {self.topic} unreadable: "
                    f"{type(exc).__name__}: {exc}"))
            return dict.fromkeys(wanted)
        found: dict[tuple[str, int], Checkpoint | None] = {}
        for topic, partition in wanted:
            key = _key(topic, partition)
            value = latest.get(key)
            checkpoint = None if value is None else self._decode(topic, partition, value,
                                                                 latest)
            if isinstance(checkpoint, RestoreFailure):
                self._failed(topic, partition, checkpoint)
                checkpoint = None
            found[(topic, partition)] = checkpoint
        return found

    def _read_latest(self, input_partitions: set[int]) -> dict[str, bytes | None]:
        """The latest value of every key in the changelog partitions holding
        ``input_partitions`` (None: a tombstone)."""
        consumer = KafkaConsumer(
            bootstrap_servers=self._servers(), client_id=f"{self.client_id}-restore",
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=max(4 * 1024 * 1024, 2 * (self.max_record_bytes or 0)),
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
        try:
            deadline = time.monotonic() + self.restore_timeout_s
            n = None
            while n is None:
                parts = consumer.partitions_for_topic(self.topic)
                if parts:
                    n = len(parts)
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"topic {self.topic} not found")
                else:
                    consumer.topics()
                    time.sleep(0.1)
            self._partitions = n
            tps = [TopicPartition(self.topic, p) for p in sorted({q % n
                                                                 for q in input_partitions})]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps, timeout_ms=int(self.restore_timeout_s * 1000))
            latest: dict[str, bytes | None] = {}
            idle = 0
            while True:
                polled = consumer.poll(timeout_ms=200)
                for records in polled.values():
                    for record in records:
                        if record.key is not None:
                            latest[record.key.decode("utf-8", "replace")] = record.value
                idle = 0 if polled else idle + 1
                if idle >= _IDLE_POLLS and all(consumer.position(tp) >= ends[tp]
                                               for tp in tps):
                    return latest
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not read to its end within {self.restore_timeout_s:g} s")
        finally:
            consumer.close()

    def _decode(self, topic: str, partition: int, value: bytes,
                latest: dict[str, bytes | None]) -> Checkpoint | RestoreFailure:
        read = read_record(value, topic, partition)
        if isinstance(read, RestoreFailure):
            return read
        header, payload = read
        chunks = header.get("chunks")
        if chunks is not None:
            assembled = self._assemble(_key(topic, partition), chunks, latest)
            if isinstance(assembled, RestoreFailure):
                return assembled
            payload = assembled
        return decode_checkpoint(header, payload)

    def _assemble(self, key: str, chunks: Any, latest: dict[str, bytes | None],
                  ) -> bytes | RestoreFailure:
        try:
            slot, count, generation = int(chunks["slot"]), int(chunks["count"]), \
                str(chunks["generation"]).encode()
        except (TypeError, KeyError, ValueError):
            return RestoreFailure("corrupt", f"bad chunk reference {chunks!r}")
        pieces = []
        for i in range(count):
            value = latest.get(f"{key}#{slot}.{i}")
            head, _, piece = (value or b"").partition(b"\n")
            if head != generation:
                return RestoreFailure("truncated", f"chunk {i} of {count} is missing")
            pieces.append(piece)
        self._slots[key] = slot
        return b"".join(pieces)

    def _failed(self, topic: str, partition: int, failure: RestoreFailure) -> None:
        log.warning("state of %s/%d in %s not restored, starting cold (%s): %s", topic,
                    partition, self.topic, failure.reason, failure.detail)
        if self.on_restore_failure is not None:
            self.on_restore_failure(failure.reason)

    def close(self) -> None:
        """Close the producer (after the writes sent so far)."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.close(timeout=5)


def make_state_store(config: Any, on_restore_failure: Callable[[str], None] | None = None,
                     ) -> Any:
    """The state store a run ``config`` asks for: the checkpoint directory, or with
    ``checkpoint.store: kafka`` the group's changelog (topic created by
    :meth:`ChangelogStore.ensure_topic`)."""
    from driftline.executor.checkpoint import CheckpointStore

    checkpoint, source = config.checkpoint, config.source
    if checkpoint.store == "directory":
        return CheckpointStore(checkpoint.dir, on_restore_failure=on_restore_failure)
    return ChangelogStore(source.bootstrap_servers,
                          changelog_topic(source.group_id, checkpoint.changelog_topic),
                          client_id=source.client_id,
                          restore_timeout_s=checkpoint.restore_timeout_s,
                          on_restore_failure=on_restore_failure)
