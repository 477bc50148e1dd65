"""Grafana provisioning and dashboard: valid JSON/YAML, every PromQL expression parses
(promtool check rules) and reads only metrics that the executor exports or the rules record."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import OPS, metric_names_in, require_binary

GRAFANA = OPS / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "driftline.json"
# Grafana template variables, replaced as Grafana would before sending the query.
VARIABLES = {"$__rate_interval": "1m", "$feature": "age"}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def test_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = datasources["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "driftline.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {ds["uid"]}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("drift state", "threshold", "reference", "error rate", "fallback",
                  "throughput", "lag", "dead letters"):
        assert topic in titles


def test_every_expression_reads_exported_metrics(exported_names: set[str]) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    for expr in exprs:
        names = metric_names_in(expr)
        assert names, expr
        # Histogram/counter series are referenced through their sample names.
        assert names <= exported_names, (expr, names - exported_names)


@pytest.mark.prometheus
def test_every_expression_parses(tmp_path: Path) -> None:
    rules: list[dict[str, Any]] = [
        {"record": f"dashboard:expr_{i}", "expr": substitute(e)}
        for i, e in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
    # The same check rejects a broken expression.
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [
        {"record": "dashboard:bad", "expr": "sum by (le (driftline_live_value_bucket)"}]}]}))
    bad = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
