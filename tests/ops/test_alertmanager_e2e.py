"""The project's Alertmanager config, live: routing to the webhooks (the watchdog to its own)
and dataset-level inhibition.

Alerts are posted straight to Alertmanager's API (what Prometheus does); only group waits and
webhook addresses are overridden in a generated copy of ops/alertmanager/alertmanager.yml.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import require_binary
from tests.ops.services import alert_receiver, free_port, wait_ready, write_configs

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(60)]


def alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "job": "driftline-executor",
                   "instance": "127.0.0.1:9108", **labels},
        "annotations": {"summary": name},
        "startsAt": datetime.now(UTC).isoformat(),
    }


def post(url: str, body: Any) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def test_dataset_drift_mutes_feature_warnings_and_the_watchdog_has_its_receiver(
    tmp_path: Path,
) -> None:
    binary = require_binary("prometheus-alertmanager")
    receiver = alert_receiver.start()
    am_port = free_port()
    cfg = write_configs(tmp_path, 1, am_port, receiver.server_address[1])
    with (tmp_path / "am.log").open("wb") as log:
        am = subprocess.Popen([
            binary, f"--config.file={cfg / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{am_port}"
            wait_ready(f"{base}/-/ready", am, time.monotonic() + 20)
            post(f"{base}/api/v2/alerts", [
                alert("DriftlineDatasetDrift", "critical"),
                alert("DriftlineFeatureDrift", "warning", detector="ks", feature="age"),
                alert("DriftlineInputVectorDrift", "warning", detector="nm_ddm"),
                alert("DriftlineConsumerLagHigh", "warning", topic="events"),
                {"labels": {"alertname": "DriftlineWatchdog", "severity": "none"},
                 "annotations": {"summary": "heartbeat"},
                 "startsAt": datetime.now(UTC).isoformat()},
            ])
            deadline = time.monotonic() + 20
            paths: dict[str, set[str]] = {}
            while time.monotonic() < deadline and len(paths) < 3:
                time.sleep(0.2)
                with receiver.lock:
                    for _, path, payload in receiver.notifications:
                        paths.setdefault(path, set()).update(
                            a["labels"]["alertname"] for a in payload["alerts"])
            time.sleep(2.0)  # leave time for a (wrong) notification of the muted alert
            with receiver.lock:
                for _, path, payload in receiver.notifications:
                    paths.setdefault(path, set()).update(
                        a["labels"]["alertname"] for a in payload["alerts"])
            state = {a["labels"]["alertname"]: a["status"] for a in json.loads(
                urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5).read())}
        finally:
            am.terminate()
            am.wait(timeout=10)
            receiver.shutdown()
            receiver.server_close()
    assert paths == {"/alerts/critical": {"DriftlineDatasetDrift"},
                     "/alerts": {"DriftlineConsumerLagHigh"},
                     "/alerts/watchdog": {"DriftlineWatchdog"}}, paths
    for muted in ("DriftlineFeatureDrift", "DriftlineInputVectorDrift"):
        assert state[muted]["state"] == "suppressed"
        assert state[muted]["inhibitedBy"]
    assert state["DriftlineConsumerLagHigh"]["state"] == "active"
