"""Kafka client construction shared by the executor, the replay producer and the benchmark.

The consumer settings come from the ``source`` section of the run config in one place
(:func:`consumer_settings`), so the benchmark's raw consumer and the executor's consumer fetch
with identical batch sizes. :func:`ensure_topic` creates a topic with a chosen partition count
when it does not exist yet. :func:`message_size_limit` reads the largest record the brokers
accept for some topics, where they say (``message.max.bytes`` of the brokers,
``max.message.bytes`` of the topics).

Example
-------
>>> from types import SimpleNamespace
>>> source = SimpleNamespace(
...     bootstrap_servers="127.0.0.1:9092", group_id="g", client_id="c", max_poll_records=500,
...     session_timeout_ms=6000, heartbeat_interval_ms=1000, max_poll_interval_ms=10000,
...     auto_offset_reset="earliest")
>>> settings = consumer_settings(source)
>>> settings["enable_auto_commit"], settings["max_poll_records"]
(False, 500)
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

__all__ = [
    "BOOTSTRAP_TIMEOUT_MS",
    "RECONNECT_BACKOFF_MAX_MS",
    "consumer_settings",
    "ensure_output_topics",
    "ensure_topic",
    "make_consumer",
    "make_producer",
    "message_size_limit",
    "partition_count",
    "producer_settings",
    "topic_partitions",
]

# kafka-python's own reconnect backoff (per connection); the executor adds its own capped
# backoff around whole sessions in executor.kafka_runner.
RECONNECT_BACKOFF_MAX_MS = 2000
# A client that cannot reach any broker gives up after this long, so the executor's own
# backoff (not a 30 s client default) paces the reconnection attempts.
BOOTSTRAP_TIMEOUT_MS = 5000
_FETCH_MAX_BYTES = 52_428_800
_MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024

log = logging.getLogger("driftline.kafka")


def _split_servers(bootstrap_servers: str | list[str]) -> list[str]:
    if isinstance(bootstrap_servers, str):
        return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    return list(bootstrap_servers)


def consumer_settings(source: Any, **overrides: Any) -> dict[str, Any]:
    """``KafkaConsumer`` keyword arguments from a kafka ``source`` config section.

    Offsets are committed by the executor after each batch (``enable_auto_commit=False``);
    fetch sizes are large enough that one poll can fill ``max_poll_records``.
    """
    settings: dict[str, Any] = {
        "bootstrap_servers": _split_servers(source.bootstrap_servers),
        "group_id": source.group_id,
        "client_id": source.client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": source.auto_offset_reset,
        "max_poll_records": source.max_poll_records,
        "session_timeout_ms": source.session_timeout_ms,
        "heartbeat_interval_ms": source.heartbeat_interval_ms,
        "max_poll_interval_ms": source.max_poll_interval_ms,
        "fetch_max_bytes": _FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": _MAX_PARTITION_FETCH_BYTES,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        "request_timeout_ms": max(30_000, source.session_timeout_ms + 5_000),
    }
    settings.update(overrides)
    return settings


def producer_settings(bootstrap_servers: str | list[str], client_id: str,
                      **overrides: Any) -> dict[str, Any]:
    """``KafkaProducer`` keyword arguments: acks from all in-sync replicas, small linger."""
    settings: dict[str, Any] = {
        "bootstrap_servers": _split_servers(bootstrap_servers),
        "client_id": client_id,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_block_ms": 10_000,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }
    settings.update(overrides)
    return settings


def make_consumer(source: Any, **overrides: Any) -> KafkaConsumer:
    """A group consumer for ``source`` (not yet subscribed)."""
    return KafkaConsumer(**consumer_settings(source, **overrides))


def make_producer(bootstrap_servers: str | list[str], client_id: str,
                  **overrides: Any) -> KafkaProducer:
    """A bytes producer (no serialisers) for the dead-letter, predictions and replay topics."""
    return KafkaProducer(**producer_settings(bootstrap_servers, client_id, **overrides))


def partition_count(consumer_or_producer: Any, topic: str) -> int | None:
    """Partitions of ``topic`` known to the client's metadata (None when unknown)."""
    parts = consumer_or_producer.partitions_for(topic) if hasattr(
        consumer_or_producer, "partitions_for") else None
    if parts is None and hasattr(consumer_or_producer, "partitions_for_topic"):
        parts = consumer_or_producer.partitions_for_topic(topic)
    return None if parts is None else len(parts)


