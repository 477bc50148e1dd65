"""docker-compose.yml (parsed only: no Docker engine here): services, ports, mounted files."""

from __future__ import annotations

import yaml

from tests.ops.conftest import OPS, ROOT

COMPOSE = OPS / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_ports() -> None:
    services = load()["services"]
    assert set(services) >= {"kafka", "executor", "replay", "prometheus", "alertmanager",
                             "grafana", "alert-receiver"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    published = {name: {p.split(":")[0] for p in s.get("ports", [])}
                 for name, s in services.items()}
    assert published["prometheus"] == {"9090"}
    assert published["alertmanager"] == {"9093"}
    assert published["grafana"] == {"3000"}
    assert published["executor"] == {"9108"}
    ports = [p for s in published.values() for p in s]
    assert len(ports) == len(set(ports))


def test_mounted_files_and_build_context_exist() -> None:
    services = load()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (COMPOSE.parent / source).exists(), (name, source)
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert context == ROOT
            assert (context / build["dockerfile"]).is_file()


def test_configs_agree_with_service_names() -> None:
    services = load()["services"]
    prom = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]}
    assert "executor:9108" in targets
    (am,) = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am.split(":")[0] in services
    alertmanager = yaml.safe_load((OPS / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in alertmanager["receivers"]:
        for hook in receiver["webhook_configs"]:
            host = hook["url"].split("//")[1].split(":")[0]
            assert host in services
    assert services["executor"]["environment"]["DRIFTLINE_METRICS_PORT"] == "9108"


def test_dockerfile_copies_existing_paths() -> None:
    dockerfile = (OPS / "Dockerfile").read_text().splitlines()
    copies = [line.split()[1:-1] for line in dockerfile if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    assert any("torch==2.13.0" in line for line in dockerfile)
    # artifacts/ is git-ignored: the image trains its model instead of copying it.
    assert not any("artifacts" in source for sources in copies for source in sources)
    assert "RUN driftline train --config configs/train.yaml" in dockerfile
    assert (ROOT / "configs" / "train.yaml").is_file()

