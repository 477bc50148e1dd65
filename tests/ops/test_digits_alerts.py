"""The vision example end to end on a real broker and a real Prometheus: the digits CNN and its
reducers built as the example's README says, two streams of image events on Tansu -- one
unshifted, one with large Gaussian noise from its middle (the replay's Failing Loudly shift) --
each consumed by ``driftline run`` with the example's ``kafka.yaml``, scraped by Prometheus with
the project's rules: ``DriftlineReducedInputDrift`` fires for the shifted stream, on reduced
streams and features only, and never for the unshifted one.

The two executors run one after the other on the same metrics port, so one Prometheus target
sees both (rules' ``for:`` shortened to 3 s, tests/ops/services.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftline.configs import build_config
from driftline.dataloader.image_replay import ImageReplay, ImageReplayConfig
from driftline.executor.reduced_detectors import REDUCED_STREAMS
from driftline.executor.replay import replay
from driftline.utils.cli import main as cli
from tests.conftest import free_port
from tests.ops.conftest import ROOT
from tests.ops.services import MonitoringStack, get_json
from tests.ops.test_alerting_e2e import driftline_command

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus, pytest.mark.slow,
              pytest.mark.timeout(600)]

EXAMPLE = ROOT / "configs" / "examples" / "digits"
ALERT = "DriftlineReducedInputDrift"
LENGTH = 3000


@pytest.fixture(scope="module")
def digits_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's model, profile and reducers, by its README's commands."""
    directory = tmp_path_factory.mktemp("digits")
    assert cli(["train-digits", "--output-dir", str(directory), "--epochs", "15"]) == 0
    assert cli(["profile", "--schema", str(EXAMPLE / "schema.yaml"), "--reference",
                str(directory / "digits_reference.jsonl"), "--output-dir", str(directory),
                "--reducer", "pca:16", "--reducer", "bbsd", "--progress", "none"]) == 0
    return directory


def executor_config(tmp: Path, artifacts: Path, bootstrap: str, topic: str,
                    metrics_port: int) -> Path:
    """The example's kafka.yaml with its model in ``artifacts`` and its outputs in ``tmp``."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLE / "kafka.yaml").read_text())
    data["source"].update(bootstrap_servers=bootstrap, topic=topic, group_id=f"{topic}.group",
                          poll_timeout_ms=200, session_timeout_ms=6000,
                          heartbeat_interval_ms=1000)
    data["model"].update(artifacts_dir=str(artifacts), path=str(artifacts / "model.ts"))
    data["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": metrics_port,
                       "drift_hold_s": 300}
    data["checkpoint"] = {"dir": str(tmp / f"checkpoints-{topic}")}
    data["dead_letter"] = {"enabled": False}
    data["batch"]["max_rows"] = 250  # the example's worker process kept
    path = tmp / f"{topic}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def produce(bootstrap: str, topic: str, shifted: bool) -> None:
    """The example's replay: 3,000 test images, large Gaussian noise from the middle or none."""
    run = yaml.safe_load((EXAMPLE / "run.yaml").read_text())["source"]["digits"]
    run.update(length=LENGTH, change_point=LENGTH // 2, start_time=0.0)
    if not shifted:
        run.pop("shift")
    else:
        assert run["shift"] == {"family": "gaussian_noise", "level": "large"}
    events = ImageReplay(build_config(run, ImageReplayConfig)).events()
    summary = replay(events, bootstrap_servers=bootstrap, topic=topic, partitions=1,
                     labels="none", progress=False)
    assert summary.n_sent == LENGTH


def processed(metrics_port: int) -> float:
    """``driftline_events_processed_total`` of the running executor (0 before it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                    timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "driftline_events_processed_total")


def watch(stack: MonitoringStack, executor: subprocess.Popen[bytes], metrics_port: int,
          quiet_s: float) -> list[dict[str, Any]]:
    """Every ``ALERT`` Prometheus shows (pending or firing) until one fires, or until the
    executor has processed the whole stream and ``quiet_s`` more seconds passed."""
    seen: list[dict[str, Any]] = []
    done_at = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert executor.poll() is None, "the executor exited"
        alerts = [a for a in get_json(f"{stack.prom_url}/api/v1/alerts")["data"]["alerts"]
                  if a["labels"]["alertname"] == ALERT]
        seen += alerts
        if any(a["state"] == "firing" for a in alerts):
            return seen
        if done_at is None and processed(metrics_port) >= LENGTH:
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at > quiet_s:
            return seen
        time.sleep(0.5)
    raise TimeoutError(f"executor did not get through {LENGTH} events")


def test_reduced_drift_alert_fires_for_the_shifted_stream_only(
        tmp_path: Path, kafka_broker: Any, digits_artifacts: Path) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    results = {}
    with MonitoringStack(tmp_path, metrics_port) as stack:
        for name, shifted in (("digits.clean", False), ("digits.shifted", True)):
            produce(bootstrap, name, shifted)
            config = executor_config(tmp_path, digits_artifacts, bootstrap, name, metrics_port)
            with (tmp_path / f"{name}.log").open("wb") as log:
                executor = subprocess.Popen(
                    [*driftline_command(), "run", "--config", str(config)], cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT)
                try:
                    # rules evaluate every 1 s with for: 3s; 10 s leave room for a slow scrape
                    results[name] = watch(stack, executor, metrics_port, quiet_s=10)
                finally:
                    executor.send_signal(signal.SIGINT)
                    try:
                        executor.wait(timeout=60)
                    finally:
                        if executor.poll() is None:
                            executor.kill()
            output = (tmp_path / f"{name}.log").read_text(errors="replace")
            assert "Traceback" not in output, output[-3000:]
    assert results["digits.clean"] == [], results["digits.clean"]
    firing = [a["labels"] for a in results["digits.shifted"] if a["state"] == "firing"]
    assert firing, (results["digits.shifted"], stack.log_tail("prometheus"))
    components = {f"pca_{i}" for i in range(16)} | {f"bbsd_{i}" for i in range(10)}
    for labels in firing:
        assert labels["stream"] in REDUCED_STREAMS and labels["severity"] == "warning"
        assert labels["feature"] in components | {"pca", "bbsd", "class"}, labels
