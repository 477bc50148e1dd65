"""Scale-out on a real broker (issue 16, point 3): three ``driftline run`` processes in one
consumer group on a six-partition topic, each with a checkpoint directory of its own (only the
calibration cache in it: the state lives in the group's changelog topic). One is killed with
SIGKILL while events flow, a fourth (with two detection workers) joins later. Then:

* every input event was predicted at least once (counted in the predictions topic);
* the killed process's partitions resumed from the changelog on their new owners, as did those
  handed to the late joiner, and each partition's final state has seen every one of its events
  exactly once (its detectors' observation counts continued instead of starting over);
* each partition's final detector state -- observation and detection counts included -- equals
  that of one in-process pipeline fed the partition's events in one go.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from driftline.configs import build_config
from driftline.executor.changelog import ChangelogStore, changelog_topic
from driftline.executor.config import RunConfig
from driftline.executor.detection import InProcessDetection, PartitionBatch
from driftline.executor.kafka_clients import ensure_topic
from driftline.executor.kafka_runner import KafkaExecutor
from driftline.executor.sources import ReplaySource
from driftline.executor.state_record import encode_state, load_state
from driftline.executor.state_template import fill_template
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import (
    ExecutorProcess,
    produce_to,
    read_until_idle,
    run_config,
    unique,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.kafka

PARTITIONS = 6


def log_messages(process: ExecutorProcess) -> list[str]:
    out = []
    for line in process.stderr_path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line)["msg"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def assigned_now(process: ExecutorProcess, topic: str) -> set[int]:
    """The events partitions of the process's last assignment (from its log)."""
    last: set[int] = set()
    for message in log_messages(process):
        if message.startswith("partitions assigned:"):
            last = {int(p) for p in re.findall(rf"{re.escape(topic)}/(\d+)", message)}
    return last


def resumed(process: ExecutorProcess, topic: str) -> dict[int, int]:
    """Partitions the process restored from a checkpoint, with the offset."""
    found = {}
    for message in log_messages(process):
        match = re.match(rf"{re.escape(topic)}/(\d+) resumes from its checkpoint at offset (\d+)",
                         message)
        if match:
            found[int(match.group(1))] = int(match.group(2))
    return found


def predicted_ids(bootstrap: str, topic: str) -> Counter[str]:
    return Counter(json.loads(r.value)["event_id"] for r in read_until_idle(bootstrap, topic))


def reference_states(config: RunConfig, model: Any, streams: dict[int, list[Any]],
                     ) -> dict[int, dict[str, Any]]:
    """Each partition's final state in one in-process pipeline fed all its events."""
    executor = KafkaExecutor(config, model=model)
    backend = InProcessDetection(executor.decoder, executor.make_pipeline)
    states = {}
    for partition, records in streams.items():
        backend.open(partition)
        backend.submit([PartitionBatch(config.source.topic, partition,
                                       [(r.value, r.key, r.offset, r.timestamp) for r in records])])
        backend.collect()
        states[partition] = backend.state(partition)
    backend.close()
    return states


