"""Prometheus config and rules: promtool check config / check rules / test rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

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


def test_alerts_have_for_severity_and_annotations(exported_names: set[str]) -> None:
    alerts = yaml.safe_load((PROM / "rules" / "alerts.yml").read_text())
    rules = [r for g in alerts["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert names >= {
        "DriftlineFeatureDrift", "DriftlineDatasetDrift", "DriftlineErrorRateDrift",
        "DriftlinePredictionDrift", "DriftlineFallbackRateHigh", "DriftlineDetectorStale",
        "DriftlineExporterDown", "DriftlineDeadLettersGrowing", "DriftlineConsumerLagHigh"}
    for rule in rules:
        assert rule["for"], rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        # Every metric an alert reads is exported by the executor or recorded.
        assert metric_names_in(rule["expr"]) <= exported_names, rule["alert"]
    recording = yaml.safe_load((PROM / "rules" / "recording.yml").read_text())
    for group in recording["groups"]:
        for rule in group["rules"]:
            assert metric_names_in(rule["expr"]) <= exported_names, rule["record"]
