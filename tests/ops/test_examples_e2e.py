"""The worked examples end to end: a user's schema, profile and model (or none) -> events on a
real broker (Tansu) -> the consumer-group executor -> /metrics -> Prometheus with the project's
rules (tests/ops/services.py: only the timings shortened).

Each example is built as its README says (tests/configs/example_setup.py), its stream file with
the documented drift is produced to a topic, and the executor consumes it with the example's
kafka.yaml. The alerts must name the example's own columns: solar_flare (categorical fields,
model served elsewhere) drifts in ``zurich_class`` and ``largest_spot_size``, loses a quarter of
``largest_spot_size`` and gets an unseen Zurich class; image_segments (numeric fields,
TorchScript model) halves the brightness of twelve fields and the model's error rate rises.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.configs.example_setup import build_example
from tests.ops.services import MonitoringStack, free_port, get_json

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus, pytest.mark.slow,
              pytest.mark.timeout(600)]

#: fields whose brightness the image_segments stream halves
SCALED = {"intensity_mean", "rawred_mean", "rawblue_mean", "rawgreen_mean", "exred_mean",
          "exblue_mean", "exgreen_mean", "value_mean", "vedge_mean", "vedge_sd", "hedge_mean",
          "hedge_sd"}
#: per example: (alert name, label, value) that must become active
EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "solar_flare": {("DriftlineFeatureDrift", "feature", "zurich_class"),
                    ("DriftlineFeatureDrift", "feature", "largest_spot_size"),
                    ("DriftlineDataQualityMissing", "field", "largest_spot_size"),
                    ("DriftlineDataQualityUnseenCategory", "field", "zurich_class")},
    "image_segments": {("DriftlineFeatureDrift", "feature", "intensity_mean"),
                       ("DriftlineErrorRateDrift", "alertname", "DriftlineErrorRateDrift")},
}


def _samples(port: int) -> list[Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        text = page.read().decode()
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def _kafka_config(kafka: Path, broker: str, topic: str, tmp: Path, port: int) -> Path:
    data = yaml.safe_load(kafka.read_text())
    data["source"].update(bootstrap_servers=broker, topic=topic, group_id=topic, client_id=topic,
                          poll_timeout_ms=200, session_timeout_ms=6000,
                          heartbeat_interval_ms=1000, max_poll_interval_ms=60000)
    data["checkpoint"] = {"dir": str(tmp / "checkpoints")}
    data["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": port, "drift_hold_s": 600}
    data["logging"] = {"level": "WARNING", "format": "text"}
    path = tmp / "kafka-test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_scraped(stack: MonitoringStack, metric: str, timeout_s: float = 60.0) -> None:
    """Until Prometheus holds a sample of ``metric``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if get_json(f"{stack.prom_url}/api/v1/query", {"query": metric})["data"]["result"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never scraped {metric}: {stack.log_tail('prometheus')}")


def _active(stack: MonitoringStack) -> set[tuple[str, str, str]]:
    """``(alertname, label, value)`` of every pending or firing alert, for each label."""
    alerts = get_json(f"{stack.prom_url}/api/v1/alerts")["data"]["alerts"]
    return {(a["labels"]["alertname"], key, value) for a in alerts
            for key, value in a["labels"].items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_on_kafka_raises_alerts_for_its_own_columns(
        name: str, kafka_broker: Any, tmp_path: Path) -> None:
    from driftline.executor.config import load_run_config
    from driftline.executor.file_replay import FileReplay
    from driftline.executor.kafka_runner import KafkaExecutor
    from driftline.executor.metrics_http import serve
    from driftline.executor.replay import replay

    run, kafka = build_example(name, tmp_path)
    events = list(FileReplay(load_run_config(run, environ={}).source.file).events())
    topic = f"{name}-{tmp_path.name[-10:]}"
    replay(events, bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, partitions=1,
           total=len(events), progress=False)
    port = free_port()
    config = load_run_config(_kafka_config(kafka, kafka_broker.bootstrap_servers, topic,
                                           tmp_path, port), environ={})
    with MonitoringStack(tmp_path, port) as stack:
        stop = threading.Event()
        executor = KafkaExecutor(config, stop_event=stop)
        server = serve(executor.exporter, port=port)
        # the counters' zeros must be scraped before the events arrive: a series whose first
        # sample is its final value has no increase (the recording rule divides 0 by 0), and
        # with calibrations in closed form the executor can process the whole stream within
        # one scrape interval
        _wait_scraped(stack, "driftline_category_values_total" if name == "solar_flare"
                      else "driftline_events_processed_total")
        thread = threading.Thread(target=executor.run, daemon=True)
        thread.start()
        try:
            processed = 0.0
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and thread.is_alive():
                samples = _samples(port)
                processed = sum(s.value for s in samples
                                if s.name == "driftline_events_processed_total")
                if processed == len(events):
                    break
                time.sleep(0.5)
            assert processed == len(events), (processed, len(events))
            active: set[tuple[str, str, str]] = set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not EXPECTED[name] <= active:
                active = _active(stack)
                time.sleep(1.0)
            assert EXPECTED[name] <= active, (sorted(active), stack.log_tail("prometheus"))
            samples = _samples(port)
            unseen = get_json(f"{stack.prom_url}/api/v1/query", {"query": (
                'driftline:category_live:ratio10m{category="__unseen__"}')})["data"]["result"]
        finally:
            stop.set()
            thread.join(timeout=60)
            server.shutdown()
            server.server_close()
    drifted = {value for alert, key, value in active
               if alert == "DriftlineFeatureDrift" and key == "feature"}
    names = {s.name for s in samples}
    if name == "image_segments":
        assert drifted <= SCALED, drifted - SCALED  # only the scaled fields drift
        return
    assert drifted <= {"zurich_class", "largest_spot_size"}, drifted
    # the categorical read-outs of the drifted field
    by_category = {s.labels["category"]: s.value for s in samples
                   if s.name == "driftline_category_values_total"
                   and s.labels["feature"] == "zurich_class"}
    assert by_category["__unseen__"] > 0 and sum(by_category.values()) == len(events)
    assert {"driftline_category_reference_ratio", "driftline_detector_effect_size",
            "driftline_unseen_category_rate", "driftline_data_quality_baseline_ratio"} <= names
    # the recording rule: live frequencies per category, here of the unseen Zurich class
    ratios = {r["metric"]["feature"]: float(r["value"][1]) for r in unseen}
    assert ratios["zurich_class"] > 0 and ratios["largest_spot_size"] == 0, ratios
