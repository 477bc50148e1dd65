"""ServiceMetrics: lag series of revoked partitions go; the last-batch timestamp."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftline.executor.metrics_service import ServiceMetrics


def lag_series(metrics: ServiceMetrics) -> dict[tuple[str, str], float]:
    text = _page(metrics)
    return {(s.labels["topic"], s.labels["partition"]): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "driftline_consumer_lag_messages"}


def _page(metrics: ServiceMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_retain_consumer_lag_drops_revoked_partitions_only() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    for partition, lag in ((0, 10), (1, 20), (2, 30)):
        metrics.set_consumer_lag("events", partition, lag)
    metrics.set_consumer_lag("labels", 0, 5)
    metrics.retain_consumer_lag([("events", 0), ("events", 2), ("labels", 0)])
    assert lag_series(metrics) == {("events", "0"): 10, ("events", "2"): 30, ("labels", "0"): 5}
    metrics.retain_consumer_lag([])
    assert lag_series(metrics) == {}
    metrics.retain_consumer_lag([])  # nothing left to drop
    metrics.set_consumer_lag("events", 1, 7)  # re-assigned later: exported again
    assert lag_series(metrics) == {("events", "1"): 7}


def test_last_successful_batch_timestamp_starts_at_zero() -> None:
    now = [500.0]
    metrics = ServiceMetrics(CollectorRegistry(), clock=lambda: now[0])
    assert "driftline_last_successful_batch_timestamp_seconds 0.0" in _page(metrics)
    metrics.observe_batch_latency(0.5)
    now[0] = 900.0
    assert "driftline_last_successful_batch_timestamp_seconds 500.0" in _page(metrics)
