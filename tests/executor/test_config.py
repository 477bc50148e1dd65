"""RunConfig: the shipped configs load, bad values name their key, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.configs import CONFIG_DIR, ConfigError
from driftline.executor.config import RunConfig, load_run_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["demo.yaml", "kafka.yaml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_run_config(CONFIG_DIR / name, environ={})
    assert isinstance(config, RunConfig)


def test_demo_replays_all_months_in_process() -> None:
    config = load_run_config(CONFIG_DIR / "demo.yaml", environ={})
    assert config.source.kind == "replay" and config.source.months == list(range(1, 37))
    assert config.metrics.host == "127.0.0.1"


def test_kafka_config_uses_the_kafka_source() -> None:
    config = load_run_config(CONFIG_DIR / "kafka.yaml", environ={})
    assert config.source.kind == "kafka" and config.source.topic


def test_defaults_from_empty_file(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, ""), environ={})
    assert config.detectors.page_hinkley.enabled and config.dead_letter.topic_suffix == ".dlt"


@pytest.mark.parametrize(("text", "message"), [
    ("source: {kind: mqtt}", "source.kind: expected one of"),
    ("source: {months: [0, 3]}", "source: months: must lie in [1, 36]"),
    ("batch: {max_rows: 0}", "batch.max_rows: must be >= 1"),
    ("metrics: {port: 70000}", "metrics.port: must be <= 65535"),
    ("detectors: {page_hinkley: {target_arl0: 1}}",
     "detectors.page_hinkley.target_arl0: must be > 1.0"),
    ("detectors: {nm_ddm: {window_size: 500, target_arl0: 400}}",
     "detectors.nm_ddm: target_arl0: must exceed window_size"),
    ("detectors: {errors: {detectors: [ddm], params: {adwin: {delta: 0.1}}}}",
     "detectors.errors: params: 'adwin' is not in detectors"),
    ("detectors: {errors: {target_arl0: 0.5}}", "detectors.errors.target_arl0: must be > 1.0"),
    ("detectors: {iks: {calibration: exact}}", "detectors.iks.calibration"),
    ("detectors: {iks: {calibration: bootstrap, window_size: 500, stride: 7}}",
     "detectors.iks: stride: must divide window_size=500"),
    ("logging: {format: xml}", "logging.format: expected one of"),
    ("sources: {}", "sources: unknown key"),
    ("source: {heartbeat_interval_ms: 20000, session_timeout_ms: 10000}",
     "heartbeat_interval_ms: must be below session_timeout_ms"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    assert message in str(info.value)


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "source: {kind: kafka}\nmetrics: {port: 9100}\n")
    config = load_run_config(path, environ={"DRIFTLINE_KAFKA_BOOTSTRAP": "broker:29092",
                                            "DRIFTLINE_METRICS_HOST": "0.0.0.0",
                                            "DRIFTLINE_METRICS_PORT": "9200"})
    assert config.source.bootstrap_servers == "broker:29092"
    assert (config.metrics.host, config.metrics.port) == ("0.0.0.0", 9200)
    explicit = load_run_config(path, {"metrics.port": 9300},
                               environ={"DRIFTLINE_METRICS_PORT": "9200"})
    assert explicit.metrics.port == 9300


def test_bad_environment_port_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DRIFTLINE_METRICS_PORT"):
        load_run_config(write(tmp_path, ""), environ={"DRIFTLINE_METRICS_PORT": "http"})
