"""Checkpoints first, commits after: the Kafka executor's durable progress.

:class:`CheckpointCommits` takes the states the detection backend captured
(:meth:`executor.rebalance.PartitionStates.capture`, then ``backend.captured()``), writes them
to the state store on a background thread (:class:`executor.checkpoint.CheckpointWriter`) and
commits a checkpoint's offsets only once it is written (:meth:`CheckpointCommits.commit_written`):
a partition's committed offset never runs ahead of its checkpoint.

A store that refuses a write (disk full, directory gone or read-only) makes it *failing*:
:attr:`CheckpointCommits.failing` is true, ``driftline_checkpoint_failing`` is 1 and
``driftline_checkpoint_failures_total`` counts the refusals (an alert fires). The executor then
stops taking batches -- their predictions and dead letters would be written again by a restart
from the old checkpoint -- and calls :meth:`CheckpointCommits.retry` when :meth:`retry_due`, with
a backoff that doubles up to ``backoff_max_s``. A retry checkpoints every partition as it is now
(the pipelines in memory are intact) and waits for the write; once written, the offsets are
committed and the executor resumes. So a failing store costs no duplicate beyond the batches
in flight when it failed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import TopicPartition

from driftline.executor.checkpoint import NO_STATE, CheckpointWriter, StateStore
from driftline.executor.detection import DetectionBackend
from driftline.executor.rebalance import Captured, PartitionStates

__all__ = ["CheckpointCommits"]

log = logging.getLogger("driftline.kafka")

_Offsets = dict[TopicPartition, int]


class CheckpointCommits:
    """Writes captured checkpoints and commits their offsets once written (see the module
    docstring).

    Parameters
    ----------
    store : StateStore
    states : PartitionStates
        Captures the partitions' checkpoints and commits offsets.
    backend : DetectionBackend
        Returns the captured states.
    metrics : executor.metrics_service.ServiceMetrics, optional
        Told about written and refused checkpoints.
    backoff_initial_s, backoff_max_s : float
        Wait between retries while the store fails.
    clock : callable
        Monotonic seconds.
    """

    def __init__(self, store: StateStore, states: PartitionStates, backend: DetectionBackend,
                 *, metrics: Any | None = None, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.writer = CheckpointWriter(store)
        self.states = states
        self.backend = backend
        self.metrics = metrics
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.clock = clock
        self.failing = False
        self.backoff_s = self.backoff_initial_s
        self.durable: _Offsets = {}
        self.n_failures = 0
        self._retry_at = 0.0
        self._pending: collections.deque[tuple[concurrent.futures.Future[None], _Offsets]] = (
            collections.deque())

    def capture(self, partitions: Iterable[TopicPartition] | None = None,
                *, force: bool = False) -> Captured:
        """First half of a checkpoint: the backend captures ``partitions`` (default: those
        changed since their last checkpoint; see :meth:`PartitionStates.capture`) now."""
        return self.states.capture(partitions, force=force)

    def write(self, taken: Captured) -> None:
        """Second half: queue the write of what ``taken`` captured; the events states are
        written before the labels offsets, so a labels offset never gets ahead of its
        labels."""
        writes = []
        if taken.states:
            writes = [(at.topic, at.partition, at.offset, payload)
                      for at, payload in self.backend.captured()]
        writes += [(at.topic, at.partition, at.offset, NO_STATE) for at in taken.offsets_only]
        if not writes:
            return
        offsets = {TopicPartition(topic, partition): offset
                   for topic, partition, offset, _ in writes}
        self._pending.append((self.writer.write(writes), offsets))

    def checkpoint(self, partitions: Iterable[TopicPartition] | None = None,
                   *, force: bool = False) -> None:
        """:meth:`capture` and :meth:`write` at once."""
        self.write(self.capture(partitions, force=force))

    def commit_written(self, *, wait: bool = False) -> None:
        """Commit (without waiting for the broker) the offsets of the checkpoints written so
        far, in order; ``wait``: wait for every queued write first. A refused write makes the
        store failing, and its partitions are checkpointed again by the next :meth:`retry`."""
        while self._pending:
            future, offsets = self._pending[0]
            if not future.done() and not wait:
                return
            self._pending.popleft()
            error = future.exception()
            if error is None:
                self.durable.update(offsets)
                self.states.commit_async(offsets)
                if self.metrics is not None and not self.failing:
                    self.metrics.checkpoint_written()
            else:
                self._failed(error, offsets)

    def _failed(self, error: BaseException, offsets: _Offsets) -> None:
        self.n_failures += 1
        if self.metrics is not None:
            self.metrics.checkpoint_failed()
        for tp in offsets:
            if tp in self.states.next_offsets:
                self.states.dirty.add(tp)
        if self.failing:
            self.backoff_s = min(self.backoff_s * 2, self.backoff_max_s)
        else:
            self.failing = True
            self.backoff_s = self.backoff_initial_s
        self._retry_at = self.clock() + self.backoff_s
        log.error("checkpoint write failed; offsets are not committed and consumption is "
                  "paused until it succeeds (retry in %.1f s): %s: %s", self.backoff_s,
                  type(error).__name__, error)


    def retry_due(self) -> bool:
        """Whether the store is failing and its backoff has run out."""
        return self.failing and self.clock() >= self._retry_at

    def retry(self) -> None:
        """Checkpoint every partition as it is now and wait for the write (see the module
        docstring); the outcome shows in :attr:`failing`."""
        failures = self.n_failures
        self.checkpoint(list(self.states.next_offsets), force=True)
        self.commit_written(wait=True)
        if self.n_failures == failures:
            self.failing = False
            self.backoff_s = self.backoff_initial_s
            if self.metrics is not None:
                self.metrics.checkpoint_written()
            log.info("checkpoints are written again; resuming")

    def write_now(self, partitions: Iterable[TopicPartition]) -> None:
        """Checkpoint ``partitions`` and wait for every write queued so far (before their
        new owner reads them); their offsets are committed by a later
        :meth:`commit_written` if they are still assigned then."""
        self.checkpoint(partitions, force=True)
        self.writer.wait()

    def finish(self, timeout_ms: int) -> None:
        """Checkpoint every partition, wait for the writes and commit what is durable, waiting
        for the broker (a graceful stop)."""
        self.checkpoint(list(self.states.next_offsets), force=True)
        self.commit_written(wait=True)
        wanted = {tp: offset for tp, offset in self.durable.items()
                  if tp in self.states.next_offsets}
        self.states.commit(wanted, raise_errors=False, timeout_ms=timeout_ms)

    def close(self) -> None:
        """Wait for the writes queued and stop the writer (nothing is committed)."""
        self.writer.close()
        self._pending.clear()
