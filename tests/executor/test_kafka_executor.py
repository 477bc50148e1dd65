"""``driftline run`` on a Kafka source, as a process against the real (Tansu) broker.

* end to end: insurance months replayed into a topic -> executor -> drift flagged on the drifting
  features and not on the stable ones, every event predicted once, lag 0, then SIGTERM: the last
  batch is checkpointed and committed and the process exits 0;
* kill -9 mid-stream, then restart: every event processed at least once and the detector state
  continues from the checkpoint (its counters equal the partition sizes: nothing reset, nothing
  counted twice).
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftline.dataloader.insurance import DRIFTING_FEATURES, FEATURE_NAMES, STABLE_FEATURES
from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.replay import ReplayEvent, insurance_events, replay
from tests.conftest import TansuBroker, free_port
from tests.executor.kafka_helpers import (
    ExecutorProcess,
    consume_all,
    metric,
    partition_sizes,
    run_config,
    scrape,
    unique,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.kafka


def _replay_months(broker: TansuBroker, topic: str, months: list[int],
                   partitions: int) -> list[str]:
    total, events = insurance_events(months)
    ids: list[str] = []

    def tracked() -> Iterator[ReplayEvent]:
        for event in events:
            ids.append(event.event_id)
            yield event

    summary = replay(tracked(), bootstrap_servers=broker.bootstrap_servers, topic=topic,
                     partitions=partitions, progress=False, total=total)
    assert summary.n_sent == total == len(ids)
    return ids


def _committed(broker: TansuBroker, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close()


def test_end_to_end_drift_on_drifting_features_then_graceful_sigterm(
        kafka_broker: TansuBroker, artifacts_dir: Path, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    topic, group = unique("e2e"), unique("group")
    predictions = f"{topic}.predictions"
    ids = _replay_months(kafka_broker, topic, list(range(1, 13)), partitions=2)
    port = free_port()
    config = write_config(tmp_path / "run.yaml", run_config(
        tmp_path, bootstrap=kafka_broker.bootstrap_servers, topic=topic, group=group,
        artifacts_dir=artifacts_dir, checkpoint_dir=checkpoint_dir, metrics_port=port,
        predictions_topic=predictions))
    executor = ExecutorProcess(config, tmp_path, "executor")
    try:
        def finished() -> dict | None:
            s = scrape(port)
            lags = [v for (n, _), v in s.items() if n == "driftline_consumer_lag_messages"]
            done = (metric(s, "driftline_events_processed_total") >= len(ids)
                    and len(lags) == 2 and not any(lags))
            return s if done else None

        samples = wait_until(finished, 180, "all events processed and the lag at 0")
        assert executor.alive(), executor.logs()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as health:
            assert health.status == 200
    finally:
        status = executor.stop()
    assert status == 0, executor.logs()
    assert metric(samples, "driftline_events_processed_total") == len(ids)
    assert metric(samples, "driftline_events_dead_lettered_total") == 0
    detections = {name: metric(samples, "driftline_drift_detections_total", stream="inputs",
                               feature=name) for name in FEATURE_NAMES}
    assert all(detections[name] > 0 for name in DRIFTING_FEATURES), detections
    assert all(detections[name] == 0 for name in STABLE_FEATURES), detections

    # Every event got exactly one prediction (no failure happened, so no redelivery).
    records = consume_all(kafka_broker.bootstrap_servers, predictions, expected=len(ids))
    predicted = Counter(json.loads(r.value)["event_id"] for r in records)
    assert set(predicted) == set(ids) and set(predicted.values()) == {1}

    # SIGTERM: the final positions are both checkpointed and committed.
    ends = partition_sizes(kafka_broker.bootstrap_servers, topic, len(ids))
    assert _committed(kafka_broker, group, topic, 2) == ends
    store = CheckpointStore(checkpoint_dir)
    for partition, end in ends.items():
        checkpoint = store.load(topic, partition)
        assert checkpoint is not None and checkpoint.offset == end
        assert checkpoint.state["counters"]["n_processed"] == end
    assert "executor stopped" in executor.stderr_path.read_text()


def test_kill_9_mid_stream_then_restart_processes_everything_and_resumes_detectors(
        kafka_broker: TansuBroker, artifacts_dir: Path, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    topic, group = unique("kill"), unique("group")
    predictions = f"{topic}.predictions"
    ids = _replay_months(kafka_broker, topic, [1, 2, 3, 4], partitions=2)
    port = free_port()
    raw = run_config(tmp_path, bootstrap=kafka_broker.bootstrap_servers, topic=topic,
                     group=group, artifacts_dir=artifacts_dir, checkpoint_dir=checkpoint_dir,
                     metrics_port=port, predictions_topic=predictions, max_rows=50)
    config = write_config(tmp_path / "run.yaml", raw)
    first = ExecutorProcess(config, tmp_path, "first")
    try:
        wait_until(lambda: metric(scrape(port), "driftline_events_processed_total") >= 1000,
                   120, "the first executor to process 1000 events")
        first.signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        if first.alive():
            first.kill()
    store = CheckpointStore(checkpoint_dir)
    at_kill = {p: store.load(topic, p) for p in range(2)}
    done_at_kill = sum(c.state["counters"]["n_processed"] for c in at_kill.values() if c)
    assert 0 < done_at_kill < len(ids), "the kill must land mid-stream"

    second = ExecutorProcess(config, tmp_path, "second")
    ends = partition_sizes(kafka_broker.bootstrap_servers, topic, len(ids))
    try:
        wait_until(lambda: all((c := store.load(topic, p)) is not None and c.offset == end
                               for p, end in ends.items()), 180, "the restart to finish")
    finally:
        status = second.stop()
    assert status == 0, second.logs()
    # At least once: every event has a prediction (some may have two).
    wanted = set(ids)

    def covered(records: list) -> bool:
        return {json.loads(r.value)["event_id"] for r in records} >= wanted

    records = consume_all(kafka_broker.bootstrap_servers, predictions, until=covered,
                          timeout_s=60)
    assert {json.loads(r.value)["event_id"] for r in records} == wanted
    # The detectors continued from the checkpoint: each partition's state has seen exactly the
    # partition's events -- a cold restart would have fewer, a replay into warm state more.
    for partition, end in ends.items():
        state = store.load(topic, partition).state
        assert state["counters"]["n_processed"] == end
        assert state["counters"]["n_labelled"] == end
    assert "resumes from its checkpoint" in second.stderr_path.read_text()
