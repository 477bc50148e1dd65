"""Start-up checks: a config the machine cannot serve makes ``driftline run`` exit 2 with one line
naming the key (run as a real subprocess), never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.executor.config import RunConfig
from driftline.executor.startup_checks import (
    StartupError,
    check_artifacts,
    check_port,
    check_startup,
    check_writable_directory,
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port, as another server would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def run_cli(tmp_path: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "driftline.utils.cli", "run", "--config",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def kafka_config(artifacts_dir: Path, tmp_path: Path, **sections: dict[str, Any]) -> dict:
    """A Kafka run config whose broker is never reached: the checks come first."""
    config: dict[str, Any] = {
        "source": {"kind": "kafka", "bootstrap_servers": "127.0.0.1:1"},
        "model": {"artifacts_dir": str(artifacts_dir)},
        "metrics": {"port": 0},
        "checkpoint": {"dir": str(tmp_path / "checkpoints")},
    }
    for key, values in sections.items():
        config[key].update(values)
    return config


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == f"driftline run: {expected}\n"


def test_metrics_port_in_use(artifacts_dir: Path, tmp_path: Path,
                             listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = run_cli(tmp_path, kafka_config(artifacts_dir, tmp_path, metrics={"port": port}))
    assert_one_line_exit_2(result, f"metrics.port: port {port} is already in use")


def test_checkpoint_dir_that_is_a_file(artifacts_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "checkpoints"
    file.write_text("not a directory")
    result = run_cli(tmp_path, kafka_config(artifacts_dir, tmp_path))
    assert_one_line_exit_2(result, f"checkpoint.dir: '{file}' exists and is not a directory")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_checkpoint_dir_that_cannot_be_written(artifacts_dir: Path, tmp_path: Path) -> None:
    # sysfs refuses new files even to root, for whom permission bits would not
    result = run_cli(tmp_path, kafka_config(artifacts_dir, tmp_path,
                                            checkpoint={"dir": "/sys/kernel"}))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("driftline run: checkpoint.dir: cannot write in '/sys/kernel'")
    assert result.stderr.count("\n") == 1


def test_missing_artifacts(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    result = run_cli(tmp_path, kafka_config(missing, tmp_path))
    assert_one_line_exit_2(result, f"model.artifacts_dir: '{missing}' is not a directory "
                                   "(run `driftline train` first)")


def test_kafka_name_kafka_would_refuse(artifacts_dir: Path, tmp_path: Path) -> None:
    result = run_cli(tmp_path, kafka_config(artifacts_dir, tmp_path,
                                            source={"topic": "bad topic!"}))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "run.yaml: source.topic: 'bad topic!' contains ' !'" in result.stderr


def test_checks_pass_on_a_usable_config(artifacts_dir: Path, tmp_path: Path) -> None:
    config = RunConfig.model_validate(kafka_config(artifacts_dir, tmp_path))
    check_startup(config)
    assert (tmp_path / "checkpoints").is_dir()
    assert list((tmp_path / "checkpoints").iterdir()) == []  # the probe file is gone


def test_artifacts_dir_without_the_profile(artifacts_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes((artifacts_dir / "model.pt").read_bytes())
    with pytest.raises(StartupError, match=r"has no reference_profile\.json") as info:
        check_artifacts(tmp_path)
    assert info.value.key == "model.artifacts_dir"


def test_port_of_an_earlier_run_in_time_wait_is_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as earlier:  # like the HTTP server
        earlier.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        earlier.bind(("127.0.0.1", 0))
        earlier.listen()
        port = earlier.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = earlier.accept()
            accepted.close()  # the server side closes first: its port enters TIME_WAIT
            client.recv(1)
    check_port("127.0.0.1", port)


def test_metrics_host_that_is_not_local() -> None:
    with pytest.raises(StartupError,
                       match=r"'203\.0\.113\.7' is not an address of this machine") as info:
        check_port("203.0.113.7", 0)
    assert info.value.key == "metrics.host"


def test_directory_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StartupError, match=r"cannot create .*: Not a directory"):
        check_writable_directory("checkpoint.dir", tmp_path / "file" / "below")


def test_dead_letter_path_that_is_a_directory(artifacts_dir: Path, tmp_path: Path) -> None:
    config = RunConfig.model_validate({"model": {"artifacts_dir": str(artifacts_dir)},
                                       "dead_letter": {"path": str(tmp_path)}})
    with pytest.raises(StartupError, match=r"dead_letter\.path: .* is a directory, not a file"):
        check_startup(config)


def test_a_schema_model_needs_the_profile_not_a_trained_model(tmp_path: Path) -> None:
    # model kinds other than driftline read the profile `driftline profile` writes
    artifacts = tmp_path / "profiled"
    artifacts.mkdir()
    config = kafka_config(artifacts, tmp_path, model={"kind": "none"})
    result = run_cli(tmp_path, config)
    assert_one_line_exit_2(result, f"model.artifacts_dir: '{artifacts}' has no "
                                   "reference_profile.json (run `driftline profile` first)")
    (artifacts / "reference_profile.json").write_text("{}")
    check_startup(RunConfig.model_validate(config))  # no model.pt needed
