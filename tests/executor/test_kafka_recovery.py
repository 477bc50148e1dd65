"""Faults of the executor's surroundings, on a real broker (issue 11, items 4-7, poison pills).

* the checkpoint directory becomes unwritable mid-run (replaced by a file: no permission bit
  helps root): offsets stop being committed, ``driftline_checkpoint_failing`` rises, the
  session goes on, paused; once the directory is back everything is committed, each event
  predicted once;
* ``/healthz`` follows progress: 200 while batches go through and while the idle consumer is
  caught up, 503 within ``max_age_s`` of the broker's death, 200 again after; meanwhile a client
  that connects and says nothing delays no request, unknown paths are 404 and no version is
  given away;
* a record the pipeline fails on (an exception; in the worker, a crash) is retried
  ``batch.max_retries`` times with a doubling backoff while the other partition goes on, then
  found and dead-lettered as ``processing_failed``; every other event is predicted;
* configs Kafka would refuse make ``driftline run`` exit 2 at once with the key, not retry.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.configs import build_config
from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.config import RunConfig
from driftline.executor.decode import encode_event
from driftline.executor.failures import FailureTracker
from driftline.executor.kafka_clients import ensure_topic
from driftline.executor.kafka_runner import KafkaExecutor
from driftline.executor.metrics_http import serve
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import (
    committed_offsets,
    executor_config,
    produce,
    read_until_idle,
    run_config,
    running,
    unique,
    wait_until,
)
from tests.executor.malformed import GOOD
from tests.executor.test_exporter import value

pytestmark = pytest.mark.kafka


def events(prefix: str, n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [(f"{prefix}-{i}".encode(), encode_event(f"{prefix}-{i}", GOOD))
            for i in range(start, start + n)]


def predicted_ids(bootstrap: str, topic: str) -> Counter[str]:
    return Counter(json.loads(r.value)["event_id"] for r in read_until_idle(bootstrap, topic))


def test_an_unwritable_checkpoint_directory_stops_commits_until_it_is_back(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("ckpt-fault"), unique("group")
    predictions = f"{topic}.predictions"
    ensure_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, events("a", 300))
    config = executor_config(kafka_broker, tmp_path, artifacts_dir, checkpoint_dir, topic,
                             group, predictions_topic=predictions, max_rows=100)
    store = CheckpointStore(checkpoint_dir)
    moved = tmp_path / "checkpoints-moved"
    with running(config, kafka_model) as executor:
        wait_until(lambda: committed_offsets(bootstrap, group, topic, [0]) == {0: 300}, 60,
                   "the first events committed")
        checkpoint_dir.rename(moved)
        checkpoint_dir.write_text("the directory is gone")  # root cannot write through this
        produce(bootstrap, topic, events("b", 300))
        exporter = executor.exporter
        wait_until(lambda: value(exporter, "driftline_checkpoint_failing") == 1, 60,
                   "the failing store to be noticed")
        wait_until(lambda: value(exporter, "driftline_checkpoint_failures_total") >= 3, 60,
                   "retries, backing off")
        assert executor.commits.backoff_s > 0.2  # it doubled
        assert committed_offsets(bootstrap, group, topic, [0]) == {0: 300}
        wait_until(lambda: not exporter.healthy(1.0), 10, "no progress while paused")
        checkpoint_dir.unlink()
        moved.rename(checkpoint_dir)
        wait_until(lambda: committed_offsets(bootstrap, group, topic, [0]) == {0: 600}, 60,
                   "everything committed once the directory is back")
        assert value(exporter, "driftline_checkpoint_failing") == 0
        assert (executor.n_sessions, executor.n_session_failures) == (1, 0)
    checkpoint = store.load(topic, 0)
    assert checkpoint.offset == 600 and checkpoint.state["counters"]["n_processed"] == 600
    wanted = Counter([f"a-{i}" for i in range(300)] + [f"b-{i}" for i in range(300)])
    assert predicted_ids(bootstrap, predictions) == wanted  # nothing predicted twice


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, Any, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_healthz_tells_the_truth_and_a_silent_client_blocks_nobody(
        tansu_broker_factory: Any, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any) -> None:
    broker: TansuBroker = tansu_broker_factory()
    bootstrap = broker.bootstrap_servers
    topic, group = unique("health"), unique("group")
    ensure_topic(bootstrap, topic, 1)
    raw = run_config(tmp_path, bootstrap=bootstrap, topic=topic, group=group,
                     artifacts_dir=artifacts_dir, checkpoint_dir=checkpoint_dir, metrics=False)
    max_age = 3.0
    raw["metrics"]["max_age_s"] = max_age
    config = build_config(raw, RunConfig)
    with running(config, kafka_model, backoff_max_s=1.0) as executor:
        server = serve(executor.exporter, port=0, max_age_seconds=max_age,
                       request_timeout_s=2.0)
        port = server.server_address[1]
        try:
            silent = socket.create_connection(("127.0.0.1", port))  # connects, says nothing
            started = time.monotonic()
            assert http_get(port, "/healthz")[0] == 503  # nothing done yet
            assert time.monotonic() - started < 1.0
            produce(bootstrap, topic, events("e", 100))
            wait_until(lambda: http_get(port, "/healthz")[0] == 200, 60, "healthy")
            assert http_get(port, "/readyz")[0] == 200
            assert executor.summary.n_processed == 100
            time.sleep(max_age + 1.0)  # idle, caught up: alive
            assert http_get(port, "/healthz")[0] == 200
            silent.settimeout(5)
            assert silent.recv(100) == b""  # dropped after its request timeout
            silent.close()
            for path in ("/", "/healthz/", "/../../etc/passwd", "/metrics/x", "/favicon.ico"):
                status, headers, _ = http_get(port, path)
                assert status == 404, path
                assert headers["Server"] == "driftline"
            status, headers, body = http_get(port, "/metrics")
            assert status == 200 and b"driftline_events_processed_total 100.0" in body
            assert "python" not in headers["Server"].lower()
            broker.stop()
            killed = time.monotonic()
            wait_until(lambda: http_get(port, "/healthz")[0] == 503, 3 * max_age,
                       "unhealthy without the broker")
            assert time.monotonic() - killed <= max_age + 2.0
            broker.start()
            ensure_topic(bootstrap, topic, 1)  # in-memory storage: the topic is gone
            produce(bootstrap, topic, events("f", 30))
            wait_until(lambda: executor.summary.n_processed == 130, 90, "work after the restart")
            wait_until(lambda: http_get(port, "/healthz")[0] == 200, 30, "healthy again")
        finally:
            server.shutdown()
            server.server_close()
            broker.stop()


class Poisoned:
    """A pipeline that fails on events whose id starts with ``poison``: raises, or, in the
    forked worker, kills the process."""

    def __init__(self, pipeline: Any, crash: bool) -> None:
        self.pipeline, self.crash = pipeline, crash

    def process(self, batch: Sequence[Any]) -> Any:
        if any(event.event_id.startswith("poison") for event in batch):
            if self.crash:
                os._exit(3)
            raise ZeroDivisionError("detector exploded")
        return self.pipeline.process(batch)

    def add_labels(self, labels: Any) -> Any:
        return self.pipeline.add_labels(labels)

    def state_dict(self) -> dict[str, Any]:
        return self.pipeline.state_dict()


@pytest.mark.parametrize("worker_process", [True, False], ids=["worker-crash", "exception"])
def test_a_poison_pill_is_found_and_dead_lettered_after_bounded_retries(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        kafka_model: Any, monkeypatch: pytest.MonkeyPatch, worker_process: bool) -> None:
    make_pipeline = KafkaExecutor.make_pipeline
    monkeypatch.setattr(KafkaExecutor, "make_pipeline", lambda self, state: Poisoned(
        make_pipeline(self, state), crash=worker_process))
    waits: list[float] = []
    failed = FailureTracker.failed

    def recorded(self: FailureTracker, stage: str, error: BaseException) -> float:
        waits.append(failed(self, stage, error))
        return waits[-1]

    monkeypatch.setattr(FailureTracker, "failed", recorded)
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("poison"), unique("group")
    predictions = f"{topic}.predictions"
    ensure_topic(bootstrap, topic, 2)
    # partition 0: 60 events, the poison at offset 30; partition 1: 200 events
    first = events("a", 30)
    rest = events("a", 29, start=31)
    poison = (b"poison", encode_event("poison-1", GOOD))
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for key, event in [*first, poison, *rest]:
        producer.send(topic, key=key, value=event, partition=0)
    for key, event in events("b", 200):
        producer.send(topic, key=key, value=event, partition=1)
    producer.flush()
    producer.close()
    raw = run_config(tmp_path, bootstrap=bootstrap, topic=topic, group=group,
                     artifacts_dir=artifacts_dir, checkpoint_dir=checkpoint_dir, metrics=False,
                     predictions_topic=predictions, max_rows=20, worker_process=worker_process)
    raw["batch"]["max_retries"] = 2
    config = build_config(raw, RunConfig)
    with running(config, kafka_model, backoff_max_s=5.0) as executor:
        wait_until(lambda: committed_offsets(bootstrap, group, topic, [0, 1]) == {0: 60, 1: 200},
                   120, "both partitions committed past the poison")
        failures = executor.n_session_failures
    assert waits == [0.2, 0.4, 0.8][:len(waits)] and len(waits) == failures == 3
    dead = read_until_idle(bootstrap, f"{topic}.dlt")
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["driftline.reason"] == b"processing_failed"
    assert (headers["driftline.source.partition"], headers["driftline.source.offset"]) == (
        b"0", b"30")
    assert dead[0].value == poison[1] and dead[0].key == b"poison"
    cause = b"WorkerError" if worker_process else b"ZeroDivisionError: detector exploded"
    assert cause in headers["driftline.detail"]
    predicted = predicted_ids(bootstrap, predictions)
    wanted = {f"a-{i}" for i in range(60) if i != 30} | {f"b-{i}" for i in range(200)}
    assert set(predicted) == wanted
    # at least once: a retry repeats at most the batches since the last checkpoint
    assert sum(predicted.values()) - len(wanted) <= 2 * 20 * failures


@pytest.mark.parametrize(("section", "values", "message"), [
    ("dead_letter", {"topic_suffix": ""}, "dead_letter.topic_suffix: must not be empty"),
    ("source", {"topic": "bad topic!"}, "source.topic: 'bad topic!' contains ' !'"),
    ("source", {"bootstrap_servers": ""}, "source.bootstrap_servers: must list at least one"),
    ("dead_letter", {"max_record_bytes": 100}, "dead_letter.max_record_bytes"),
])
def test_configs_kafka_would_refuse_exit_2_at_once_naming_the_key(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, checkpoint_dir: Path,
        section: str, values: dict[str, Any], message: str) -> None:
    config = run_config(tmp_path, bootstrap=kafka_broker.bootstrap_servers, topic="t",
                        group=unique("group"), artifacts_dir=artifacts_dir,
                        checkpoint_dir=checkpoint_dir)
    config.setdefault(section, {}).update(values)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "driftline.utils.cli", "run", "--config",
                             str(path)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert time.monotonic() - started < 60
