"""Helpers of the Kafka integration tests: configs, producing, consuming, executors in a thread
or as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
# Short group timeouts: a join takes ~3 s instead of ~23 s with kafka-python's defaults.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
              "max_poll_interval_ms": 10000}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_config(tmp: Path, *, bootstrap: str, topic: str, group: str, artifacts_dir: Path,
               checkpoint_dir: Path, metrics_port: int = 0, metrics: bool = True,
               predictions_topic: str | None = None, max_rows: int = 1000,
               labels_topic: str | None = None, worker_process: bool = True) -> dict[str, Any]:
    """A kafka-source run config as a dict (write it with :func:`write_config`)."""
    return {
        "source": {"kind": "kafka", "bootstrap_servers": bootstrap, "topic": topic,
                   "group_id": group, "client_id": group, "poll_timeout_ms": 200,
                   "labels_topic": labels_topic, **FAST_GROUP},
        "model": {"artifacts_dir": str(artifacts_dir)},
        "batch": {"max_rows": max_rows, "max_wait_ms": 100, "worker_process": worker_process},
        "metrics": {"enabled": metrics, "host": "127.0.0.1", "port": metrics_port},
        "checkpoint": {"dir": str(checkpoint_dir), "every_batches": 1},
        "outputs": {"predictions_topic": predictions_topic},
        "logging": {"level": "INFO", "format": "json"},
    }


def executor_config(broker: Any, tmp: Path, artifacts: Path, checkpoints: Path, topic: str,
                    group: str, **extra: Any) -> Any:
    """A validated kafka-source :class:`RunConfig` (no metrics server) for a thread executor;
    ``extra`` goes to :func:`run_config`."""
    from driftline.configs import build_config
    from driftline.executor.config import RunConfig

    raw = run_config(tmp, bootstrap=broker.bootstrap_servers, topic=topic, group=group,
                     artifacts_dir=artifacts, checkpoint_dir=checkpoints, metrics=False, **extra)
    return build_config(raw, RunConfig)


@contextmanager
def running(config: Any, model: Any, backoff_max_s: float = 2.0, **kwargs: Any) -> Iterator[Any]:
    """A KafkaExecutor running in a thread; stopped (finishing its batch) on exit."""
    from driftline.executor.kafka_runner import KafkaExecutor

    stop = threading.Event()
    executor = KafkaExecutor(config, model=model, stop_event=stop, backoff_initial_s=0.2,
                             backoff_max_s=backoff_max_s, **kwargs)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            executor.run()
        except BaseException as exc:  # surfaced by the test, not swallowed by the thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"executor-{config.source.group_id}")
    thread.start()
    try:
        yield executor
        assert thread.is_alive() and not errors, errors
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "executor did not stop"
    assert not errors, errors


def read_until_idle(bootstrap: str, topic: str, idle_polls: int = 3,
                    timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` (no group), read until ``idle_polls`` polls in a row return
    nothing -- not until the ListOffsets answer, which Tansu can give behind the log end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", group_id=None,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                consumer.topics()
                time.sleep(0.1)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        idle = 0
        while idle < idle_polls and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=300)
            idle = 0 if polled else idle + 1
            for batch in polled.values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str,
                      partitions: Iterable[int]) -> dict[int, int | None]:
    """The offsets ``group`` committed on ``topic``'s ``partitions``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        consumer.close()


class RawHeaderKey(str):
    """A record header key that kafka-python writes as the given bytes, UTF-8 or not (it
    encodes header keys with ``str.encode``; no other way to produce such a record with it)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        key = super().__new__(cls, "raw-header-key")
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]],
            ) -> int:
    """Send ``(key, value)`` records in order and wait for all acknowledgements."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(topic, key=k, value=v) for k, v in records]
    producer.flush()
    producer.close()
    for future in futures:
        future.get(timeout=10)
    return len(futures)


def produce_to(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]],
               partitions: int, pause_s: float = 0.0) -> int:
    """Send ``(key, value)`` record ``i`` to partition ``i % partitions`` (``pause_s`` after
    each: a stream that keeps flowing) and wait for all acknowledgements."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = []
    for i, (key, value) in enumerate(records):
        futures.append(producer.send(topic, key=key, value=value, partition=i % partitions))
        if pause_s:
            time.sleep(pause_s)
    producer.flush()
    producer.close()
    for future in futures:
        future.get(timeout=10)
    return len(futures)


def consume_all(bootstrap: str, topic: str, expected: int | None = None,
                timeout_s: float = 30.0,
                until: Callable[[list[Any]], bool] | None = None) -> list[Any]:
    """Records of ``topic`` from the start (no group): until ``expected`` records, until
    ``until(records)`` holds, or else until the end of the log."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", group_id=None)
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                consumer.topics()  # refreshes the metadata
                time.sleep(0.1)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                out.extend(batch)
            done = all(consumer.position(tp) >= ends[tp] for tp in tps)
            if until is not None:
                if until(out):
                    break
            elif (expected is not None and len(out) >= expected) or (expected is None and done):
                break
            if done:
                ends = consumer.end_offsets(tps)
        return out
    finally:
        consumer.close()


def partition_sizes(bootstrap: str, topic: str, total: int) -> dict[int, int]:
    """Records per partition of a topic known to hold ``total`` records (read them all: the
    broker's ListOffsets answer can trail the log end)."""
    records = consume_all(bootstrap, topic, expected=total)
    sizes: dict[int, int] = {}
    for record in records:
        sizes[record.partition] = max(sizes.get(record.partition, 0), record.offset + 1)
    assert sum(sizes.values()) == total == len(records)
    return sizes


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str,
               interval_s: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as ``{(sample name, sorted labels): value}`` ({} when not reachable)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text.decode()) for s in f.samples}


def metric(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(v for (n, lab), v in samples.items()
               if n == name and all((k, val) in lab for k, val in labels.items()))


class ExecutorProcess:
    """``driftline run --config PATH`` as a child process with its output in files."""

    def __init__(self, config_path: Path, log_dir: Path, name: str) -> None:
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "driftline.utils.cli", "run", "--config", str(config_path)],
                cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"executor ignored SIGTERM for {timeout_s} s:\n{self.logs()}"
                                 ) from None

    def logs(self) -> str:
        return (self.stdout_path.read_text(errors="replace")[-3000:] + "\n--- stderr ---\n"
                + self.stderr_path.read_text(errors="replace")[-5000:])
