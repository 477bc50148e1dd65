"""docker-compose.yml (parsed only: no Docker engine here): services, ports, mounted files,
and the executor and replay commands checked against the real CLI and configs."""

from __future__ import annotations

import fnmatch

import yaml

from driftline.executor.config import load_run_config
from driftline.executor.replay import parse_months
from driftline.utils.cli import build_parser
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
    assert published["executor-2"] == {"9109"}
    ports = [p for s in published.values() for p in s]
    assert len(ports) == len(set(ports))


def test_mounted_files_and_build_context_exist() -> None:
    compose = load()
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named:
                continue
            assert source.startswith("."), (name, source)  # a bind mount of a repo file
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
    assert {"executor:9108", "executor-2:9108"} <= targets
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



def image_workdir() -> str:
    (line,) = [ln for ln in (OPS / "Dockerfile").read_text().splitlines()
               if ln.startswith("WORKDIR ")]
    return line.split()[1]


def test_executor_runs_the_kafka_config_with_the_compose_environment() -> None:
    service = load()["services"]["executor"]
    args = build_parser("run").parse_args(service["command"])
    assert args.command == "run"
    config_path = ROOT / args.config
    assert config_path.is_file()
    config = load_run_config(config_path, environ=service["environment"])
    assert config.source.kind == "kafka"
    assert config.source.bootstrap_servers == "kafka:19092"
    assert (config.metrics.enabled, config.metrics.host, config.metrics.port) == (
        True, "0.0.0.0", 9108)
    assert f"{config.metrics.port}:{config.metrics.port}" in service["ports"]
    # State lives in the group's changelog topic: no volume, partitions move between replicas
    assert config.checkpoint.store == "kafka"
    assert "volumes" not in service
    assert any("9108/metrics" in part for part in service["healthcheck"]["test"])


def test_two_replicas_share_one_consumer_group() -> None:
    services = load()["services"]
    first, second = services["executor"], services["executor-2"]
    assert {k: v for k, v in second.items() if k != "ports"} == {
        k: v for k, v in first.items() if k != "ports"}
    configs = [load_run_config(ROOT / build_parser("run").parse_args(s["command"]).config,
                               environ=s["environment"]) for s in (first, second)]
    assert configs[0].source.group_id == configs[1].source.group_id
    assert all(c.checkpoint.store == "kafka" for c in configs)


def test_replay_job_feeds_the_executors_topic() -> None:
    services = load()["services"]
    replay = services["replay"]
    args = build_parser("replay").parse_args(replay["command"])
    assert args.command == "replay"
    assert (ROOT / args.config).is_file()
    assert parse_months(args.months) == list(range(1, 37))
    assert args.rate is not None and args.rate > 0
    replay_config = load_run_config(ROOT / args.config, environ=replay["environment"])
    executor = services["executor"]
    run_config = load_run_config(ROOT / build_parser("run").parse_args(
        executor["command"]).config, environ=executor["environment"])
    assert (args.topic or replay_config.source.topic) == run_config.source.topic
    assert (args.bootstrap_servers or replay_config.source.bootstrap_servers) == "kafka:19092"
    assert replay["image"] == executor["image"]


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for excluded in (".venv", "artifacts", "runs", ".git", ".pytest_cache", ".ruff_cache"):
        assert excluded in patterns
    assert "**/__pycache__" in patterns
    copies = [src for line in (OPS / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") for src in line.split()[1:-1]]
    for source in copies:
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), source
