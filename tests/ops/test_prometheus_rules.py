"""Prometheus config and rules: promtool check config / check rules / test rules."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import OPS, metric_names_in, require_binary

pytestmark = pytest.mark.prometheus
PROM = OPS / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True,
                          timeout=60, cwd=PROM)


def test_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert sorted(config["rule_files"]) == sorted(f"rules/{p.name}" for p in RULE_FILES)


def test_check_rules() -> None:
    result = promtool("check", "rules", *[str(p) for p in RULE_FILES])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests(test_file: Path) -> None:
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    # Guards the harness: a rule test expecting a wrong value must fail.
    text = (PROM / "tests" / "recording_test.yml").read_text()
    assert "value: 0.25" in text
    bad = text.replace("value: 0.25", "value: 0.26").replace("../rules/", f"{PROM / 'rules'}/")
    path = tmp_path / "wrong_expectation_test.yml"
    path.write_text(bad)
    result = promtool("test", "rules", str(path))
    assert result.returncode != 0
    assert "2.5E-01" in result.stdout + result.stderr


WATCHDOG = "DriftlineWatchdog"


def alert_rules() -> list[dict[str, Any]]:
    alerts = yaml.safe_load((PROM / "rules" / "alerts.yml").read_text())
    return [r for g in alerts["groups"] for r in g["rules"]]


def test_alerts_have_for_severity_and_annotations(exported_names: set[str]) -> None:
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    assert names >= {
        "DriftlineFeatureDrift", "DriftlineInputVectorDrift", "DriftlineDatasetDrift",
        "DriftlineErrorRateDrift", "DriftlinePredictionDrift", "DriftlineFallbackRateHigh",
        "DriftlineDetectorStale", "DriftlineExporterDown", "DriftlineExecutorTargetMissing",
        "DriftlineExecutorMetricsMissing", "DriftlineDeadLettersGrowing",
        "DriftlineEventFailureRatioHigh", "DriftlinePipelineStalled", "DriftlineConsumerLagHigh",
        "DriftlineUnseenCategories", "DriftlineDataQualityMissing",
        "DriftlineDataQualityOutOfRange", "DriftlineDataQualityUnseenCategory",
        "DriftlineDataQualityTypeErrors", WATCHDOG}
    for rule in rules:
        if rule["alert"] == WATCHDOG:  # fires from the first evaluation, routed to no person
            assert rule["expr"] == "vector(1)" and "for" not in rule
            assert rule["labels"]["severity"] == "none"
        else:
            assert rule["for"], rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        # Every metric an alert reads is exported by the executor or recorded.
        assert metric_names_in(rule["expr"]) <= exported_names, rule["alert"]
    recording = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())
    for group in recording["groups"]:
        for rule in group["rules"]:
            assert metric_names_in(rule["expr"]) <= exported_names, rule["record"]


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_alert_links_its_runbook_section() -> None:
    readme = (OPS / "README.md").read_text()
    runbook = readme[readme.index("\n## Runbook\n"):]
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^##|\Z)", runbook, flags=re.M | re.S))
    anchors = {github_anchor(title): title for title in sections}
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "ops/README.md", url
        assert anchors.get(anchor) == rule["alert"], url
        body = sections[rule["alert"]]
        for part in ("*Meaning.*", "*Check.*", "*Act.*"):
            assert part in body, (rule["alert"], part)
    assert github_anchor("DriftlineFeatureDrift") == "driftlinefeaturedrift"
    assert github_anchor("A b.c (d)") == "a-bc-d"


def test_every_alert_has_a_promtool_test_that_fires_it() -> None:
    """Each alert of alerts.yml is expected to fire (with its labels and annotations) somewhere
    in the promtool unit tests, which also pin where it must stay quiet."""
    fired: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    fired.add(case["alertname"])
                    for alert in case["exp_alerts"]:
                        assert alert["exp_annotations"]["runbook_url"], case
    assert {r["alert"] for r in alert_rules()} <= fired
