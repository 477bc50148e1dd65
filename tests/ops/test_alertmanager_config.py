"""Alertmanager config: amtool check-config and the routing tree (amtool config routes test)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.ops.conftest import OPS, require_binary

pytestmark = pytest.mark.prometheus
CONFIG = OPS / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True,
                          timeout=60)


def test_check_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=DriftlineErrorRateDrift", "severity=critical"], "driftline-critical"),
    (["alertname=DriftlineDatasetDrift", "severity=critical"], "driftline-critical"),
    (["alertname=DriftlineFeatureDrift", "severity=warning", "feature=age"], "driftline-drift"),
    (["alertname=DriftlinePredictionDrift", "severity=warning"], "driftline-drift"),
    (["alertname=DriftlineConsumerLagHigh", "severity=warning"], "driftline-default"),
    (["alertname=Other"], "driftline-default"),
])
def test_routing_by_severity(labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_dataset_drift_inhibits_feature_warnings() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    rules = config["inhibit_rules"]
    dataset = [r for r in rules if 'alertname="DriftlineDatasetDrift"' in r["source_matchers"]]
    assert len(dataset) == 1
    targets = " ".join(dataset[0]["target_matchers"])
    assert "DriftlineFeatureDrift" in targets and 'severity="warning"' in targets
    drift_route = next(r for r in config["route"]["routes"] if r["receiver"] == "driftline-drift")
    assert "feature" in drift_route["group_by"]