def test_replicas_share_state_through_the_changelog(
        kafka_broker: TansuBroker, tmp_path: Path, artifacts_dir: Path, pipeline_template: Path,
        kafka_model: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("scale"), unique("scale-group")
    predictions = f"{topic}.predictions"
    ensure_topic(bootstrap, topic, PARTITIONS)
    events = [(r.key, r.value) for r in ReplaySource.insurance([1, 2, 13, 14, 30], topic=topic)]
    phases = [events[:1800], events[1800:5400], events[5400:]]

    def start(name: str, workers: int = 1) -> ExecutorProcess:
        directory = tmp_path / name  # nothing shared: only its own calibration cache
        directory.mkdir()
        (directory / pipeline_template.name).write_bytes(pipeline_template.read_bytes())
        raw = run_config(tmp_path, bootstrap=bootstrap, topic=topic, group=group,
                         artifacts_dir=artifacts_dir, checkpoint_dir=directory, metrics=False,
                         predictions_topic=predictions, max_rows=200)
        raw["checkpoint"].update({"store": "kafka"})
        raw["batch"]["workers"] = workers
        return ExecutorProcess(write_config(tmp_path / f"{name}.yaml", raw), tmp_path, name)

    def predicted_all(wanted: list[tuple[bytes, bytes]]) -> bool:
        seen = predicted_ids(bootstrap, predictions)
        return all(seen[key.decode()] for key, _ in wanted)

    processes = {name: start(name) for name in ("a", "b", "c")}
    try:
        produce_to(bootstrap, topic, phases[0], PARTITIONS)
        wait_until(lambda: sum(len(assigned_now(p, topic)) for p in processes.values())
                   == PARTITIONS and all(assigned_now(p, topic) for p in processes.values()),
                   240, "three members sharing the six partitions", interval_s=0.5)
        wait_until(lambda: predicted_all(phases[0]), 240, "the first phase predicted",
                   interval_s=1.0)
        killed_partitions = assigned_now(processes["b"], topic)

        # SIGKILL b while the second phase streams in: no revoke, no final checkpoint
        producer = threading.Thread(target=produce_to, args=(bootstrap, topic, phases[1],
                                                             PARTITIONS, 0.002))
        producer.start()
        time.sleep(2.0)
        processes["b"].kill()
        producer.join()
        wait_until(lambda: predicted_all(phases[1]), 300, "the second phase predicted",
                   interval_s=1.0)
        moved = {**resumed(processes["a"], topic), **resumed(processes["c"], topic)}
        assert killed_partitions and killed_partitions <= set(moved), (
            killed_partitions, moved, processes["a"].logs())
        assert all(moved[p] > 0 for p in killed_partitions)  # warm: a checkpointed offset

        processes["d"] = start("d", workers=2)
        wait_until(lambda: assigned_now(processes["d"], topic), 240, "d to get partitions",
                   interval_s=0.5)
        produce_to(bootstrap, topic, phases[2], PARTITIONS)
        wait_until(lambda: predicted_all(phases[2]), 300, "the third phase predicted",
                   interval_s=1.0)
        handed = assigned_now(processes["d"], topic)
        assert handed and handed <= set(resumed(processes["d"], topic))
    finally:
        for name, process in processes.items():
            if name != "b":
                process.stop(timeout_s=60)
    for name, process in processes.items():
        if name != "b":
            assert process.process.returncode == 0, process.logs()

    # at least once: every input event predicted
    seen = predicted_ids(bootstrap, predictions)
    assert all(seen[key.decode()] >= 1 for key, _ in events)

    # the changelog holds each partition's state after all of its events, exactly once each
    consumed = read_until_idle(bootstrap, topic)
    streams = {p: sorted((r for r in consumed if r.partition == p), key=lambda r: r.offset)
               for p in range(PARTITIONS)}
    assert sum(len(s) for s in streams.values()) == len(events)
    store = ChangelogStore(bootstrap, changelog_topic(group), restore_timeout_s=60)
    final = store.load_many([(topic, p) for p in range(PARTITIONS)])
    store.close()
    config = build_config(run_config(tmp_path, bootstrap=bootstrap, topic=topic, group=group,
                                     artifacts_dir=artifacts_dir,
                                     checkpoint_dir=pipeline_template.parent), RunConfig)
    expected = reference_states(config, kafka_model, streams)
    template = load_state(pipeline_template.read_bytes().partition(b"\n")[2])
    assert sum(c["n_detections"] for state in expected.values()
               for c in _counts(state).values()) > 0  # the drifted months are detected
    for partition in range(PARTITIONS):
        checkpoint = final[(topic, partition)]
        assert checkpoint is not None and checkpoint.offset == len(streams[partition])
        want = expected[partition]
        # stored as its difference from the calibrated fresh pipeline's state
        assert len(encode_state(checkpoint.state)) < len(encode_state(want)) / 2
        got = fill_template(checkpoint.state, template)
        # the input features' detectors are bit for bit those of one uninterrupted pipeline
        assert got["detectors"]["features"] == want["detectors"]["features"], partition
        # every detector saw as many values and detected as often (the model's outputs may
        # differ in the last bits with the batch sizes, so the prediction streams' windows are
        # compared by their counts)
        assert _counts(got) == _counts(want), partition
        # (a column that detected drift restarts its count; the others saw every event)
        features = _counts(got["detectors"]["features"]).values()
        seen = [c["n_seen"] + c["n_skipped"] for c in features]
        assert max(seen) == len(streams[partition]), partition


def _counts(state: Any, path: str = "") -> dict[str, dict[str, int]]:
    """Every detector's counters in a pipeline state (``n_seen``, ``n_detections``), by path."""
    found = {}
    if isinstance(state, dict):
        if "n_seen" in state and "n_detections" in state:
            found[path] = {k: state[k] for k in ("n_seen", "n_skipped", "n_detections")
                           if k in state}
        for key, value in state.items():
            found.update(_counts(value, f"{path}/{key}"))
    elif isinstance(state, list):
        for i, value in enumerate(state):
            found.update(_counts(value, f"{path}/{i}"))
    return found
