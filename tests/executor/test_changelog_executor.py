"""The executor on the changelog store (``checkpoint.store: kafka``) on a real broker: damaged
and foreign states in the changelog start their partitions cold with
``driftline_state_restore_failures_total{reason}`` -- every event still processed, no crash --
and the states it writes back restore a later executor warm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from driftline.executor.changelog import ChangelogStore, changelog_topic
from driftline.executor.decode import encode_event
from driftline.executor.kafka_clients import ensure_topic
from driftline.executor.state_record import encode_record
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import (
    executor_config,
    produce_to,
    running,
    unique,
    wait_until,
)
from tests.executor.malformed import GOOD
from tests.executor.test_exporter import value

pytestmark = pytest.mark.kafka


def events(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(f"{prefix}-{i}".encode(), encode_event(f"{prefix}-{i}", GOOD)) for i in range(n)]


def test_damaged_states_start_cold_and_written_states_restore_warm(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("changelog-exec"), unique("group")
    ensure_topic(bootstrap, topic, 2)
    state_topic = changelog_topic(group)
    ChangelogStore(bootstrap, state_topic).ensure_topic(2)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    # partition 0: a record cut short (its offset, 40, must not be used); partition 1: a whole
    # record of a pipeline state this version does not know (from the partition's start)
    cut = encode_record(topic, 0, 40, b'{"version": 1, "banks": {}}')[:-6]
    foreign = encode_record(topic, 1, 0, b'{"version": -7}')
    producer.send(state_topic, key=f"{topic}/0".encode(), value=cut, partition=0).get(10)
    producer.send(state_topic, key=f"{topic}/1".encode(), value=foreign, partition=1).get(10)
    producer.close()
    produce_to(bootstrap, topic, events("a", 120), 2)

    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic,
                             group, max_rows=50)
    config.checkpoint.store = "kafka"
    with running(config, kafka_model) as executor:
        wait_until(lambda: executor.summary.n_processed >= 120, 120, "all events processed")
        assert value(executor.exporter, "driftline_state_restore_failures_total",
                     reason="truncated") == 1
        assert value(executor.exporter, "driftline_state_restore_failures_total",
                     reason="incompatible_state") == 1
        assert value(executor.exporter, "driftline_state_restore_failures_total",
                     reason="unreachable") == 0
        assert executor.states.restored == {0: False, 1: False}
    assert executor.summary.n_processed == 120  # from offset 0: nothing skipped
    assert executor.n_session_failures == 0

    # the executor wrote both partitions' states on stop: an executor of a group with no
    # committed offsets but reading this changelog continues from them, not from the start
    produce_to(bootstrap, topic, events("b", 20), 2)
    config2 = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic,
                              unique("other-group"), max_rows=50)
    config2.checkpoint.store = "kafka"
    config2.checkpoint.changelog_topic = state_topic
    with running(config2, kafka_model) as second:
        wait_until(lambda: second.summary.n_processed >= 20, 120, "the new events processed")
        assert second.states.restored == {0: True, 1: True}
        assert value(second.exporter, "driftline_state_restore_failures_total",
                     reason="truncated") == 0
    assert second.summary.n_processed == 20


def test_an_unreachable_changelog_starts_cold_and_loses_no_event(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("changelog-gone"), unique("group")
    ensure_topic(bootstrap, topic, 2)
    produce_to(bootstrap, topic, events("c", 80), 2)
    create = ChangelogStore.ensure_topic

    def refused(self: ChangelogStore, partitions: int) -> bool:
        raise PermissionError("creating topics is not allowed")  # e.g. an ACL

    monkeypatch.setattr(ChangelogStore, "ensure_topic", refused)
    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic,
                             group, max_rows=50)
    config.checkpoint.store = "kafka"
    config.checkpoint.changelog_topic = f"{group}.missing-state"
    config.checkpoint.restore_timeout_s = 3.0
    with running(config, kafka_model) as executor:
        wait_until(lambda: value(executor.exporter, "driftline_state_restore_failures_total",
                                 reason="unreachable") == 2, 120, "both partitions cold")
        # the topic appears (an operator creates it): checkpoints are written, every event
        # processed, the process never restarted its session over it
        create(executor.store, 2)
        wait_until(lambda: executor.summary.n_processed >= 80, 120, "all events processed")
        assert executor.n_session_failures == 0
    stored = ChangelogStore(bootstrap, config.checkpoint.changelog_topic).load_many(
        [(topic, 0), (topic, 1)])
    assert {k: v.offset for k, v in stored.items() if v is not None} == {
        (topic, 0): 40, (topic, 1): 40}
