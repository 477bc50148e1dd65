"""Every series the alert rules and the Grafana dashboard read is produced by the real executor.

The reference is the ``/metrics`` page of a short executor run (``executor_samples`` in
conftest.py), not the exporter's own declarations: a metric or label value the pipeline never
feeds would leave an alert that can never fire or a panel that stays empty.
"""

from __future__ import annotations

import re
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.ops.conftest import EXECUTOR_DETECTORS, KAFKA_ONLY, OPS, metric_names_in, require_binary
from tests.ops.services import free_port
from tests.ops.test_grafana_dashboard import dashboard_exprs, substitute

RULE_FILES = sorted((OPS / "prometheus" / "rules").glob("*.yml"))
SELECTOR = re.compile(r"\b(driftline_[a-zA-Z0-9_]+)\s*\{([^}]*)\}")
EQUALITY = re.compile(r'(\w+)\s*=\s*"([^"]*)"')  # `=` matchers only (not `!=`, `=~`)


def rule_exprs() -> list[str]:
    docs = [yaml.safe_load(path.read_text()) for path in RULE_FILES]
    return [r["expr"] for doc in docs for g in doc["groups"] for r in g["rules"]]


def recorded_names() -> set[str]:
    docs = [yaml.safe_load(path.read_text()) for path in RULE_FILES]
    return {r["record"] for doc in docs for g in doc["groups"] for r in g["rules"]
            if "record" in r}


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """``(metric, {label: value})`` of each ``driftline_*{label="value", ...}`` selector."""
    return [(name, dict(EQUALITY.findall(body))) for name, body in SELECTOR.findall(expr)]


def test_selector_parsing() -> None:
    expr = ('sum(rate(driftline_predictions_total{predictor="fallback", job!="x"}[5m])) '
            '/ driftline_drift_detected{stream=~"in.*"}')
    assert selectors(expr) == [("driftline_predictions_total", {"predictor": "fallback"}),
                               ("driftline_drift_detected", {})]


def assert_reads_are_exported(samples: list[Sample], not_exported: set[str]) -> None:
    """Every metric (and selector label value) of the rules and the dashboard is among
    ``samples``, except the families ``not_exported`` and the recording rules' outputs."""
    exported = {s.name for s in samples}
    exprs = rule_exprs() + [substitute(e) for e in dashboard_exprs()]
    used = set().union(*(metric_names_in(e) for e in exprs))
    assert used - exported - recorded_names() <= not_exported
    # Each selector's label values exist on some series (e.g. stream="errors", a feature).
    for expr in exprs:
        for name, labels in selectors(expr):
            if name in not_exported:
                continue
            assert any(s.name == name and labels.items() <= s.labels.items()
                       for s in samples), (name, labels, expr)


def test_rules_and_dashboard_read_only_what_the_executor_exports(
    executor_samples: list[Sample], example_samples: list[Sample],
) -> None:
    # the insurance demo and a worked example's schema events (categorical fields, data
    # quality) together: some families exist only on the schema path
    samples = executor_samples + example_samples
    assert_reads_are_exported(samples, KAFKA_ONLY)
    with pytest.raises(AssertionError):  # the check sees a missing family
        assert_reads_are_exported(
            [s for s in samples if s.name != "driftline_detector_error_rate"], KAFKA_ONLY)
    with pytest.raises(AssertionError):  # and a schema-path family
        assert_reads_are_exported(
            [s for s in samples if s.name != "driftline_category_values_total"], KAFKA_ONLY)


def test_every_detector_stream_is_exported(executor_samples: list[Sample]) -> None:
    """The demo detectors (inputs, predictions and labelled errors) all reach /metrics with a
    statistic, a threshold and a drift flag, so every drift alert has series to read."""
    flags = {(s.labels["detector"], s.labels["stream"]) for s in executor_samples
             if s.name == "driftline_drift_detected"}
    assert {stream for _, stream in flags} == {"inputs", "predictions", "errors"}
    assert {d for d, s in flags if s == "errors"} == {"ddm", "eddm", "hddm_a", "adwin"}
    assert {d for d, s in flags if s == "inputs"} >= {"incremental_ks", "page_hinkley",
                                                      "nm_ddm"}
    processed = [s.value for s in executor_samples
                 if s.name == "driftline_events_processed_total"]
    assert processed == [3000.0]
    dead = [s.value for s in executor_samples
            if s.name == "driftline_events_dead_lettered_total"]
    assert dead == [8.0]


