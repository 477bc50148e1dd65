"""Real Prometheus and Alertmanager processes for the ops end-to-end tests.

:func:`write_configs` writes copies of the project's configs in which only timings and addresses
change (1 s scrape/evaluation, alert ``for:`` clauses of 3 s, Alertmanager group waits of 1 s,
loopback ports); expressions, labels, routes and inhibitions are the project's.
:class:`MonitoringStack` starts both binaries and the example webhook receiver
(``ops/scripts/alert_receiver.py``) and stops them again.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any

import yaml

from tests.conftest import free_port
from tests.ops.conftest import OPS, require_binary


def _load_receiver() -> ModuleType:
    # ops/ is not a Python package: load the standalone script by path.
    spec = importlib.util.spec_from_file_location(
        "alert_receiver", OPS / "scripts" / "alert_receiver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


alert_receiver = _load_receiver()


def get_json(url: str, params: dict[str, str] | None = None) -> Any:
    """GET ``url`` (with query ``params``) and decode the JSON answer."""
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Poll ``url`` until it answers; fail if ``process`` dies or ``deadline`` passes."""
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
    """Test copies of prometheus.yml, the rule files and alertmanager.yml in ``tmp``."""
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
    for route in (am["route"], *am["route"]["routes"]):
        route.update(group_wait="1s", group_interval="1s")
    for receiver in am["receivers"]:
        for hook in receiver["webhook_configs"]:
            path = urllib.parse.urlsplit(hook["url"]).path
            hook["url"] = f"http://127.0.0.1:{hook_port}{path}"
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am))
    return tmp


class MonitoringStack:
    """Prometheus scraping ``127.0.0.1:exporter_port``, Alertmanager and the webhook receiver,
    all on free loopback ports, with the configs of :func:`write_configs` (a context manager)."""

    def __init__(self, tmp: Path, exporter_port: int) -> None:
        self.tmp = tmp
        self.exporter_port = exporter_port
        self.prometheus_bin = require_binary("prometheus")
        self.alertmanager_bin = require_binary("prometheus-alertmanager")
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []
        self.receiver: Any = None
        self.prom_url = ""

    def __enter__(self) -> MonitoringStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.receiver = alert_receiver.start()
        prom_port, am_port = free_port(), free_port()
        cfg = write_configs(self.tmp, self.exporter_port, am_port,
                            self.receiver.server_address[1])
        self.prom_url = f"http://127.0.0.1:{prom_port}"
        commands = {
            "alertmanager": [
                self.alertmanager_bin, f"--config.file={cfg / 'alertmanager.yml'}",
                f"--storage.path={self.tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            "prometheus": [
                self.prometheus_bin, f"--config.file={cfg / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}"],
        }
        for name, command in commands.items():
            log = (self.tmp / f"{name}.log").open("wb")
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30
        wait_ready(f"http://127.0.0.1:{am_port}/-/ready", self.processes[0], deadline)
        wait_ready(f"{self.prom_url}/-/ready", self.processes[1], deadline)

    def log_tail(self, name: str, n_chars: int = 2000) -> str:
        """The end of ``prometheus.log`` or ``alertmanager.log``."""
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-n_chars:] if path.exists() else ""

    def close(self) -> None:
        """Stop the processes started and the receiver."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()
        if self.receiver is not None:
            self.receiver.shutdown()
            self.receiver.server_close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
