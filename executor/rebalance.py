"""Per-partition offsets and checkpoints of the Kafka executor, and the rebalance listener.

Every assigned partition of the events topic gets its own pipeline in the detection backend
(:mod:`executor.detection`), so a partition's detectors see its records in order and its state
can follow the partition to another replica. :class:`PartitionStates` knows which partitions
are open in the backend, the next offset of each partition, which of them changed since their
last checkpoint, and asks the backend to capture their states (written, then committed, by
:class:`executor.checkpoint_commits.CheckpointCommits`).

kafka-python runs rebalance callbacks on the consumer's network thread, where no blocking
consumer call (commit, end offsets) is allowed and long work would stall heartbeats. So:

* on **assign** (:meth:`PartitionStates.on_partitions_assigned`) the partitions' checkpoints
  are read from the store in one go (``load_many``: the Kafka changelog is read once) and the
  consumer seeks to the checkpointed offset, so that state and
  position describe the same prefix of the partition whatever was committed (a checkpoint
  beyond the log end -- the topic was recreated -- falls back to ``auto_offset_reset``). The
  pipeline itself is built from that state when the partition's first batch arrives
  (:meth:`PartitionStates.ensure_open`);
* on **revoke** the batch in flight is finished, its outputs flushed and the partitions
  checkpointed -- written before the callback returns -- by ``before_revoke``; then they are
  dropped. Their last offsets may not be committed yet: the new owner seeks to the checkpoint
  anyway;
* on **lost** (this member was evicted, another may already own the partition and write its
  checkpoint) the partition is dropped without writing anything;
* after each batch, :meth:`PartitionStates.capture` captures the partitions the batch touched
  and, once their checkpoints are written, :meth:`PartitionStates.commit_async` commits their
  offsets.

Labels topics co-partitioned with the events topic (same partition count, same keys) have
partition ``i`` joined into the pipeline of events partition ``i``; their offsets are
checkpointed alongside (offsets-only checkpoints, written after the events states).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftline.executor.checkpoint import StateStore
from driftline.executor.detection import CheckpointAt, DetectionBackend, StateMismatchError

__all__ = ["Captured", "PartitionStates"]

log = logging.getLogger("driftline.kafka")


def _commit_offsets(offsets: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
    # kafka-python 3 takes OffsetAndMetadata(offset, metadata, leader_epoch).
    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}


class Captured(NamedTuple):
    """What :meth:`PartitionStates.capture` took: events partitions whose states the backend
    captured (in order: ``backend.captured()`` returns them) and labels partitions whose
    checkpoints are offsets only."""

    states: list[CheckpointAt]
    offsets_only: list[CheckpointAt]


class PartitionStates(ConsumerRebalanceListener):
    """Offsets and checkpoints of the partitions assigned to this consumer.

    Parameters
    ----------
    consumer : kafka.KafkaConsumer
        The group consumer (used to seek and commit).
    store : StateStore
        Where checkpoints are read from on assignment (the backend writes them).
    backend : DetectionBackend
        Holds the pipelines of the open events partitions.
    events_topic : str
        The topic whose partitions carry detector state.
    labels_topic : str, optional
        Co-partitioned topic of late labels.
    before_revoke : callable, optional
        Called with the revoked partitions before they are dropped (the runner finishes the
        batch in flight, flushes its outputs and writes their checkpoints there).
    forget_partition : callable, optional
        Called with an events partition that is dropped or re-assigned (the runner drops its
        exporter readings).
    restore_failed : callable, optional
        Called with ``"incompatible_state"`` when a checkpointed state does not fit the
        pipeline (the partition starts cold).

    Attributes
    ----------
    open_partitions : set of int
        Events partitions with a pipeline in the backend.
    pending : dict
        Assigned events partitions not opened yet, with their checkpointed state (or None).
    next_offsets : dict of TopicPartition to int
        The first offset not processed yet, per partition.
    dirty : set of TopicPartition
        Partitions changed since their last checkpoint.
    restored : dict of int to bool
        Whether each opened events partition continued from its checkpoint.
    restored_from_checkpoint : list of int
        Events partitions opened from their checkpoint, in order.
    """

    def __init__(self, consumer: Any, store: StateStore, backend: DetectionBackend,
                 events_topic: str, labels_topic: str | None = None,
                 before_revoke: Callable[[list[TopicPartition]], None] | None = None,
                 forget_partition: Callable[[int], None] | None = None,
                 restore_failed: Callable[[str], None] | None = None) -> None:
        self.consumer = consumer
        self.store = store
        self.backend = backend
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.before_revoke = before_revoke
        self.forget_partition = forget_partition
        self.restore_failed = restore_failed
        self.open_partitions: set[int] = set()
        self.pending: dict[int, dict[str, Any] | None] = {}
        self.next_offsets: dict[TopicPartition, int] = {}
        self.restored: dict[int, bool] = {}
        self.restored_from_checkpoint: list[int] = []
        self.dirty: set[TopicPartition] = set()
        self.n_assignments = 0
        self.closed = False
        self._async_commits: list[Any] = []

    # -- kafka-python callbacks -----------------------------------------------------------------

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self.closed:
            return
        assigned = list(assigned)
        self.n_assignments += 1
        log.info("partitions assigned: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        checkpoints = self.store.load_many([(tp.topic, tp.partition) for tp in assigned])
        for tp in assigned:
            checkpoint = checkpoints.get((tp.topic, tp.partition))
            if tp.topic == self.events_topic:
                self._close_partition(tp.partition)
                self.pending[tp.partition] = None if checkpoint is None else checkpoint.state
            if checkpoint is None:
                continue
            self.consumer.seek(tp, checkpoint.offset)
            self.next_offsets[tp] = checkpoint.offset
            log.info("%s/%d resumes from its checkpoint at offset %d", tp.topic, tp.partition,
                     checkpoint.offset)

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        if self.closed:
            return
        revoked = list(revoked)
        log.info("partitions revoked: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in revoked))
        if self.before_revoke is not None:
            try:
                self.before_revoke(revoked)
            except Exception as exc:
                # Unflushed outputs or an unwritten checkpoint: the new owner redoes the
                # partitions from their last checkpoint (at least once).
                log.error("finishing the revoked partitions failed, they will be re-processed "
                          "from their last checkpoint: %s: %s", type(exc).__name__, exc)
        self._forget(revoked)

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        if self.closed:
            return
        lost = list(lost)
        log.warning("partitions lost (evicted from the group): %s",
                    sorted(f"{tp.topic}/{tp.partition}" for tp in lost))
        self._forget(lost)

    # -- batch bookkeeping ----------------------------------------------------------------------

    def ensure_open(self, partition: int) -> None:
        """Open events partition ``partition`` in the backend on first use: from the state of
        its checkpoint, or fresh when there is none or it does not fit."""
        if partition in self.open_partitions:
            return
        state = self.pending.pop(partition, None)
        restored = False
        if state is not None:
            try:
                self.backend.open(partition, state)
                restored = True
            except StateMismatchError as exc:
                log.warning("checkpoint of %s/%d does not fit the pipeline, starting cold: %s",
                            self.events_topic, partition, exc)
                if self.restore_failed is not None:
                    self.restore_failed("incompatible_state")
        if not restored:
            self.backend.open(partition, None)
        self.restored[partition] = restored
        if restored:
            self.restored_from_checkpoint.append(partition)
        self.open_partitions.add(partition)

    def label_targets(self, labels_partition: int) -> list[int]:
        """The events partitions that get the labels of ``labels_partition``: the same
        partition when it is assigned here (co-partitioned topics), else every open one."""
        if labels_partition in self.open_partitions or labels_partition in self.pending:
            return [labels_partition]
        return sorted(self.open_partitions)

    def advance(self, tp: TopicPartition, next_offset: int) -> None:
        """Record that everything of ``tp`` before ``next_offset`` is processed."""
        self.next_offsets[tp] = next_offset
        self.dirty.add(tp)

    def capture(self, partitions: Iterable[TopicPartition] | None = None,
                *, force: bool = False) -> Captured:
        """Checkpoint ``partitions`` (default: those advanced since their last checkpoint;
        ``force`` also takes clean ones) at their next offsets: the backend captures the
        events partitions' states now (``backend.captured()`` returns them)."""
        targets = list(self.dirty if partitions is None else partitions)
        states, offsets_only = [], []
        for tp in targets:
            offset = self.next_offsets.get(tp)
            if offset is None or (tp not in self.dirty and not force):
                continue
            if tp.topic != self.events_topic:
                offsets_only.append(CheckpointAt(tp.topic, tp.partition, offset))
            elif tp.partition in self.open_partitions:
                states.append(CheckpointAt(tp.topic, tp.partition, offset))
            else:
                continue
            self.dirty.discard(tp)
        if states:
            self.backend.capture(states)
        return Captured(states, offsets_only)

    def commit(self, offsets: dict[TopicPartition, int], *, raise_errors: bool = False,
               timeout_ms: int = 10_000) -> bool:
        """Commit ``offsets`` of the partitions still assigned here and wait; False on failure
        unless ``raise_errors``."""
        wanted = {tp: offset for tp, offset in offsets.items() if tp in self.next_offsets}
        if not wanted:
            return True
        try:
            self.consumer.commit(_commit_offsets(wanted), timeout_ms=timeout_ms)
        except Exception as exc:
            if raise_errors:
                raise
            log.warning("offset commit failed (the checkpoint keeps the position): %s", exc)
            return False
        return True

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        """Send a commit of ``offsets`` (of the partitions still assigned here) without waiting
        for the broker's answer; a failure is raised by the next :meth:`raise_commit_failure`."""
        wanted = {tp: offset for tp, offset in offsets.items() if tp in self.next_offsets}
        if wanted:
            self._async_commits.append(self.consumer.commit_async(_commit_offsets(wanted)))

    def raise_commit_failure(self) -> None:
        """Raise the error of the first answered :meth:`commit_async` that failed."""
        pending = []
        for future in self._async_commits:
            if not future.is_done:
                pending.append(future)
            elif future.failed():
                self._async_commits = []
                raise future.exception
        self._async_commits = pending

    def _close_partition(self, partition: int) -> None:
        if self.forget_partition is not None:
            self.forget_partition(partition)
        if partition in self.open_partitions:
            self.open_partitions.discard(partition)
            if not self.closed:
                self.backend.drop([partition])

    def _forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.next_offsets.pop(tp, None)
            self.dirty.discard(tp)
            if tp.topic == self.events_topic:
                self._close_partition(tp.partition)
                self.pending.pop(tp.partition, None)
                self.restored.pop(tp.partition, None)

    def clear(self) -> None:
        """Forget every partition and offset, and stop acting on rebalance callbacks: the
        session is being torn down without commit (its backend is closed)."""
        self.closed = True
        self._forget(list(self.next_offsets) + [
            TopicPartition(self.events_topic, p) for p in {*self.open_partitions, *self.pending}])
