"""ops/kubernetes/: the manifests validate against the Kubernetes API schemas (offline, with
kubernetes-validate), and the Deployment runs replicas with the changelog store, no volume,
and probes on the executor's /healthz."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from driftline.executor.config import load_run_config
from driftline.utils.cli import build_parser
from tests.ops.conftest import OPS, ROOT

MANIFEST = OPS / "kubernetes" / "driftline-executor.yaml"
VERSION = kubernetes_validate.latest_version()


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def by_kind(kind: str) -> dict[str, Any]:
    (found,) = [d for d in documents() if d["kind"] == kind]
    return found


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == {"Deployment", "Service"}
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"].update(replicas="three"),
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbe={
        "httpGet": {"path": "/healthz"}}),  # no port
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicy=3),
    lambda d: d["spec"].update(replica=2),  # a typo: unknown field in strict mode
])
def test_the_schema_check_catches_a_broken_deployment(break_it: Any) -> None:
    deployment = copy.deepcopy(by_kind("Deployment"))
    break_it(deployment)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_the_deployment_runs_replicas_on_the_changelog_with_health_probes() -> None:
    deployment = by_kind("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert "volumes" not in pod
    (container,) = pod["containers"]
    assert "volumeMounts" not in container
    environ = {e["name"]: e["value"] for e in container["env"]}
    args = build_parser("run").parse_args(container["args"])
    config = load_run_config(ROOT / args.config, environ=environ)
    assert config.source.kind == "kafka"
    assert config.checkpoint.store == "kafka"
    assert (config.metrics.enabled, config.metrics.host) == (True, "0.0.0.0")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == config.metrics.port
    for probe in ("startupProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], ports[get["port"]]) == ("/healthz", config.metrics.port)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    compose = yaml.safe_load((OPS / "docker-compose.yml").read_text())
    assert container["image"] == compose["services"]["executor"]["image"]


def test_the_service_selects_the_executor_pods() -> None:
    deployment, service = by_kind("Deployment"), by_kind("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
