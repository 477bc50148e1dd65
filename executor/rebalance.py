"""Per-partition detector state of the Kafka executor and the consumer-group rebalance listener.

Every assigned partition of the events topic gets its own
:class:`executor.pipeline.DetectionPipeline`, so a partition's detectors see its records in order
and its state can follow the partition to another replica. :class:`PartitionStates` owns those
pipelines, the next offset of each partition, and their checkpoints.

kafka-python runs rebalance callbacks on the consumer's network thread, where no blocking
consumer call (commit, end offsets) is allowed and long work would stall heartbeats. So:

* on **assign** (:meth:`PartitionStates.on_partitions_assigned`) the partition's checkpoint is
  read from disk and the consumer seeks to the checkpointed offset, so that state and position
  describe the same prefix of the partition whatever was committed (a checkpoint beyond the log
  end -- the topic was recreated -- falls back to ``auto_offset_reset``). The pipeline itself is
  built from that state on the main thread when the partition's first batch arrives
  (:meth:`PartitionStates.pipeline`);
* on **revoke** the partition is checkpointed (a local file write) and dropped. Its offsets were
  already committed after its last batch, and the new owner seeks to the checkpoint anyway;
* on **lost** (this member was evicted, another may already own the partition and write its
  checkpoint) the partition is dropped without writing anything;
* after each batch, :meth:`PartitionStates.checkpoint` writes the partitions the batch touched
  and :meth:`PartitionStates.commit` commits their offsets.

Labels topics co-partitioned with the events topic (same partition count, same keys) have
partition ``i`` joined into the pipeline of events partition ``i``; their offsets are
checkpointed alongside (state-less checkpoints).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftline.executor.checkpoint import CheckpointStore

__all__ = ["PartitionStates"]

log = logging.getLogger("driftline.kafka")


def _commit_offsets(offsets: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
    # kafka-python 3 takes OffsetAndMetadata(offset, metadata, leader_epoch).
    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}


class PartitionStates(ConsumerRebalanceListener):
    """Pipelines, offsets and checkpoints of the partitions assigned to this consumer.

    Parameters
    ----------
    consumer : kafka.KafkaConsumer
        The group consumer (used to seek, commit and read end offsets).
    store : CheckpointStore
        Where checkpoints live (shared between replicas).
    make_pipeline : callable
        ``make_pipeline(state, partition)`` returns a
        :class:`executor.pipeline.DetectionPipeline` for events partition ``partition``,
        restored from ``state`` (a ``state_dict``), or a fresh one for ``None``.
    events_topic : str
        The topic whose partitions carry detector state.
    labels_topic : str, optional
        Co-partitioned topic of late labels.
    before_revoke : callable, optional
        Called with the revoked events partitions before they are checkpointed (the runner
        flushes its producers there).
    """

    def __init__(self, consumer: Any, store: CheckpointStore,
                 make_pipeline: Callable[[Any, int], Any], events_topic: str,
                 labels_topic: str | None = None,
                 before_revoke: Callable[[list[TopicPartition]], None] | None = None,
                 forget_partition: Callable[[int], None] | None = None) -> None:
        self.consumer = consumer
        self.store = store
        self.make_pipeline = make_pipeline
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.before_revoke = before_revoke
        self.forget_partition = forget_partition
        self.pipelines: dict[int, Any] = {}
        self.pending: dict[int, dict[str, Any] | None] = {}
        self.next_offsets: dict[TopicPartition, int] = {}
        self.restored: dict[int, bool] = {}
        self.restored_from_checkpoint: list[int] = []
        self.dirty: set[TopicPartition] = set()
        self.n_assignments = 0
        self._async_commits: list[Any] = []

    # -- kafka-python callbacks -----------------------------------------------------------------

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        assigned = list(assigned)
        self.n_assignments += 1
        log.info("partitions assigned: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        for tp in assigned:
            checkpoint = self.store.load(tp.topic, tp.partition)
            if tp.topic == self.events_topic:
                if self.forget_partition is not None:
                    self.forget_partition(tp.partition)
                self.pipelines.pop(tp.partition, None)
                self.pending[tp.partition] = None if checkpoint is None else checkpoint.state
            if checkpoint is None:
                continue
            self.consumer.seek(tp, checkpoint.offset)
            self.next_offsets[tp] = checkpoint.offset
            log.info("%s/%d resumes from its checkpoint at offset %d", tp.topic, tp.partition,
                     checkpoint.offset)

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        log.info("partitions revoked: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in revoked))
        if self.before_revoke is not None:
            try:
                self.before_revoke(revoked)
            except Exception as exc:
                # Unflushed outputs: leave the partitions un-checkpointed so they are redone.
                log.error("flushing outputs before revoke failed, partitions will be "
                          "re-processed from their last checkpoint: %s", exc)
                self._forget(revoked)
                return
        try:
            self.checkpoint(revoked, force=True)
        except Exception as exc:
            log.error("checkpoint on revoke failed, the partitions resume from their previous "
                      "checkpoint: %s", exc)
        self._forget(revoked)

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        lost = list(lost)
        log.warning("partitions lost (evicted from the group): %s",
                    sorted(f"{tp.topic}/{tp.partition}" for tp in lost))
        self._forget(lost)

    # -- batch bookkeeping ----------------------------------------------------------------------

    def pipeline(self, partition: int) -> Any:
        """The pipeline of events partition ``partition``, built on first use from the state of
        its checkpoint (or fresh)."""
        pipeline = self.pipelines.get(partition)
        if pipeline is not None:
            return pipeline
        state = self.pending.pop(partition, None)
        pipeline = None
        if state is not None:
            try:
                pipeline = self.make_pipeline(state, partition)
            except Exception as exc:
                log.warning("checkpoint of %s/%d does not fit the pipeline, starting cold: %s",
                            self.events_topic, partition, exc)
        self.restored[partition] = pipeline is not None
        if pipeline is not None:
            self.restored_from_checkpoint.append(partition)
        if pipeline is None:
            pipeline = self.make_pipeline(None, partition)
        self.pipelines[partition] = pipeline
        return pipeline

    def advance(self, tp: TopicPartition, next_offset: int) -> None:
        """Record that everything of ``tp`` before ``next_offset`` is processed."""
        self.next_offsets[tp] = next_offset
        self.dirty.add(tp)

    def checkpoint(self, partitions: Iterable[TopicPartition] | None = None,
                   *, force: bool = False) -> int:
        """Write the checkpoints of ``partitions`` (default: those advanced since the last
        checkpoint); returns how many were written. ``force`` also writes clean ones."""
        targets = list(self.dirty if partitions is None else partitions)
        written = 0
        for tp in targets:
            if tp not in self.dirty and not force:
                continue
            offset = self.next_offsets.get(tp)
            if offset is None:
                continue
            if tp.topic == self.events_topic:
                pipeline = self.pipelines.get(tp.partition)
                if pipeline is None:
                    continue
                save = getattr(pipeline, "save_checkpoint", None)
                if save is not None:  # a pipeline in the detection worker writes its own
                    save(tp.topic, tp.partition, offset)
                    self.dirty.discard(tp)
                    written += 1
                    continue
                state = pipeline.state_dict()
            else:
                state = {}
            self.store.save(tp.topic, tp.partition, offset, state)
            self.dirty.discard(tp)
            written += 1
        return written

    def snapshot(self) -> list[tuple[str, int, int]]:
        """First half of a two-phase checkpoint of the partitions advanced since the last one:
        pipelines in the detection worker capture their state at their current offset (written
        later by the worker's ``write`` request); returns the state-less (labels topic)
        ``(topic, partition, offset)`` to write with them."""
        stateless = []
        for tp in list(self.dirty):
            offset = self.next_offsets.get(tp)
            if offset is None:
                continue
            if tp.topic != self.events_topic:
                stateless.append((tp.topic, tp.partition, offset))
                self.dirty.discard(tp)
                continue
            snapshot = getattr(self.pipelines.get(tp.partition), "snapshot_checkpoint", None)
            if snapshot is not None:
                snapshot(tp.topic, tp.partition, offset)
                self.dirty.discard(tp)
        return stateless

    def commit(self, partitions: Iterable[TopicPartition] | None = None,
               *, raise_errors: bool = False, timeout_ms: int = 10_000) -> bool:
        """Commit the next offsets of ``partitions`` (default: all known); False on failure
        unless ``raise_errors``."""
        wanted = self.next_offsets if partitions is None else {
            tp: self.next_offsets[tp] for tp in partitions if tp in self.next_offsets}
        if not wanted:
            return True
        try:
            self.consumer.commit(_commit_offsets(dict(wanted)), timeout_ms=timeout_ms)
        except Exception as exc:
            if raise_errors:
                raise
            log.warning("offset commit failed (the checkpoint keeps the position): %s", exc)
            return False
        return True

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        """Send a commit of exactly ``offsets`` without waiting for the broker's answer; a
        failure is raised by the next :meth:`raise_commit_failure`."""
        if offsets:
            self._async_commits.append(self.consumer.commit_async(_commit_offsets(dict(offsets))))

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

    def _forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.next_offsets.pop(tp, None)
            self.dirty.discard(tp)
            if tp.topic == self.events_topic:
                if self.forget_partition is not None:
                    self.forget_partition(tp.partition)
                pipeline = self.pipelines.pop(tp.partition, None)
                close = getattr(pipeline, "close", None)
                if close is not None:  # frees it in the detection worker
                    close()
                self.pending.pop(tp.partition, None)
                self.restored.pop(tp.partition, None)

    def clear(self) -> None:
        """Drop every pipeline and offset (the session is being torn down without commit)."""
        self._forget(list(self.next_offsets) + [
            TopicPartition(self.events_topic, p) for p in {*self.pipelines, *self.pending}])
