"""Service-level metrics of the executor: events, predictions, batch latency, lag, liveness.

:class:`ServiceMetrics` is the part of :class:`executor.exporter.DriftExporter` that does not
depend on detectors: throughput and failure counters, the batch latency histogram, the time of
the last successful batch, the consumer lag per partition, records skipped past, checkpoint
and consumer-session failures, data-quality flags, and the liveness and readiness behind
``/healthz`` and ``/readyz``. The alert rules read them for the failure ratio, the stalled
pipeline, the consumer lag, failing checkpoints and skipped records
(``ops/prometheus/rules/alerts.yml``).

Liveness is *progress*: :meth:`ServiceMetrics.healthy` holds while a batch went all the way
through (:meth:`~ServiceMetrics.mark_progress`: detected, its outputs acknowledged) or the
consumer was seen connected, assigned and caught up on an idle topic
(:meth:`~ServiceMetrics.mark_caught_up`) within ``max_age_seconds``. A loop that only polls --
broker gone, a stuck worker, a loop of failures, a store refusing checkpoints -- is not alive.

Example
-------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = ServiceMetrics(CollectorRegistry(), clock=lambda: 1700000000.0)
>>> metrics.observe_events(processed=10, failed_by_reason={"decode": 1}, dead_lettered=1)
>>> metrics.observe_batch_latency(0.02)
>>> metrics.healthy(60.0)  # detected is not done: the outputs were not acknowledged yet
False
>>> metrics.mark_progress()
>>> metrics.healthy(60.0)
True
>>> metrics.set_consumer_lag("events", 0, 5)
>>> metrics.retain_consumer_lag([])  # partition 0 was revoked: its lag series goes
>>> page = generate_latest(metrics.registry).decode()
>>> "driftline_last_successful_batch_timestamp_seconds 1.7e+09" in page
True
>>> "driftline_consumer_lag_messages{" in page
False
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from driftline.executor.state_record import RESTORE_FAILURE_REASONS

__all__ = ["DEFAULT_LATENCY_BUCKETS", "SKIP_REASONS", "ServiceMetrics"]

#: reasons of ``driftline_records_skipped_total``, pre-created at 0
SKIP_REASONS = ("corrupt_record", "dead_letter_failed")
DEFAULT_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """Throughput, failures, latency, lag and liveness, registered in ``registry``.

    Parameters
    ----------
    registry : CollectorRegistry
        Registry the metrics are added to.
    failure_reasons : iterable of str
        Reasons of failed events, pre-created at 0.
    predictors : iterable of str
        Values of the ``predictor`` label of the predictions counter, pre-created at 0.
    latency_buckets : sequence of float
        Upper bounds in seconds of the batch latency histogram.
    clock : callable
        Wall clock in seconds (for timestamps and health).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        failure_reasons: Iterable[str] = ("decode", "validation", "model", "detector"),
        predictors: Iterable[str] = ("model", "fallback"),
        latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = r = registry
        self.clock = clock
        self._lock = threading.Lock()
        self._last_progress: float | None = None
        self._last_caught_up: float | None = None
        self._ready = False
        self._lag_partitions: set[tuple[str, str]] = set()
        self.events_processed = Counter(
            "driftline_events_processed", "Events decoded, scored and fed to detectors.",
            registry=r)
        self.events_failed = Counter(
            "driftline_events_failed", "Events that failed, by reason.", ["reason"], registry=r)
        self.events_dead_lettered = Counter(
            "driftline_events_dead_lettered", "Events written to the dead-letter topic.",
            registry=r)
        self.predictions = Counter(
            "driftline_predictions", "Predictions served, by predictor.", ["predictor"],
            registry=r)
        self.batch_latency = Histogram(
            "driftline_batch_duration_seconds", "Wall time to process one batch.",
            buckets=tuple(latency_buckets), registry=r)
        self.last_success_ts = Gauge(
            "driftline_last_successful_batch_timestamp_seconds",
            "Unix time of the last successfully processed batch (0: none yet).", registry=r)
        self.consumer_lag = Gauge(
            "driftline_consumer_lag_messages", "Messages behind the partition's end offset.",
            ["topic", "partition"], registry=r)
        self.records_skipped = Counter(
            "driftline_records_skipped", "Records skipped past without being processed or "
            "dead-lettered with their bytes (unreadable, or the dead letter could not be "
            "written), by reason.", ["reason"], registry=r)
        self.checkpoint_failures = Counter(
            "driftline_checkpoint_failures", "Checkpoint writes the state store refused.",
            registry=r)
        self.checkpoint_failing = Gauge(
            "driftline_checkpoint_failing", "1 while the state store refuses checkpoints: "
            "offsets are not committed and consumption is paused.", registry=r)
        self.last_checkpoint_ts = Gauge(
            "driftline_last_checkpoint_timestamp_seconds",
            "Unix time of the last checkpoint written (0: none yet).", registry=r)
        self.restore_failures = Counter(
            "driftline_state_restore_failures", "Partitions whose checkpointed state could not "
            "be restored and started cold, by reason (unreachable store, corrupt or truncated "
            "record, incompatible record version or pipeline state).", ["reason"], registry=r)
        self.session_failures = Counter(
            "driftline_consumer_session_failures", "Consumer sessions ended by an error, by "
            "the stage that failed.", ["stage"], registry=r)
        self.data_quality = Counter(
            "driftline_data_quality_flags", "Values served with a data-quality flag (e.g. "
            "out_of_range: outside the reference range), by feature and flag.",
            ["feature", "flag"], registry=r)
        for reason in failure_reasons:
            self.events_failed.labels(reason=reason)
        for reason in SKIP_REASONS:
            self.records_skipped.labels(reason=reason)
        for predictor in predictors:
            self.predictions.labels(predictor=predictor)
        for reason in RESTORE_FAILURE_REASONS:
            self.restore_failures.labels(reason=reason)

    def observe_events(
        self,
        processed: int = 0,
        failed_by_reason: Mapping[str, int] | None = None,
        dead_lettered: int = 0,
    ) -> None:
        """Count processed, failed (by reason) and dead-lettered events of a batch."""
        self.events_processed.inc(processed)
        for reason, n in (failed_by_reason or {}).items():
            self.events_failed.labels(reason=reason).inc(n)
        self.events_dead_lettered.inc(dead_lettered)

    def count_predictions(self, n_model: int, n_fallback: int) -> None:
        """Count the predictions of a batch by predictor."""
        self.predictions.labels(predictor="model").inc(n_model)
        self.predictions.labels(predictor="fallback").inc(n_fallback)

    def observe_batch_latency(self, seconds: float) -> None:
        """Record one detected batch of ``seconds`` wall time."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.batch_latency.observe(seconds)
        self.last_success_ts.set(self.clock())

    def count_skipped(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records skipped past for ``reason``."""
        self.records_skipped.labels(reason=reason).inc(n)

    def observe_quality(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        """Count data-quality flags, ``{feature: {flag: count}}``."""
        for feature, flags in counts.items():
            for flag, n in flags.items():
                self.data_quality.labels(feature=feature, flag=flag).inc(n)

    def checkpoint_written(self) -> None:
        """A checkpoint was written: the store works."""
        self.last_checkpoint_ts.set(self.clock())
        self.checkpoint_failing.set(0)

    def checkpoint_failed(self) -> None:
        """The store refused a checkpoint."""
        self.checkpoint_failures.inc()
        self.checkpoint_failing.set(1)

    def state_restore_failed(self, reason: str) -> None:
        """A partition's state could not be restored for ``reason``: it starts cold."""
        self.restore_failures.labels(reason=reason).inc()

    def session_failed(self, stage: str) -> None:
        """A consumer session ended with an error in ``stage``."""
        self.session_failures.labels(stage=stage).inc()

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set the lag (end offset minus committed position) of one partition."""
        with self._lock:
            self._lag_partitions.add((topic, str(partition)))
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)

    def retain_consumer_lag(self, assigned: Iterable[tuple[str, int]]) -> None:
        """Drop the lag series of every ``(topic, partition)`` not in ``assigned``: a revoked
        partition's last lag would otherwise stay exported (and alerted on) forever."""
        keep = {(topic, str(partition)) for topic, partition in assigned}
        with self._lock:
            gone = self._lag_partitions - keep
            self._lag_partitions -= gone
        for topic, partition in gone:
            self.consumer_lag.remove(topic, partition)

    def mark_progress(self) -> None:
        """Record that a batch went all the way through (detected, outputs acknowledged)."""
        now = self.clock()
        with self._lock:
            self._last_progress = now

    def mark_caught_up(self) -> None:
        """Record that the consumer is connected, assigned and has read everything there is
        (an idle topic is healthy)."""
        now = self.clock()
        with self._lock:
            self._last_caught_up = now

    def healthy(self, max_age_seconds: float) -> bool:
        """True when the last progress (:meth:`mark_progress`) or the last time the consumer
        was caught up (:meth:`mark_caught_up`) is at most ``max_age_seconds`` old."""
        with self._lock:
            seen = [t for t in (self._last_progress, self._last_caught_up) if t is not None]
        return bool(seen) and self.clock() - max(seen) <= max_age_seconds

    def set_ready(self, ready: bool) -> None:
        """Set what :meth:`is_ready` answers (the executor: calibrated and in a consumer group)."""
        with self._lock:
            self._ready = bool(ready)

    def is_ready(self) -> bool:
        """Whether the process is ready to do its work (``/readyz``)."""
        with self._lock:
            return self._ready
