"""Service-level metrics of the executor: events, predictions, batch latency, lag, liveness.

:class:`ServiceMetrics` is the part of :class:`executor.exporter.DriftExporter` that does not
depend on detectors: throughput and failure counters, the batch latency histogram, the time of
the last successful batch, the consumer lag per partition, and the liveness behind
``/healthz``. The alert rules read them for the failure ratio, the stalled pipeline and the
consumer lag (``ops/prometheus/rules/alerts.yml``).

Example
-------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = ServiceMetrics(CollectorRegistry(), clock=lambda: 1700000000.0)
>>> metrics.observe_events(processed=10, failed_by_reason={"decode": 1}, dead_lettered=1)
>>> metrics.observe_batch_latency(0.02)
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

__all__ = ["DEFAULT_LATENCY_BUCKETS", "ServiceMetrics"]

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
        self._last_success: float | None = None
        self._last_alive: float | None = None
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
        for reason in failure_reasons:
            self.events_failed.labels(reason=reason)
        for predictor in predictors:
            self.predictions.labels(predictor=predictor)

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
        """Record one successful batch of ``seconds`` wall time (also marks health)."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.batch_latency.observe(seconds)
        now = self.clock()
        self.last_success_ts.set(now)
        with self._lock:
            self._last_success = now

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

    def mark_alive(self) -> None:
        """Record that the consuming loop is running although no batch arrived (an idle topic
        is healthy; a stuck or disconnected loop is not)."""
        now = self.clock()
        with self._lock:
            self._last_alive = now

    def healthy(self, max_age_seconds: float) -> bool:
        """True when the last successful batch, or the last sign of life of an idle consuming
        loop (:meth:`mark_alive`), is at most ``max_age_seconds`` old."""
        with self._lock:
            seen = [t for t in (self._last_success, self._last_alive) if t is not None]
        return bool(seen) and self.clock() - max(seen) <= max_age_seconds
