"""The Kafka executor: consumer group -> detection backend -> sinks -> checkpoint -> commit.

:func:`run_kafka` runs until SIGTERM/SIGINT (or ``stop_event``). Each loop iteration:

1. poll a micro-batch *k+1* (up to ``batch.max_rows`` records, waiting at most
   ``batch.max_wait_ms`` to fill it) while the detection backend works on batch *k*;
2. wait until the backend is done with *k*; capture the checkpoints of the partitions it
   touched (every ``checkpoint.every_batches`` batches); submit *k+1*
   (:class:`executor.kafka_batch.BatchProcessor`);
3. apply *k*'s outcomes (summary, exporter, dead letters, predictions: :mod:`executor.sinks`)
   and flush the producer (dead letters and predictions are acknowledged);
4. write the captured checkpoints (in the background), then commit *k*'s offsets -- only
   now, so every event is processed at least once (the commit is not waited for: a refused
   one fails the next iteration; the last commit of a session, at shutdown, is waited for);
5. consumer lag per partition goes to the exporter.

Detection runs behind one seam (:class:`executor.detection.DetectionBackend`): in a forked
child with ``batch.worker_process`` (the default; :mod:`executor.forked_detection`), so that
it overlaps step 1 -- kafka-python parses records in pure Python, about as costly as
detection -- or in this process (:class:`executor.detection.InProcessDetection`). The loop is
the same for both.

A failure in any step (broker gone, flush or commit refused, worker dead) tears the consumer
session down without committing and builds a new one after an exponential backoff (capped at
``backoff_max_s``; reset after a successful batch); the new session (with a new backend)
restores each partition from its checkpoint, so detector state and offsets stay consistent.
The process never exits on a Kafka error. On SIGTERM/SIGINT the current batch is finished,
every partition checkpointed, offsets committed, and the consumer and producer closed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from kafka import TopicPartition

from driftline.executor.checkpoint import CheckpointStore
from driftline.executor.config import RunConfig
from driftline.executor.consumer_lag import export_lag
from driftline.executor.dead_letter import DeadLetterProducer
from driftline.executor.decode import EventDecoder
from driftline.executor.detection import DetectionBackend, InProcessDetection, Pipeline
from driftline.executor.forked_detection import ForkedDetection
from driftline.executor.kafka_batch import BatchProcessor
from driftline.executor.kafka_clients import ensure_output_topics, make_consumer, make_producer
from driftline.executor.rebalance import PartitionStates
from driftline.executor.sinks import OutcomeSinks, PredictionsProducer
from driftline.executor.summary import RunSummary, format_summary

__all__ = ["BACKOFF_INITIAL_S", "BACKOFF_MAX_S", "KafkaExecutor", "run_kafka"]

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
    model : model.artifacts.LoadedModel, optional
        Loaded from ``config.model.artifacts_dir`` when omitted.
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
    backoff_s : float
        The wait before the next reconnection attempt (reset after a successful batch).
    n_sessions, n_session_failures, n_batches : int
        Consumer sessions started, sessions ended by an error, batches committed.
    """

    def __init__(self, config: RunConfig, *, model: Any | None = None,
                 exporter: Any | None = None, stop_event: threading.Event | None = None,
                 backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_max_s: float = BACKOFF_MAX_S) -> None:
        from driftline.executor.exporter import DriftExporter
        from driftline.model.artifacts import load_artifacts

        if config.source.kind != "kafka":
            raise ValueError(f"source.kind must be 'kafka', got {config.source.kind!r}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("backoff: need 0 < backoff_initial_s <= backoff_max_s")
        self.config = config
        self.model = model if model is not None else load_artifacts(config.model.artifacts_dir)
        self.exporter = exporter if exporter is not None else DriftExporter(
            self.model.profile, drift_hold_seconds=config.metrics.drift_hold_s)
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.decoder = EventDecoder(self.model.profile.feature_names,
                                    n_classes=len(self.model.class_names))
        self.store = CheckpointStore(config.checkpoint.dir)
        self.summary = RunSummary()
        self.n_batches = 0
        self.n_sessions = 0
        self.n_session_failures = 0
        self.backoff_s = self.backoff_initial_s
        self._template_state: dict[str, Any] | None = None
        self.states: PartitionStates | None = None
        self.backend: DetectionBackend | None = None

    # -- pipelines ------------------------------------------------------------------------------

    def template_key(self) -> str:
        """Pseudo-topic naming the cached fresh-pipeline state of this model and detector set."""
        digest = hashlib.sha256(json.dumps(
            [self.model.profile.model_sha256, self.config.detectors.model_dump(),
             self.config.labels.model_dump()], sort_keys=True, default=str).encode())
        return f"{TEMPLATE_PREFIX}{digest.hexdigest()[:16]}"

    def prepare(self) -> None:
        """Build (or read from the checkpoint directory) the calibrated state of a fresh
        pipeline, and create its detector series in the exporter. Calibration takes seconds,
        so it happens once, before joining the group, never inside a rebalance or a batch."""
        from driftline.executor.pipeline import DetectionPipeline

        if self._template_state is not None:
            return
        key = self.template_key()
        cached = self.store.load(key, 0)
        pipeline = None
        if cached is not None:
            try:
                pipeline = DetectionPipeline(self.model, self.config, state=cached.state)
                template = cached.state
            except ValueError as exc:
                log.warning("cached fresh-pipeline state unusable, recalibrating: %s", exc)
        if pipeline is None:
            started = time.perf_counter()
            pipeline = DetectionPipeline(self.model, self.config)
            template = pipeline.state_dict()
            self.summary.setup_seconds = time.perf_counter() - started
            self.store.save(key, 0, 0, template)
            log.info("detectors calibrated in %.1f s", self.summary.setup_seconds)
        self.summary.calibration_notes = pipeline.calibration_notes
        for detector, stream, features in pipeline.detector_series():
            self.exporter.register_detector(detector, stream, features)
        self._template_state = template

    def make_pipeline(self, state: dict[str, Any] | None) -> Pipeline:
        """A partition's pipeline, restored from ``state`` or fresh (from the calibrated
        template)."""
        from driftline.executor.pipeline import DetectionPipeline

        self.prepare()
        return DetectionPipeline(self.model, self.config,
                                 state=state if state is not None else self._template_state)

    def _in_process_backend(self) -> InProcessDetection:
        return InProcessDetection(self.decoder, self.make_pipeline, self.store)

    def _start_backend(self) -> DetectionBackend:
        # A fresh backend per consumer session: whatever a failed session left in the old one
        # (pipelines, unread answers, captured states) is gone with it; partitions come back
        # from checkpoints.
        self._stop_backend()
        self.prepare()
        backend: DetectionBackend
        if not self.config.batch.worker_process:
            backend = self._in_process_backend()
        elif "fork" not in multiprocessing.get_all_start_methods():
            log.warning("batch.worker_process needs fork(); detecting in this process")
            backend = self._in_process_backend()
        else:
            backend = ForkedDetection(self._in_process_backend)
        self.backend = backend
        return backend

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
                    log.error("consumer session failed, reconnecting in %.1f s: %s: %s",
                              self.backoff_s, type(exc).__name__, exc,
                              exc_info=log.isEnabledFor(logging.DEBUG))
                    self.stop_event.wait(self.backoff_s)
                    self.backoff_s = min(self.backoff_s * 2, self.backoff_max_s)
        finally:
            self._stop_backend()
        self.summary.wall_seconds = time.perf_counter() - started
        return self.summary

    def _session(self) -> None:
        source = self.config.source
        self.n_sessions += 1
        producer = make_producer(source.bootstrap_servers, f"{source.client_id}-out")
        consumer = None
        states = None
        clean = False
        try:
            ensure_output_topics(self.config)
            backend = self._start_backend()
            consumer = make_consumer(source)
            processor, states = self._wire(consumer, producer, backend)
            topics = [source.topic] + ([source.labels_topic] if source.labels_topic else [])
            consumer.subscribe(topics, listener=states)
            log.info("consuming %s as group %s", topics, source.group_id)
            last_lag = 0.0
            while not self.stop_event.is_set():
                # A forked backend processes the previous batch during this poll.
                records = self._poll(consumer)
                # a poll that returned (even empty) means the session is alive: /healthz
                self.exporter.mark_alive()
                self._step(processor, states, records)
                refresh = time.monotonic() - last_lag > LAG_REFRESH_S
                export_lag(consumer, states, self.exporter,
                           self.config.source.auto_offset_reset, refresh=refresh)
                if refresh:
                    last_lag = time.monotonic()
            # Graceful stop: finish the last batch; write every partition and commit.
            self._step(processor, states, {})
            states.checkpoint(list(states.next_offsets), force=True)
            backend.sync()  # the checkpoints are written before the commit
            states.commit(raise_errors=False, timeout_ms=COMMIT_TIMEOUT_MS)
            clean = True
        finally:
            if states is not None and not clean:
                # Nothing of an unfinished batch may reach a checkpoint or a commit.
                self._stop_backend()
                states.clear()
            if consumer is not None:
                consumer.close(autocommit=False, timeout_ms=5_000)
            producer.close(timeout=5)

    def _wire(self, consumer: Any, producer: Any,
              backend: DetectionBackend) -> tuple[BatchProcessor, PartitionStates]:
        config = self.config
        dead_letters = (DeadLetterProducer(producer, config.dead_letter.topic_suffix)
                        if config.dead_letter.enabled else None)
        predictions = (PredictionsProducer(producer, config.outputs.predictions_topic,
                                           self.model.class_names)
                       if config.outputs.predictions_topic else None)
        processor: BatchProcessor | None = None

        def before_revoke(_: list[TopicPartition]) -> None:
            if processor is not None:
                processor.finish_in_flight()
                processor.flush_outputs()

        states = PartitionStates(consumer, self.store, backend, config.source.topic,
                                 config.source.labels_topic, before_revoke=before_revoke,
                                 forget_partition=self.exporter.forget_source)
        self.states = states
        sinks = OutcomeSinks(self.summary, exporter=self.exporter, dead_letters=dead_letters,
                             predictions=predictions)
        processor = BatchProcessor(backend, states, sinks, events_topic=config.source.topic,
                                   labels_topic=config.source.labels_topic,
                                   n_classes=len(self.model.class_names))
        return processor, states

    def _poll(self, consumer: Any) -> dict[Any, list[Any]]:
        max_rows = self.config.batch.max_rows
        deadline = time.monotonic() + self.config.batch.max_wait_ms / 1000.0
        timeout_ms = self.config.source.poll_timeout_ms
        merged: dict[Any, list[Any]] = {}
        n = 0
        while n < max_rows and not self.stop_event.is_set():
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=max_rows - n)
            if not polled:
                break
            for tp, records in polled.items():
                merged.setdefault(tp, []).extend(records)
                n += len(records)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            timeout_ms = 0
        return merged

    def _step(self, processor: BatchProcessor, states: PartitionStates,
              records: dict[Any, list[Any]]) -> None:
        """Finish the batch in flight and start ``records``.

        The next batch is submitted as soon as the backend is done with the previous one --
        before that one's outcomes are applied, its outputs flushed and its offsets committed
        -- so a forked backend is idle only for the hand-over. The previous batch's checkpoint
        is captured before the next batch reaches the backend and written only after the flush
        succeeded (a checkpoint never covers unacknowledged dead letters).
        """
        states.raise_commit_failure()
        waiting = processor.receive()  # the batch in flight is done, its offsets advanced
        offsets_only = None
        if waiting:
            self.n_batches += 1
            if self.n_batches % self.config.checkpoint.every_batches == 0:
                offsets_only = states.capture()
            offsets = dict(states.next_offsets)
        if records:
            processor.submit(records)
        if not waiting:
            return
        counts = processor.complete()
        processor.flush_outputs()
        if offsets_only is not None:
            states.write(offsets_only)
        # Committing before the checkpoint is written is safe: a partition restarts from its
        # checkpoint's offset, whatever was committed. Not waited for: a failure fails the
        # next step (and the last commit of a session is synchronous).
        states.commit_async(offsets)
        self.backoff_s = self.backoff_initial_s
        if counts is not None:
            log.debug("batch %d: %d records, %d processed, %d dead letters", self.n_batches,
                      counts.n_records, counts.n_processed, sum(counts.dead_letters.values()))


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def run_kafka(config: RunConfig, *, out: IO[str] | None = None,
              stop_event: threading.Event | None = None, model: Any | None = None,
              backoff_initial_s: float = BACKOFF_INITIAL_S,
              backoff_max_s: float = BACKOFF_MAX_S) -> RunSummary:
    """Run the Kafka executor until SIGTERM/SIGINT or ``stop_event``; print and return the
    summary. Serves ``/metrics`` and ``/healthz`` when ``metrics.enabled``."""
    from driftline.executor.metrics_http import serve

    out = sys.stdout if out is None else out
    stop = stop_event if stop_event is not None else threading.Event()
    restore = _install_signal_handlers(stop)
    executor = KafkaExecutor(config, model=model, stop_event=stop,
                             backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s)
    server = None
    try:
        if config.metrics.enabled:
            server = serve(executor.exporter, port=config.metrics.port, host=config.metrics.host,
                           max_age_seconds=config.metrics.max_age_s)
            host, port = server.server_address[:2]
            executor.summary.metrics_url = f"http://{host}:{port}/metrics"
            print(f"metrics: http://{host}:{port}/metrics  health: http://{host}:{port}/healthz",
                  file=out, flush=True)
        summary = executor.run()
    finally:
        restore()
        if server is not None:
            server.shutdown()
            server.server_close()
    print(format_summary(summary, executor.model.profile.feature_names), file=out, flush=True)
    log.info("executor stopped", extra={"batches": executor.n_batches,
                                        "sessions": executor.n_sessions,
                                        "processed": summary.n_processed})
    return summary
