"""Alertmanager config: amtool check-config and the routing tree (amtool config routes test)."""

from __future__ import annotations

import re
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
    (["alertname=DriftlineWatchdog", "severity=none"], "driftline-watchdog"),
    (["alertname=DriftlinePipelineStalled", "severity=critical"], "driftline-critical"),
    (["alertname=DriftlineInputVectorDrift", "severity=warning"], "driftline-drift"),
    (["alertname=DriftlineErrorRateDrift", "severity=critical"], "driftline-critical"),
    (["alertname=DriftlineDatasetDrift", "severity=critical"], "driftline-critical"),
    (["alertname=DriftlineFeatureDrift", "severity=warning", "feature=age"], "driftline-drift"),
    (["alertname=DriftlinePredictionDrift", "severity=warning"], "driftline-drift"),
    (["alertname=DriftlineUnseenCategories", "severity=warning"], "driftline-drift"),
    (["alertname=DriftlineDataQualityMissing", "severity=warning"], "driftline-default"),
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
    assert "DriftlineInputVectorDrift" in targets
    drift_route = next(r for r in config["route"]["routes"] if r["receiver"] == "driftline-drift")
    assert "feature" in drift_route["group_by"]


MATCHER = re.compile(r'^(\w+)\s*(=~|!~|!=|=)\s*"(.*)"$')


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """Alertmanager's matcher semantics (a missing label is the empty string; regexes are
    anchored)."""
    found = MATCHER.match(matcher)
    assert found, matcher
    name, op, value = found.groups()
    actual = labels.get(name, "")
    if op in ("=~", "!~"):
        return (re.fullmatch(value, actual) is not None) == (op == "=~")
    return (actual == value) == (op == "=")


def test_matcher_semantics() -> None:
    labels = {"alertname": "DriftlineFeatureDrift", "severity": "warning"}
    assert matches('alertname=~"DriftlineFeature.*"', labels)
    assert not matches('alertname!~"Driftline.*"', labels)
    assert matches('job=""', labels) and not matches('severity!="warning"', labels)


def test_watchdog_heartbeat_is_never_inhibited_and_repeats() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    route = config["route"]["routes"][0]
    assert route["matchers"] == ['alertname="DriftlineWatchdog"']
    # Resent every repeat_interval: the dead man's switch expects a beat at that pace.
    assert route["repeat_interval"] == "5m" and route["group_wait"] == "0s"
    watchdog = {"alertname": "DriftlineWatchdog", "severity": "none"}
    for rule in config["inhibit_rules"]:
        assert not all(matches(m, watchdog) for m in rule["target_matchers"]), rule
    # The check sees an inhibition that would mute it.
    assert all(matches(m, watchdog) for m in ['alertname=~"Driftline.*"'])
