"""Detection on every core: several detection backends, each owning whole partitions.

With ``batch.workers: N`` (default: one per core) the Kafka executor forks N detection workers
(:class:`executor.forked_detection.ForkedDetection`) and puts them behind one
:class:`executor.detection.DetectionBackend`, :class:`WorkerPool`. A partition is given to a
worker when it is opened -- the one owning the fewest partitions -- and stays there until it is
dropped, so its records are detected in order by one pipeline, and its state is captured where
it lives. A batch's partitions are split by owner and submitted to the workers at once; they
detect in parallel while the consumer polls the next batch, and their outcomes are put back in
the order the batch named the partitions. Requests keep their order per worker, and every
request that waits (``wait``, ``collect``, ``captured``, ``state``) waits for the workers it
concerns, so the pool keeps the protocol's ordering.

Example
-------
>>> from driftline.executor.decode import EventDecoder, encode_event
>>> from driftline.executor.detection import CheckpointAt, InProcessDetection, PartitionBatch
>>> from driftline.executor.outcome import BatchResult
>>> class Counting:
...     def __init__(self, state):
...         self.seen = 0 if state is None else state["seen"]
...     def process(self, events):
...         self.seen += len(events)
...         return BatchResult(n_processed=len(events), event_ids=[e.event_id for e in events])
...     def add_labels(self, labels):
...         return BatchResult()
...     def state_dict(self):
...         return {"seen": self.seen}
>>> pool = WorkerPool([InProcessDetection(EventDecoder(["x"]), Counting) for _ in range(2)])
>>> for partition in (0, 1, 2):
...     pool.open(partition)
>>> pool.owners
{0: 0, 1: 1, 2: 0}
>>> record = lambda i: (encode_event(f"e{i}", {"x": 1.0}), None, i, None)
>>> pool.submit([PartitionBatch("events", p, [record(p)]) for p in (2, 1, 0)])
>>> [o.partition for o in pool.collect()]
[2, 1, 0]
>>> pool.capture([CheckpointAt("events", 1, 2), CheckpointAt("events", 0, 1)])
>>> [(at.partition, payload) for at, payload in pool.captured()]
[(1, b'{"seen":1}'), (0, b'{"seen":1}')]
"""

from __future__ import annotations

import collections
import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from driftline.executor.detection import (
    CapturedState,
    CheckpointAt,
    DetectionBackend,
    PartitionBatch,
)
from driftline.executor.outcome import PartitionOutcome

__all__ = ["WorkerPool", "cpu_quota", "n_workers", "start_backend"]

log = logging.getLogger("driftline.worker")


