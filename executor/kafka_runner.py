"""The Kafka executor: consumer group -> detection backend -> sinks -> checkpoint -> commit.

:class:`KafkaExecutor` runs consumer sessions until ``stop_event`` is set
(:func:`executor.kafka_service.run_kafka`: until SIGTERM/SIGINT). Each loop iteration:

1. poll a micro-batch *k+1* (up to ``batch.max_rows`` records, waiting at most
   ``batch.max_wait_ms`` to fill it; records the client cannot read are skipped past:
   :mod:`executor.kafka_poll`) while the detection backend works on batch *k*;
2. commit the offsets of the checkpoints written since the last iteration (never before their
   checkpoint is durable: :mod:`executor.checkpoint_commits`);
3. wait until the backend is done with *k*; capture the states of the partitions it touched
   (every ``checkpoint.every_batches`` batches); submit *k+1*
   (:class:`executor.kafka_batch.BatchProcessor`);
4. apply *k*'s outcomes (summary, exporter, dead letters, predictions: :mod:`executor.sinks`)
   and flush the producer (dead letters and predictions are acknowledged; those refused for
   what they are are dead-lettered or skipped, never retried);
5. queue the write of the captured states in the background; the batch made progress
   (``/healthz``); consumer lag per partition goes to the exporter.

Detection runs behind one seam (:class:`executor.detection.DetectionBackend`): in forked
children with ``batch.worker_process`` (the default; :mod:`executor.forked_detection`), one per
core (``batch.workers``; :mod:`executor.worker_pool` spreads the partitions), so that it
overlaps step 1 -- kafka-python parses records in pure Python -- or in this process
(:class:`executor.detection.InProcessDetection`). The loop is the same for both. Checkpoints go
to a directory or, with ``checkpoint.store: kafka``, to the group's compacted changelog topic
(:mod:`executor.changelog`), so partitions move warm between replicas on different machines.

A failure in any step (broker gone, flush or commit refused, worker dead or stuck, a batch
the pipeline fails on) tears the consumer session down without committing and builds a new
one after a backoff; the new session (with a new backend) restores each partition from its
checkpoint, so detector state and offsets stay consistent and outputs are repeated only for
the batches since the last checkpoint. :class:`executor.failures.FailureTracker` doubles the
backoff on each repetition of a kind of failure (a poison pill on one partition backs off
although the others succeed) and finds poison pills: after ``batch.max_retries`` failures at
the same place, records are detected one at a time, and one that fails alone is dead-lettered
(``processing_failed``) from then on. A state store refusing checkpoints does not end the
session: consumption pauses until a retry writes them (``driftline_checkpoint_failing``). The
process never exits on a Kafka error. On SIGTERM/SIGINT the current batch is finished, every
partition checkpointed, offsets committed, and the consumer and producer closed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from kafka import TopicPartition

from driftline.executor.alarm_budget import announce_targets
from driftline.executor.changelog import ChangelogStore, make_state_store
from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.checkpoint_commits import CheckpointCommits
from driftline.executor.config import RunConfig
from driftline.executor.consumer_lag import caught_up, export_lag
from driftline.executor.dead_letter import DeadLetterProducer
from driftline.executor.detection import DetectionBackend, InProcessDetection, Pipeline
from driftline.executor.failures import FailureTracker
from driftline.executor.kafka_batch import BatchProcessor
from driftline.executor.kafka_clients import (
    ensure_output_topics,
    make_consumer,
    make_producer,
    message_size_limit,
)
from driftline.executor.kafka_poll import poll_batch
from driftline.executor.rebalance import PartitionStates
from driftline.executor.sinks import OutcomeSinks, PredictionsProducer
from driftline.executor.state_template import fill_template, template_digest
from driftline.executor.summary import RunSummary
from driftline.executor.worker_pool import start_backend

__all__ = ["BACKOFF_INITIAL_S", "BACKOFF_MAX_S", "KafkaExecutor"]

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
COMMIT_TIMEOUT_MS = 15_000
LAG_REFRESH_S = 5.0
TEMPLATE_PREFIX = "driftline-fresh-pipeline-"

log = logging.getLogger("driftline.kafka")


class KafkaExecutor:
    """The long-running Kafka consumer loop (see the module docstring).

    Parameters
    ----------
    config : RunConfig
        ``source.kind`` must be ``"kafka"``.
    model : model.artifacts.LoadedModel or a monitoring, optional
        The monitored model (:func:`executor.monitoring.open_monitoring`); loaded as
        ``config.model`` says when omitted.
    exporter : executor.exporter.DriftExporter, optional
        Created from the model's profile when omitted.
    stop_event : threading.Event, optional
        Set it to stop after the current batch.
    backoff_initial_s, backoff_max_s : float
        Exponential reconnect backoff between consumer sessions.

    Attributes
    ----------
    summary : RunSummary
        Events processed (at least once), detections and dead letters so far.
    states : PartitionStates or None
        Partitions and offsets of the current consumer session.
    backend : DetectionBackend or None
        Where detection runs in the current consumer session.
    failures : FailureTracker
        Session failures by kind: backoff and poison pills.
    commits : CheckpointCommits or None
        Checkpoint writes and commits of the current consumer session.
    backoff_s : float
        The wait before the last reconnection attempt.
    n_sessions, n_session_failures, n_batches : int
        Consumer sessions started, sessions ended by an error, batches completed.
    """

    def __init__(self, config: RunConfig, *, model: Any | None = None,
                 exporter: Any | None = None, stop_event: threading.Event | None = None,
                 backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_max_s: float = BACKOFF_MAX_S) -> None:
        from driftline.executor.exporter import DriftExporter
        from driftline.executor.monitoring import open_monitoring

        if config.source.kind != "kafka":
            raise ValueError(f"source.kind must be 'kafka', got {config.source.kind!r}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("backoff: need 0 < backoff_initial_s <= backoff_max_s")
        self.config = config
        self.model = open_monitoring(config, model)
        self.exporter = exporter if exporter is not None else DriftExporter(
            self.model.profile, drift_hold_seconds=config.metrics.drift_hold_s)
        self.exporter.categories.set_quality_baselines(self.model.quality_baselines())
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.decoder = self.model.decoder()
        # the calibrated fresh pipeline is cached in the directory whatever the state store
        self.template_store = CheckpointStore(config.checkpoint.dir)
        self.store = make_state_store(config, self.exporter.state_restore_failed)
        self.summary = RunSummary()
        self.failures = FailureTracker(config.batch.max_retries, self.backoff_initial_s,
                                       self.backoff_max_s)
        self.n_batches = 0
        self.n_sessions = 0
        self.n_session_failures = 0
        self.backoff_s = self.backoff_initial_s
        self._stage = "connect"
        self._last_probe = 0.0
        self._template_state: dict[str, Any] | None = None
        self._template_digest: str | None = None
        self._last_capture = time.monotonic()
        self.states: PartitionStates | None = None
        self.backend: DetectionBackend | None = None
        self.commits: CheckpointCommits | None = None

    # -- pipelines ------------------------------------------------------------------------------

    def template_key(self) -> str:
        """Pseudo-topic naming the cached fresh-pipeline state of this model and detector set."""
        digest = hashlib.sha256(json.dumps(
            [self.model.model_sha256, self.config.detectors.model_dump(),
             self.config.labels.model_dump(),
             None if self.config.alarms is None else self.config.alarms.model_dump()],
            sort_keys=True, default=str).encode())
        return f"{TEMPLATE_PREFIX}{digest.hexdigest()[:16]}"

    def prepare(self) -> None:
        """Build (or read from the checkpoint directory) the calibrated state of a fresh
        pipeline, and create its detector series in the exporter. Calibration takes seconds,
        so it happens once, before joining the group, never inside a rebalance or a batch."""
        if self._template_state is not None:
            return
        key = self.template_key()
        cached = self.template_store.load(key, 0)
        pipeline = None
        if cached is not None:
            try:
                pipeline = self.model.pipeline(cached.state)
                template = cached.state
            except ValueError as exc:
                log.warning("cached fresh-pipeline state unusable, recalibrating: %s", exc)
        if pipeline is None:
            started = time.perf_counter()
            pipeline = self.model.pipeline()
            template = pipeline.state_dict()
            self.summary.setup_seconds = time.perf_counter() - started
            self.template_store.save(key, 0, 0, template)
            log.info("detectors calibrated in %.1f s", self.summary.setup_seconds)
        self.summary.calibration_notes = pipeline.calibration_notes
        for detector, stream, features in pipeline.detector_series():
            self.exporter.register_detector(detector, stream, features)
        announce_targets(pipeline, self.exporter)
        self._template_state = template
        self._template_digest = template_digest(template)

    def make_pipeline(self, state: dict[str, Any] | None) -> Pipeline:
        """A partition's pipeline, restored from ``state`` or fresh (from the calibrated
        template)."""
        self.prepare()
        if state is None:
            state = self._template_state
        else:  # a checkpoint keeps what differs from the template (executor/state_template.py)
            state = fill_template(dict(state), self._template_state, self._template_digest)
        return self.model.pipeline(state)

    def _in_process_backend(self) -> InProcessDetection:
        return InProcessDetection(self.decoder, self.make_pipeline, self._template_state)

    def _start_backend(self) -> DetectionBackend:
        # A fresh backend per consumer session: whatever a failed session left in the old one
        # (pipelines, unread answers, captured states) is gone with it; partitions come back
        # from checkpoints.
        self._stop_backend()
        self.prepare()
        self.backend = start_backend(self.config, self._in_process_backend)
        return self.backend

    def _stop_backend(self) -> None:
        if self.backend is not None:
            backend, self.backend = self.backend, None
            backend.close()

    # -- main loop ------------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run sessions until stopped; returns the accumulated summary."""
        started = time.perf_counter()
        self.prepare()
        try:
            while not self.stop_event.is_set():
                try:
                    self._session()
                except Exception as exc:
                    self.n_session_failures += 1
                    self.exporter.session_failed(self._stage)
                    self.backoff_s = self.failures.failed(self._stage, exc)
                    log.error("consumer session failed (%s), reconnecting in %.1f s: %s: %s",
                              self._stage, self.backoff_s, type(exc).__name__, exc,
                              exc_info=log.isEnabledFor(logging.DEBUG))
                    self.stop_event.wait(self.backoff_s)
        finally:
            self._stop_backend()
            self.store.close()
        self.summary.wall_seconds = time.perf_counter() - started
        return self.summary

    def _session(self) -> None:
        source = self.config.source
        self.n_sessions += 1
        self._stage = "connect"
        producer = make_producer(source.bootstrap_servers, f"{source.client_id}-out",
                                 max_request_size=self.config.dead_letter.max_record_bytes)
        consumer = commits = states = None
        clean = False
        try:
            ensure_output_topics(self.config)
            if isinstance(self.store, ChangelogStore):
                self.store.prepare(self.config.source)
            backend = self._start_backend()
            consumer = make_consumer(source)
            processor, states, commits = self._wire(consumer, producer, backend)
            topics = [source.topic] + ([source.labels_topic] if source.labels_topic else [])
            consumer.subscribe(topics, listener=states)
            log.info("consuming %s as group %s", topics, source.group_id)
            self.exporter.set_ready(True)
            last_lag = 0.0
            while not self.stop_event.is_set():
                self._stage = "poll"
                # A forked backend processes the previous batch during this poll.
                records = self._poll(consumer, commits)
                self._step(processor, states, commits, records)
                self._stage = "poll"
                refresh = time.monotonic() - last_lag > LAG_REFRESH_S
                export_lag(consumer, states, self.exporter,
                           self.config.source.auto_offset_reset, refresh=refresh)
                if refresh:
                    last_lag = time.monotonic()
                if not records and not commits.failing:
                    self._probe_idle(consumer, states)
            # Graceful stop: finish the last batch; write every partition and commit.
            self._step(processor, states, commits, {})
            commits.finish(COMMIT_TIMEOUT_MS)
            clean = True
        finally:
            self.exporter.set_ready(False)
            if states is not None and not clean:
                # Nothing of an unfinished batch may reach a checkpoint or a commit.
                self._stop_backend()
                states.clear()
            if commits is not None:
                commits.close()
            if consumer is not None:
                consumer.close(autocommit=False, timeout_ms=5_000)
            producer.close(timeout=5)

    def _dead_letter_limit(self) -> int:
        """``dead_letter.max_record_bytes``, lowered to the brokers' limit if they say less."""
        config = self.config
        limit = config.dead_letter.max_record_bytes
        topics = [f"{t}{config.dead_letter.topic_suffix}"
                  for t in (config.source.topic, config.source.labels_topic) if t]
        broker = message_size_limit(config.source.bootstrap_servers, topics,
                                    client_id=f"{config.source.client_id}-admin")
        if broker is not None and broker < limit:
            log.warning("dead_letter.max_record_bytes=%d exceeds what the brokers accept "
                        "(%d bytes): dead letters are cut to %d bytes", limit, broker, broker)
            limit = broker
        return limit

    def _wire(self, consumer: Any, producer: Any, backend: DetectionBackend,
              ) -> tuple[BatchProcessor, PartitionStates, CheckpointCommits]:
        config = self.config
        dead_letters = (DeadLetterProducer(producer, config.dead_letter.topic_suffix,
                                           max_record_bytes=self._dead_letter_limit())
                        if config.dead_letter.enabled else None)
        predictions = (PredictionsProducer(producer, config.outputs.predictions_topic,
                                           self.model.class_names)
                       if config.outputs.predictions_topic else None)
        processor: BatchProcessor | None = None
        commits: CheckpointCommits | None = None

        def before_revoke(revoked: list[TopicPartition]) -> None:
            if processor is not None and commits is not None:
                processor.finish_in_flight()
                processor.flush_outputs()
                commits.write_now(revoked)  # written before the new owner reads them

        states = PartitionStates(consumer, self.store, backend, config.source.topic,
                                 config.source.labels_topic, before_revoke=before_revoke,
                                 forget_partition=self.exporter.forget_source,
                                 restore_failed=self.exporter.state_restore_failed)
        commits = CheckpointCommits(self.store, states, backend, metrics=self.exporter,
                                    backoff_initial_s=self.backoff_initial_s,
                                    backoff_max_s=self.backoff_max_s)
        self.states, self.commits = states, commits
        sinks = OutcomeSinks(self.summary, exporter=self.exporter, dead_letters=dead_letters,
                             predictions=predictions)
        processor = BatchProcessor(backend, states, sinks, events_topic=config.source.topic,
                                   labels_topic=config.source.labels_topic,
                                   n_classes=len(self.model.class_names),
                                   label_decoder=self.model.label_decoder(),
                                   poisoned=self.failures.poisoned)
        return processor, states, commits

    def _poll(self, consumer: Any, commits: CheckpointCommits) -> dict[Any, list[Any]]:
        """The next micro-batch; nothing while the state store fails (consumption paused
        until a retry writes the checkpoints)."""
        if commits.failing:
            consumer.pause(*consumer.assignment())
            if commits.retry_due():
                self._stage = "checkpoint"
                commits.retry()
            if commits.failing:
                consumer.poll(timeout_ms=self.config.source.poll_timeout_ms)  # stay in the group
                return {}
            consumer.resume(*consumer.paused())
        batch = self.config.batch
        return poll_batch(consumer, max_rows=1 if self.failures.isolating() else batch.max_rows,
                          max_wait_ms=batch.max_wait_ms,
                          poll_timeout_ms=self.config.source.poll_timeout_ms,
                          stop_event=self.stop_event)

    def _step(self, processor: BatchProcessor, states: PartitionStates,
              commits: CheckpointCommits, records: dict[Any, list[Any]]) -> None:
        """Finish the batch in flight and start ``records``.

        The next batch is submitted as soon as the backend is done with the previous one --
        before that one's outcomes are applied and its outputs flushed -- so a forked backend
        is idle only for the hand-over. The previous batch's states are captured before the
        next batch reaches the backend and written only after the flush succeeded (a
        checkpoint never covers unacknowledged outputs); their offsets are committed by a
        later step, once written. While records are detected one at a time (a suspected
        poison pill) nothing is checkpointed.
        """
        self._stage = "commit"
        states.raise_commit_failure()
        commits.commit_written()
        if commits.failing and records:
            for tp, polled in records.items():  # read again once checkpoints are written
                states.consumer.seek(tp, polled[0].offset)
            records = {}
        self._stage = "detect"
        waiting = processor.receive()  # the batch in flight is done, its offsets advanced
        taken = None
        if waiting:
            self.n_batches += 1
            if self._checkpoint_due() and not self.failures.isolating():
                taken = commits.capture()
                self._last_capture = time.monotonic()
        if records:
            processor.submit(records)
        if not waiting:
            return
        counts = processor.complete()
        self._stage = "outputs"
        processor.flush_outputs()
        if taken is not None:
            commits.write(taken)
        self.failures.succeeded(states.next_offsets)
        self.exporter.mark_progress()
        if counts is not None:
            log.debug("batch %d: %d records, %d processed, %d dead letters", self.n_batches,
                      counts.n_records, counts.n_processed, sum(counts.dead_letters.values()))

    def _checkpoint_due(self) -> bool:
        """After every ``checkpoint.every_batches``-th batch, or ``every_seconds`` after the
        last checkpoint."""
        checkpoint = self.config.checkpoint
        if self.n_batches % checkpoint.every_batches == 0:
            return True
        return (checkpoint.every_seconds is not None
                and time.monotonic() - self._last_capture >= checkpoint.every_seconds)

    def _probe_idle(self, consumer: Any, states: PartitionStates) -> None:
        """An idle loop is alive while it is caught up (asked every third of
        ``metrics.max_age_s``, at most every few seconds: a round trip to the brokers)."""
        interval = min(LAG_REFRESH_S, self.config.metrics.max_age_s / 3.0)
        if time.monotonic() - self._last_probe < interval:
            return
        self._last_probe = time.monotonic()
        if caught_up(consumer, states):
            self.exporter.mark_caught_up()