def promtool_check_metrics(page: str) -> str:
    """The complaints of ``promtool check metrics`` about ``page`` ("" when clean)."""
    result = subprocess.run([require_binary("promtool"), "check", "metrics"], input=page,
                            capture_output=True, text=True, timeout=60)
    complaints = (result.stdout + result.stderr).strip()
    assert (result.returncode == 0) == (complaints == ""), complaints
    return complaints


@pytest.mark.prometheus
def test_promtool_check_metrics_is_clean_on_the_executor_page(executor_page: str) -> None:
    assert promtool_check_metrics(executor_page) == ""
    # The same check sees an `le` label on a gauge (what the reference CDF gauge had).
    bad = executor_page + (
        '# HELP driftline_cdf_ratio A gauge.\n# TYPE driftline_cdf_ratio gauge\n'
        'driftline_cdf_ratio{le="1.0"} 0.5\n')
    assert 'non-histogram metrics should not have "le" label' in promtool_check_metrics(bad)


def test_bucket_edge_labels_have_three_significant_digits(executor_samples: list[Sample]) -> None:
    """Quantile edges of the trained profile are rounded (model.profile.round_edges): a retrain
    mostly keeps the same le/bin label values instead of minting new series."""
    bounds = {s.labels.get("le") or s.labels["bin"] for s in executor_samples
              if s.name in ("driftline_live_value_bucket", "driftline_reference_bin_ratio",
                            "driftline_reference_cumulative_ratio",
                            "driftline_live_bin_observations_total")}
    bounds.discard("+Inf")
    assert len(bounds) > 40
    for bound in bounds:
        assert float(bound) == float(f"{float(bound):.3g}"), bound
        assert len(bound) <= 8, bound


def scrape_page(port: int) -> str:
    """The text of ``127.0.0.1:port/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        return str(page.read().decode())


def samples_of(page: str) -> list[Sample]:
    return [s for f in text_string_to_metric_families(page) for s in f.samples]


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_kafka_executor_exports_everything_rules_and_dashboard_read(
    kafka_broker: Any, artifacts_dir: Path, tmp_path: Path, example_samples: list[Sample]
) -> None:
    """The consumer-group executor (what docker-compose runs) on a 3-partition topic exports
    every family read by the rules and the dashboard, consumer lag per partition included."""
    from driftline.executor.config import load_run_config
    from driftline.executor.kafka_runner import KafkaExecutor
    from driftline.executor.metrics_http import serve
    from driftline.executor.replay import insurance_events, replay

    topic = f"ops-metrics-{tmp_path.name[-12:]}"
    total, events = insurance_events([1])
    replay(events, bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic,
           partitions=3, total=total, progress=False)
    path = tmp_path / "kafka.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"kind": "kafka", "bootstrap_servers": kafka_broker.bootstrap_servers,
                   "topic": topic, "group_id": topic, "client_id": topic,
                   "poll_timeout_ms": 200, "session_timeout_ms": 6000,
                   "heartbeat_interval_ms": 1000, "max_poll_interval_ms": 10000},
        "model": {"artifacts_dir": str(artifacts_dir)},
        "detectors": EXECUTOR_DETECTORS,
        "batch": {"max_rows": 500, "max_wait_ms": 100},
        "checkpoint": {"dir": str(tmp_path / "checkpoints")},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": free_port()},
    }))
    config = load_run_config(path, environ={})
    stop = threading.Event()
    executor = KafkaExecutor(config, stop_event=stop)
    server = serve(executor.exporter, port=config.metrics.port)
    thread = threading.Thread(target=executor.run, daemon=True)
    thread.start()
    try:
        samples: list[Sample] = []
        page = ""
        for _ in range(600):
            page = scrape_page(config.metrics.port)
            samples = samples_of(page)
            processed = sum(s.value for s in samples
                            if s.name == "driftline_events_processed_total")
            lag = {s.labels["partition"] for s in samples
                   if s.name == "driftline_consumer_lag_messages"}
            if processed == total and lag == {"0", "1", "2"}:
                break
            if not thread.is_alive():
                break
            stop.wait(0.1)
        assert processed == total, processed
        assert lag == {"0", "1", "2"}
        # the schema path's families come from the worked example's run
        assert_reads_are_exported(samples + example_samples, set())
        assert {"driftline_consumer_lag_messages"} <= {s.name for s in samples}
        assert promtool_check_metrics(page) == ""
    finally:
        stop.set()
        thread.join(timeout=30)
        server.shutdown()
        server.server_close()
    assert not thread.is_alive()
