"""A real Prometheus process running the project's rules against one scrape target.

Used by the soak (:mod:`evaluation.soak`): the rule files of ``ops/prometheus/rules`` are used
as they are; only the scrape and evaluation intervals are shortened, and the one target is a
loopback ``/metrics`` endpoint scraped as job ``driftline-executor`` (the job the rules name).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

__all__ = ["JOB", "PrometheusProcess", "free_port", "rule_files"]

JOB = "driftline-executor"
#: the repository's ops/ directory (a source checkout: ops/ is not part of the wheel)
OPS_DIR = Path(__file__).resolve().parent.parent / "ops"


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rule_files(ops_dir: Path = OPS_DIR) -> list[Path]:
    """The project's rule files (recording rules first, as ``prometheus.yml`` lists them)."""
    config = yaml.safe_load((ops_dir / "prometheus" / "prometheus.yml").read_text())
    files = [ops_dir / "prometheus" / name for name in config["rule_files"]]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"rule files not found: {missing} (the soak needs a source "
                                "checkout with ops/prometheus)")
    return files


class PrometheusProcess:
    """``prometheus`` on a free loopback port evaluating the project's rules every
    ``interval_s`` seconds and scraping ``target`` (``host:port``) every
    ``scrape_interval_s`` (default: the same; the scrape timeout is the scrape interval); a
    fresh TSDB under ``workdir``. Use as a context manager (``start=False``: :meth:`start`
    is called later, e.g. once the target serves; the context still stops it)."""

    def __init__(self, target: str, workdir: Path, *, interval_s: float = 1.0,
                 scrape_interval_s: float | None = None, binary: str = "prometheus",
                 startup_timeout_s: float = 60.0, start: bool = True) -> None:
        found = shutil.which(binary)
        if found is None:
            raise FileNotFoundError(f"{binary!r} not found on PATH; install it with "
                                    "bash ops/scripts/install-prometheus.sh")
        self.binary = found
        self.target = target
        self.workdir = Path(workdir)
        self.interval_s = float(interval_s)
        self.scrape_interval_s = float(interval_s if scrape_interval_s is None
                                       else scrape_interval_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._start_on_enter = start

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        def ms(seconds: float) -> str:
            return f"{max(1, round(seconds * 1000))}ms"

        scrape = ms(self.scrape_interval_s)
        config = {
            "global": {"scrape_interval": scrape, "scrape_timeout": scrape,
                       "evaluation_interval": ms(self.interval_s)},
            "rule_files": [str(path) for path in rule_files()],
            "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics",
                                "static_configs": [{"targets": [self.target]}]}],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self) -> None:
        """Start the process and wait until it answers."""
        config = self._write_config()
        shutil.rmtree(self.workdir / "tsdb", ignore_errors=True)  # nothing of an earlier run
        log = (self.workdir / "prometheus.log").open("wb")
        self._process = subprocess.Popen(
            [self.binary, f"--config.file={config}",
             f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._process.returncode}: "
                                   f"{self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"prometheus did not become ready within {self.startup_timeout_s} s")

    def log_tail(self, n_chars: int = 2000) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace")[-n_chars:] if path.exists() else ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now: ``[{"metric": {...}, "value": [t, "v"]}]``."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {answer}")
        return list(answer["data"]["result"])

    def wait_scraped(self, timeout_s: float = 60.0) -> None:
        """Wait until the target has been scraped successfully (``up == 1``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(float(s["value"][1]) == 1.0 for s in self.query(f'up{{job="{JOB}"}}')):
                return
            time.sleep(0.25)
        raise TimeoutError(f"prometheus did not scrape {self.target} within {timeout_s} s")

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> PrometheusProcess:
        if self._start_on_enter:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