class WorkerPool:
    """One :class:`executor.detection.DetectionBackend` over several (see the module
    docstring).

    Parameters
    ----------
    workers : sequence of DetectionBackend
        The backends partitions are spread over (forked detection workers).

    Attributes
    ----------
    owners : dict of int to int
        The worker index of each open partition.
    """

    def __init__(self, workers: Sequence[DetectionBackend]) -> None:
        if not workers:
            raise ValueError("workers must not be empty")
        self.workers = list(workers)
        self.owners: dict[int, int] = {}
        # per batch submitted and not collected: the workers it went to, and the order of
        # its partitions
        self._batches: collections.deque[tuple[list[int], list[int]]] = collections.deque()
        self._captures: collections.deque[tuple[list[int], list[int]]] = collections.deque()
        self._waiting: list[int] = []  # workers whose batch in flight was not waited for
        self.closed = False

    def _owner(self, partition: int) -> int:
        try:
            return self.owners[partition]
        except KeyError:
            raise LookupError(f"no pipeline for partition {partition}") from None

    def open(self, partition: int, state: Mapping[str, Any] | None = None) -> None:
        owner = self.owners.get(partition)
        if owner is None:
            load = collections.Counter(self.owners.values())
            owner = min(range(len(self.workers)), key=lambda w: (load[w], w))
        self.workers[owner].open(partition, state)
        self.owners[partition] = owner

    def submit(self, batch: Sequence[PartitionBatch]) -> None:
        if self._waiting:
            raise RuntimeError("a batch is already in flight; wait for it first")
        parts: dict[int, list[PartitionBatch]] = {}
        for part in batch:
            parts.setdefault(self._owner(part.partition), []).append(part)
        for worker, its_parts in parts.items():
            self.workers[worker].submit(its_parts)
        self._batches.append((list(parts), [part.partition for part in batch]))
        self._waiting = list(parts)

    def wait(self) -> None:
        waiting, self._waiting = self._waiting, []
        for worker in waiting:
            self.workers[worker].wait()

    def collect(self) -> list[PartitionOutcome]:
        if not self._batches:
            raise RuntimeError("no batch was submitted")
        # not self.wait(): the batch in flight may be a later one, still detecting
        workers, order = self._batches.popleft()
        if len(self._batches) == 0:
            self._waiting = []
        outcomes: dict[int, PartitionOutcome] = {}
        failure: Exception | None = None
        for worker in workers:  # every worker's answer is read, even after a failure
            try:
                outcomes.update((o.partition, o) for o in self.workers[worker].collect())
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return [outcomes[partition] for partition in order]

    def capture(self, checkpoints: Sequence[CheckpointAt]) -> None:
        split: dict[int, list[CheckpointAt]] = {}
        for at in checkpoints:
            split.setdefault(self._owner(at.partition), []).append(at)
        for worker, its in split.items():
            self.workers[worker].capture(its)
        self._captures.append((list(split), [at.partition for at in checkpoints]))

    def captured(self) -> list[CapturedState]:
        if not self._captures:
            raise RuntimeError("nothing was captured")
        workers, order = self._captures.popleft()
        states: dict[int, CapturedState] = {}
        for worker in workers:
            states.update((at.partition, (at, payload))
                          for at, payload in self.workers[worker].captured())
        # a partition dropped after its capture is gone from its worker's answer
        return [states[partition] for partition in order if partition in states]

    def state(self, partition: int) -> dict[str, Any]:
        return self.workers[self._owner(partition)].state(partition)

    def drop(self, partitions: Iterable[int]) -> None:
        by_worker: dict[int, list[int]] = {}
        for partition in partitions:
            owner = self.owners.pop(partition, None)
            if owner is not None:
                by_worker.setdefault(owner, []).append(partition)
        for worker, its in by_worker.items():
            self.workers[worker].drop(its)

    def close(self) -> None:
        """Close every worker (the batch in flight and captures not returned are
        discarded)."""
        if self.closed:
            return
        self.closed = True
        self._batches.clear()
        self._captures.clear()
        self._waiting = []
        for worker in self.workers:
            worker.close()


def cpu_quota(path: str | Path = "/sys/fs/cgroup/cpu.max") -> int | None:
    """Cores the cgroup's CPU limit allows (cgroup v2 ``cpu.max``, rounded up); None without a
    limit. A container limited to 2 CPUs still sees every core of its node as runnable.

    >>> import tempfile
    >>> limit = Path(tempfile.mkdtemp()) / "cpu.max"
    >>> _ = limit.write_text("150000 100000")
    >>> cpu_quota(limit)
    2
    >>> _ = limit.write_text("max 100000")
    >>> cpu_quota(limit) is None
    True
    """
    try:
        quota, period = Path(path).read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def n_workers(config: Any) -> int:
    """Detection worker processes of a run ``config``: ``batch.workers``, or one per core this
    process may run on (its CPU affinity, capped by its cgroup's CPU limit)."""
    if config.batch.workers is not None:
        return int(config.batch.workers)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, cores if quota is None else min(cores, quota))


def start_backend(config: Any, make_in_process: Callable[[], DetectionBackend],
                  ) -> DetectionBackend:
    """The detection backend of a run ``config``: ``make_in_process()`` itself without
    ``batch.worker_process`` (or without fork()), else that many forked workers
    (:func:`n_workers`), pooled when more than one."""
    from driftline.executor.forked_detection import ForkedDetection

    if not config.batch.worker_process:
        return make_in_process()
    if "fork" not in multiprocessing.get_all_start_methods():
        log.warning("batch.worker_process needs fork(); detecting in this process")
        return make_in_process()
    # a batch taking longer than the poll interval costs the group membership anyway
    timeout_s = max(1.0, config.source.max_poll_interval_ms / 1000.0)
    workers: list[DetectionBackend] = [
        ForkedDetection(make_in_process, answer_timeout_s=timeout_s)
        for _ in range(n_workers(config))]
    return workers[0] if len(workers) == 1 else WorkerPool(workers)
