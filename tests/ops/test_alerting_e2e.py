"""End to end: drifting stream -> real detectors -> DriftExporter -> Prometheus (the project's
rules) -> Alertmanager (the project's routing) -> webhook.

Prometheus and Alertmanager are the real binaries on free loopback ports. Only timings are
overridden in generated copies of the configs (1 s scrape/evaluation, `for:` 3 s, Alertmanager
group waits 1 s); expressions, labels, routes and inhibitions are the project's.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml

from detectors.incremental_ks import IncrementalKS
from executor.exporter import DriftExporter
from executor.metrics_http import serve
from model.profile import ReferenceProfile
from tests.ops.conftest import OPS, require_binary, synthetic_profile
from tests.ops.test_grafana_dashboard import dashboard_exprs, substitute


def _load_receiver() -> ModuleType:
    # ops/ is not a Python package: load the standalone script by path.
    spec = importlib.util.spec_from_file_location(
        "alert_receiver", OPS / "scripts" / "alert_receiver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


alert_receiver = _load_receiver()
pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(120)]
DRIFTED = ("age", "power")  # 2 of 5 features: feature alerts, no dataset drift
BATCH_SECONDS = 0.2
WARM_UP_SECONDS = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def write_configs(tmp: Path, exporter_port: int, am_port: int, hook_port: int) -> Path:
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    for rules in (OPS / "prometheus" / "rules").glob("*.yml"):
        text = re.sub(r"^(\s+for: )\S+$", r"\g<1>3s", rules.read_text(), flags=re.M)
        (rules_dir / rules.name).write_text(text)
    prom = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    prom["global"].update(scrape_interval="1s", evaluation_interval="1s")
    prom["rule_files"] = [str(rules_dir / Path(f).name) for f in prom["rule_files"]]
    prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{am_port}"]
    prom["scrape_configs"] = [
        {**job, "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
        for job in prom["scrape_configs"] if job["job_name"] == "driftline-executor"]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom))

    am = yaml.safe_load((OPS / "alertmanager" / "alertmanager.yml").read_text())
    routes = [am["route"], *am["route"]["routes"]]
    for route in routes:
        route.update(group_wait="1s", group_interval="1s")
    for receiver in am["receivers"]:
        for hook in receiver["webhook_configs"]:
            path = urllib.parse.urlsplit(hook["url"]).path
            hook["url"] = f"http://127.0.0.1:{hook_port}{path}"
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am))
    return tmp


class DriftingFeed:
    """Feeds reference-like rows, then rows with DRIFTED features shifted by 3 std, through
    one IncrementalKS per feature into the exporter, in a background thread."""

    def __init__(self, exporter: DriftExporter, profile: ReferenceProfile) -> None:
        self.exporter = exporter
        self.profile = profile
        self.rng = np.random.default_rng(7)
        self.ref = profile.reference_matrix()
        self.detectors = {
            name: IncrementalKS(reference=self.ref[:, j], window_size=200, alpha=0.001,
                                reset_on_drift=True)
            for j, name in enumerate(profile.feature_names)}
        for name in profile.feature_names:
            exporter.register_detector("incremental_ks", "inputs", [name])
        self.change_point: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def rows(self, n: int, drifted: bool) -> np.ndarray:
        X = self.ref[self.rng.integers(0, len(self.ref), size=n)].copy()
        if drifted:
            for name in DRIFTED:
                j = self.profile.feature_names.index(name)
                X[:, j] += 3.0 * self.profile.std[name]
        return X

    def run(self) -> None:
        start_at = time.time()
        while not self.stop.is_set():
            began = time.perf_counter()
            drifted = time.time() - start_at >= WARM_UP_SECONDS
            if drifted and self.change_point is None:
                self.change_point = time.time()
            X = self.rows(100, drifted)
            self.exporter.observe_features(X)
            for j, (name, det) in enumerate(self.detectors.items()):
                found = det.update_many(X[:, j])
                self.exporter.observe_detector(
                    "incremental_ks", "inputs", name, det.statistics,
                    drift_detected=det.drift_detected, detections=len(found))
            self.exporter.observe_events(processed=len(X))
            self.exporter.observe_predictions(n_model=len(X), n_fallback=0)
            self.exporter.observe_batch_latency(time.perf_counter() - began)
            self.stop.wait(BATCH_SECONDS)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    prometheus, alertmanager = require_binary("prometheus"), require_binary(
        "prometheus-alertmanager")
    profile = synthetic_profile()
    exporter = DriftExporter(profile, drift_hold_seconds=30.0)
    server = serve(exporter, port=0)
    receiver = alert_receiver.start()
    prom_port, am_port = free_port(), free_port()
    cfg = write_configs(tmp_path, server.server_address[1], am_port, receiver.server_address[1])
    logs = (tmp_path / "alertmanager.log").open("wb"), (tmp_path / "prometheus.log").open("wb")
    am = subprocess.Popen([
        alertmanager, f"--config.file={cfg / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address="], stdout=logs[0], stderr=subprocess.STDOUT)
    prom = subprocess.Popen([
        prometheus, f"--config.file={cfg / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=logs[1], stderr=subprocess.STDOUT)
    feed = DriftingFeed(exporter, profile)
    try:
        deadline = time.monotonic() + 30
        wait_ready(f"http://127.0.0.1:{am_port}/-/ready", am, deadline)
        wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", prom, deadline)
        feed.thread.start()
        yield {"prom": f"http://127.0.0.1:{prom_port}", "receiver": receiver, "feed": feed,
               "logs": tmp_path}
    finally:
        feed.stop.set()
        for process in (prom, am):
            process.terminate()
        for process in (prom, am):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        server.shutdown()
        server.server_close()
        receiver.shutdown()
        receiver.server_close()


def test_feature_drift_alert_reaches_the_webhook(stack: dict[str, Any]) -> None:
    prom, receiver, feed = stack["prom"], stack["receiver"], stack["feed"]
    states: dict[str, float] = {}
    notification: tuple[float, str, dict[str, Any]] | None = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and notification is None:
        alerts = get_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
        for alert in alerts:
            if alert["labels"]["alertname"] == "DriftlineFeatureDrift":
                states.setdefault(alert["state"], time.time())
        with receiver.lock:
            for note in receiver.notifications:
                names = {a["labels"]["alertname"] for a in note[2]["alerts"]}
                if "DriftlineFeatureDrift" in names and note[2]["status"] == "firing":
                    notification = note
        time.sleep(0.2)
    logs = stack["logs"]
    assert notification is not None, (
        states, receiver.notifications, (logs / "prometheus.log").read_text()[-2000:])
    assert feed.change_point is not None
    # Seen pending before firing (the `for` clause), and no alert before the change point.
    assert "pending" in states and "firing" in states, states
    assert states["pending"] <= states["firing"]
    assert states["pending"] >= feed.change_point
    received_at, path, payload = notification
    assert path == "/alerts/drift"  # warning drift alerts routed to the drift receiver
    fired = {a["labels"]["feature"] for a in payload["alerts"] if a["status"] == "firing"}
    assert fired <= set(DRIFTED) and fired
    assert all(a["labels"]["severity"] == "warning" for a in payload["alerts"])
    assert payload["alerts"][0]["annotations"]["summary"].startswith("Input drift on feature")
    print(f"\nchange point -> pending {states['pending'] - feed.change_point:.1f} s, "
          f"-> firing {states['firing'] - feed.change_point:.1f} s, "
          f"-> webhook {received_at - feed.change_point:.1f} s")

    # Recording rules on the same data: the drifted features moved away from the reference.
    ks = get_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode(
        {"query": 'driftline:binned_ks:max10m{stream="inputs"}'}))["data"]["result"]
    by_feature = {r["metric"]["feature"]: float(r["value"][1]) for r in ks}
    assert min(by_feature[f] for f in DRIFTED) > max(
        v for f, v in by_feature.items() if f not in DRIFTED)
    # Every dashboard expression is accepted by this Prometheus.
    for expr in dashboard_exprs():
        answer = get_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode(
            {"query": substitute(expr)}))
        assert answer["status"] == "success", expr
