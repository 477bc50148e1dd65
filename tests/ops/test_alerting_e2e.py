"""End to end with real processes: ``driftline run`` on a drifting replay -> /metrics ->
Prometheus (the project's rules) -> Alertmanager (the project's routing) -> webhook.

The executor is the ``driftline`` console script in a subprocess, replaying the ``abrupt`` drift
scenario (one feature's mean moves by one standard deviation at the middle row) at a fixed rate,
so Prometheus scrapes it while it runs. Prometheus and Alertmanager are the Debian binaries on
free loopback ports with the project's configs, only timings overridden (tests/ops/services.py).
The time from the change point to the webhook notification is printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftline.dataloader.scenarios import make_tabular_scenario
from driftline.model.artifacts import load_artifacts
from tests.ops.conftest import ROOT
from tests.ops.services import MonitoringStack, free_port, get_json
from tests.ops.test_grafana_dashboard import dashboard_exprs, substitute

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(120)]

SCENARIO = {"name": "abrupt", "seed": 3, "n_rows": 5000}
RATE = 250.0  # events/s: 10 s before the change point, 10 s after it


def run_config(artifacts_dir: Path, metrics_port: int) -> dict[str, Any]:
    """A replay run of the scenario with the input Page-Hinkley bank only: its thresholds are
    calibrated to the reference and pinned to its mean and standard deviation, which the
    scenario's columns (mapped onto the features) share before the change."""
    return {
        "source": {"kind": "replay", "dataset": "scenario", "scenario": SCENARIO,
                   "rate": RATE, "topic": "e2e.events"},
        "model": {"artifacts_dir": str(artifacts_dir)},
        "detectors": {
            "calibration": {"n_streams": 20, "seed": 0},
            "streams": {"features": [{"detector": "page_hinkley", "target_arl0": 20000}]},
        },
        "batch": {"max_rows": 50},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": metrics_port,
                    "drift_hold_s": 120},
        "logging": {"level": "INFO", "format": "json"},
    }


def driftline_command() -> list[str]:
    """The installed console script (as users run it), else the dispatcher module."""
    script = Path(sys.executable).with_name("driftline")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "driftline.utils.cli"]


class ProgressProbe:
    """Scrapes the executor's /metrics every 50 ms, keeping ``(time, events processed)``."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            at = time.time()  # the page is generated after this instant
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    text = response.read().decode()
            except OSError:
                self.stop.wait(0.05)
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "driftline_events_processed_total":
                        self.samples.append((at, sample.value))
            self.stop.wait(0.05)

    def crossing(self, row: int) -> tuple[float, float]:
        """``(last scrape start before, first scrape start after)`` row ``row`` (0-based)
        was processed."""
        before = max((t for t, n in self.samples if n <= row), default=None)
        after = min((t for t, n in self.samples if n > row), default=None)
        assert before is not None and after is not None, self.samples[-5:]
        return before, after


def test_executor_drift_alert_reaches_the_webhook(tmp_path: Path, artifacts_dir: Path) -> None:
    scenario = make_tabular_scenario(SCENARIO["name"], n_rows=SCENARIO["n_rows"],
                                     seed=SCENARIO["seed"])
    (change_row,) = scenario.change_points
    features = list(load_artifacts(artifacts_dir).profile.feature_names)
    # Scenario column j is replayed as model feature j.
    drifted = {features[int(name[1:])] for name in scenario.drifted_features}

    metrics_port = free_port()
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(run_config(artifacts_dir, metrics_port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    with MonitoringStack(tmp_path, metrics_port) as stack, \
            (tmp_path / "executor.log").open("wb") as executor_log:
        executor = subprocess.Popen([*driftline_command(), "run", "--config", str(config)],
                                    cwd=ROOT, env=env, stdout=executor_log,
                                    stderr=subprocess.STDOUT)
        probe = ProgressProbe(metrics_port)
        probe.thread.start()
        try:
            pending_at, seen, notification = watch_alerts(stack, executor)
        finally:
            executor.send_signal(signal.SIGINT)
            try:
                executor.wait(timeout=30)
            finally:
                if executor.poll() is None:
                    executor.kill()
                probe.stop.set()
                probe.thread.join()
        output = (tmp_path / "executor.log").read_text(errors="replace")
        assert notification is not None, (
            pending_at, seen, stack.receiver.notifications, output[-3000:],
            stack.log_tail("prometheus"))
        assert executor.returncode == 0, output[-3000:]  # SIGINT: finish the batch, summarise

        before, after = probe.crossing(change_row)
        # The alert went pending after the change point reached the executor (up to the
        # jitter of one rule evaluation: activeAt is the evaluation's nominal time), then fired.
        assert pending_at is not None and set(seen) == {"pending", "firing"}, seen
        firing_seen = seen["firing"]
        assert before - 0.5 < pending_at <= seen["pending"] < firing_seen, (
            before, pending_at, seen)
        received_at, path, payload = notification
        assert path == "/alerts/drift"  # warning drift alerts go to the drift receiver
        assert payload["status"] == "firing"
        fired = {a["labels"]["feature"] for a in payload["alerts"]
                 if a["labels"]["alertname"] == "DriftlineFeatureDrift"}
        assert fired == drifted
        assert all(a["labels"]["severity"] == "warning" for a in payload["alerts"])
        assert payload["alerts"][0]["annotations"]["summary"].startswith("Input drift on feature")
        change_at = (before + after) / 2
        print(f"\nchange point (row {change_row}) -> pending {pending_at - change_at:.1f} s, "
              f"-> firing {firing_seen - change_at:.1f} s, "
              f"-> webhook {received_at - change_at:.1f} s (change point known to "
              f"+-{(after - before) / 2:.2f} s)")

        # The recording rules and every dashboard expression work on the executor's series
        # (queried at the notification time: the executor has stopped since).
        at = f"{received_at:.3f}"
        ks = get_json(f"{stack.prom_url}/api/v1/query",
                      {"query": 'driftline:binned_ks:max10m{stream="inputs"}', "time": at})
        assert {r["metric"]["feature"] for r in ks["data"]["result"]} == set(features)
        for expr in dashboard_exprs():
            answer = get_json(f"{stack.prom_url}/api/v1/query",
                              {"query": substitute(expr), "time": at})
            assert answer["status"] == "success", expr


def watch_alerts(
    stack: MonitoringStack, executor: subprocess.Popen[bytes]
) -> tuple[float | None, dict[str, float], tuple[float, str, dict[str, Any]] | None]:
    """Poll Prometheus's alerts and the receiver until DriftlineFeatureDrift is notified.

    Returns when it became pending (Prometheus's ``activeAt``), when each state was first
    seen, and the firing notification (``None`` if it never came).
    """
    pending_at: float | None = None
    seen: dict[str, float] = {}
    exited_at: float | None = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        alerts = get_json(f"{stack.prom_url}/api/v1/alerts")["data"]["alerts"]
        for alert in alerts:
            if alert["labels"]["alertname"] != "DriftlineFeatureDrift":
                continue
            active = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00"))
            pending_at = min(active.timestamp(), pending_at or float("inf"))
            seen.setdefault(alert["state"], time.time())
        with stack.receiver.lock:
            for note in stack.receiver.notifications:
                names = {a["labels"]["alertname"] for a in note[2]["alerts"]}
                if "DriftlineFeatureDrift" in names and note[2]["status"] == "firing":
                    return pending_at, seen, note
        if executor.poll() is not None:
            # The replay is over: leave Prometheus and Alertmanager a few seconds to deliver.
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > 5:
                break
        time.sleep(0.2)
    return pending_at, seen, None