def ensure_topic(bootstrap_servers: str | list[str], topic: str, partitions: int,
                 *, client_id: str = "driftline-admin") -> bool:
    """Create ``topic`` with ``partitions`` partitions unless it exists; True if created.

    An existing topic keeps its partition count (it is logged when it differs).
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    admin = KafkaAdminClient(bootstrap_servers=_split_servers(bootstrap_servers),
                             client_id=client_id, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        if topic in set(admin.list_topics()):
            existing = admin.describe_topics([topic])[0].get("partitions", [])
            if len(existing) != partitions:
                log.info("topic %s exists with %d partitions (wanted %d); keeping it",
                         topic, len(existing), partitions)
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions, 1)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()


def topic_partitions(bootstrap_servers: str | list[str], topic: str,
                     *, client_id: str = "driftline-admin") -> int:
    """Partitions of ``topic`` as the brokers describe it (1 when it does not exist yet)."""
    admin = KafkaAdminClient(bootstrap_servers=_split_servers(bootstrap_servers),
                             client_id=client_id, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        if topic not in set(admin.list_topics()):
            return 1
        return max(1, len(admin.describe_topics([topic])[0].get("partitions", [])))
    finally:
        admin.close()


def ensure_output_topics(config: Any) -> None:
    """Create the dead-letter topics (of the events and labels topics) and the predictions
    topic of a kafka run ``config`` if they do not exist (one partition each)."""
    source = config.source
    wanted = []
    if config.dead_letter.enabled:
        wanted.append(f"{source.topic}{config.dead_letter.topic_suffix}")
        if source.labels_topic:
            wanted.append(f"{source.labels_topic}{config.dead_letter.topic_suffix}")
    if config.outputs.predictions_topic:
        wanted.append(config.outputs.predictions_topic)
    for topic in wanted:
        ensure_topic(source.bootstrap_servers, topic, 1, client_id=f"{source.client_id}-admin")


def _config_values(described: Any, name: str) -> list[int]:
    """Every integer value of config ``name`` in a ``describe_configs`` answer."""
    values = []
    for resources in dict(described).values():
        for configs in dict(resources).values():
            entry = dict(configs).get(name)
            value = entry.get("value") if isinstance(entry, dict) else entry
            try:
                values.append(int(value))
            except (TypeError, ValueError):
                continue
    return values


def message_size_limit(bootstrap_servers: str | list[str], topics: list[str],
                       *, client_id: str = "driftline-admin") -> int | None:
    """The largest record (bytes) the brokers accept for every topic of ``topics``: the least
    of the brokers' ``message.max.bytes`` and the topics' ``max.message.bytes``; None when
    they expose neither (some brokers answer with no configs at all)."""
    admin = KafkaAdminClient(bootstrap_servers=_split_servers(bootstrap_servers),
                             client_id=client_id, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        limits: list[int] = []
        brokers = [str(b.get("broker_id", b.get("node_id")))
                   for b in admin.describe_cluster().get("brokers", [])]
        for resource_type, names, key in (
                (ConfigResourceType.BROKER, brokers, "message.max.bytes"),
                (ConfigResourceType.TOPIC, topics, "max.message.bytes")):
            if not names:
                continue
            try:
                described = admin.describe_configs(
                    [ConfigResource(resource_type, n) for n in names], config_filter="all")
            except Exception as exc:  # unsupported: the broker does not say
                log.debug("describe_configs of %s failed: %s", names, exc)
                continue
            limits += _config_values(described, key)
        return min(limits) if limits else None
    finally:
        admin.close()


def end_offsets(consumer: KafkaConsumer, partitions: list[TopicPartition],
                timeout_ms: int = 5_000) -> dict[TopicPartition, int]:
    """Log-end offsets of ``partitions`` (a network round trip)."""
    if not partitions:
        return {}
    return dict(consumer.end_offsets(partitions, timeout_ms=timeout_ms))
