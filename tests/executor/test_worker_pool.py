"""The pool of forked detection workers against one in-process backend: the same outcomes and
states partition by partition, partitions spread over different processes and kept on one,
captures in the order asked, a dead worker reported."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.executor.checkpoint import load_state
from driftline.executor.config import RunConfig
from driftline.executor.detection import CheckpointAt, InProcessDetection, PartitionBatch
from driftline.executor.forked_detection import ForkedDetection, WorkerError
from driftline.executor.worker_pool import WorkerPool, cpu_quota, n_workers, start_backend
from tests.executor.pipeline_helpers import fast_config
from tests.executor.test_forked_detection import Setup, _records


class Pid:
    """A pipeline reporting the process it runs in."""

    def __init__(self, state: Any) -> None:
        self.seen = 0 if state is None else state["seen"]

    def process(self, events: Any) -> Any:
        from driftline.executor.outcome import BatchResult

        self.seen += len(events)
        return BatchResult(n_processed=len(events), event_ids=[str(os.getpid())] * len(events))

    def add_labels(self, labels: Any) -> Any:
        from driftline.executor.outcome import BatchResult

        return BatchResult()

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "pid": os.getpid()}


@pytest.fixture
def setup(loaded_model: Any, artifacts_dir: Path, tmp_path: Path) -> Iterator[Any]:
    config = fast_config(artifacts_dir, checkpoint={"dir": str(tmp_path / "ckpt")})
    made = Setup(loaded_model, config)
    pool = WorkerPool([ForkedDetection(made.in_process) for _ in range(2)])
    yield made, pool
    pool.close()


def test_pooled_outcomes_equal_one_in_process_backend(setup: Any) -> None:
    made, pool = setup
    local = made.in_process()
    partitions = [0, 1, 2, 5]
    for partition in partitions:
        pool.open(partition)
        local.open(partition)
    assert sorted(pool.owners.values()) == [0, 0, 1, 1]
    streams = {p: _records([1 + p, 13 + p], bad_every=89) for p in partitions}
    for lo in range(0, 1400, 350):
        batch = [PartitionBatch("events", p, streams[p][lo:lo + 350]) for p in (5, 0, 2, 1)]
        pool.submit(batch)
        local.submit(batch)
        pool.wait()
        got, expected = pool.collect(), local.collect()
        assert [o.partition for o in got] == [5, 0, 2, 1]
        for g, e in zip(got, expected, strict=True):
            assert g.offsets == e.offsets
            assert g.result.detections == e.result.detections
            assert [d.offset for d in g.dead_letters] == [d.offset for d in e.dead_letters]
            np.testing.assert_array_equal(g.result.predicted, e.result.predicted)
    pool.capture([CheckpointAt("events", p, 1400) for p in (2, 5, 1)])
    captured = pool.captured()
    assert [at.partition for at, _ in captured] == [2, 5, 1]
    for at, payload in captured:
        assert load_state(payload) == local.state(at.partition)
    local.close()


def test_partitions_run_in_different_processes_and_stay_on_theirs() -> None:
    from driftline.executor.decode import EventDecoder, encode_event

    def make() -> InProcessDetection:
        return InProcessDetection(EventDecoder(["x"]), Pid)

    pool = WorkerPool([ForkedDetection(make) for _ in range(2)])
    try:
        for partition in range(4):
            pool.open(partition)
        pids: dict[int, set[str]] = {p: set() for p in range(4)}
        for round_ in range(3):
            pool.submit([PartitionBatch("t", p, [(encode_event(f"e{round_}", {"x": 1.0}), None,
                                                  round_, None)]) for p in range(4)])
            for outcome in pool.collect():
                pids[outcome.partition].update(outcome.result.event_ids)
        assert all(len(seen) == 1 for seen in pids.values())  # one process per partition
        worker_pids = {str(w.process.pid) for w in pool.workers}
        assert set().union(*pids.values()) == worker_pids and len(worker_pids) == 2
        assert str(os.getpid()) not in worker_pids
        # a dropped partition reopens on the least loaded worker, with its state given
        assert pool.owners == {0: 0, 1: 1, 2: 0, 3: 1}
        pool.drop([0, 2])
        pool.open(2, {"seen": 40, "pid": 0})
        assert pool.owners == {1: 1, 3: 1, 2: 0}
        assert pool.state(2)["seen"] == 40
    finally:
        pool.close()


def test_a_dead_worker_fails_the_batch(setup: Any) -> None:
    _, pool = setup
    pool.open(0)
    pool.open(1)
    records = _records([1])
    os.kill(pool.workers[1].process.pid, signal.SIGKILL)
    pool.workers[1].process.join(10)
    pool.submit([PartitionBatch("events", p, records[:100]) for p in (0, 1)])
    with pytest.raises(WorkerError, match="gone"):
        pool.wait()
        pool.collect()


def test_the_config_chooses_the_backend(artifacts_dir: Path, tmp_path: Path) -> None:
    def config(**batch: Any) -> RunConfig:
        return build_config({"source": {"kind": "kafka"},
                             "model": {"artifacts_dir": str(artifacts_dir)},
                             "checkpoint": {"dir": str(tmp_path)}, "batch": batch}, RunConfig)

    quota = cpu_quota()
    cores = len(os.sched_getaffinity(0))
    assert n_workers(config()) == (cores if quota is None else min(cores, quota))
    assert n_workers(config(workers=3)) == 3

    def make() -> InProcessDetection:
        return InProcessDetection(None, Pid)  # type: ignore[arg-type]

    in_process = start_backend(config(worker_process=False), make)
    assert isinstance(in_process, InProcessDetection)
    single = start_backend(config(workers=1), make)
    pooled = start_backend(config(workers=2), make)
    try:
        assert isinstance(single, ForkedDetection)
        assert isinstance(pooled, WorkerPool) and len(pooled.workers) == 2
    finally:
        single.close()
        pooled.close()


class CrashOnPoison(Pid):
    def process(self, events: Any) -> Any:
        if any(e.event_id == "poison" for e in events):
            os._exit(3)
        return super().process(events)


def test_the_next_batch_detects_while_the_previous_one_is_collected() -> None:
    # the executor: wait for k, submit k+1, collect k -- k's outcomes must not wait for (or
    # fail with) k+1
    from driftline.executor.decode import EventDecoder, encode_event

    def make() -> InProcessDetection:
        return InProcessDetection(EventDecoder(["x"]), CrashOnPoison)

    def batch(event_id: str, offset: int) -> list[PartitionBatch]:
        return [PartitionBatch("t", p, [(encode_event(event_id, {"x": 1.0}), None, offset,
                                         None)]) for p in (0, 1)]

    pool = WorkerPool([ForkedDetection(make) for _ in range(2)])
    try:
        pool.open(0)
        pool.open(1)
        pool.submit(batch("fine", 0))
        pool.wait()
        pool.submit(batch("poison", 1))
        assert [o.offsets for o in pool.collect()] == [[0], [0]]
        with pytest.raises(WorkerError, match="gone"):
            pool.wait()
    finally:
        pool.close()
