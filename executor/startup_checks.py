"""Checks ``driftline run`` makes before starting: the environment can serve the config.

A config can be valid and still unusable on this machine: the metrics port is taken, the
checkpoint directory is a file or read-only, the model was never trained. Found late, these
surface as tracebacks from deep inside the executor (or as a restart loop); found here, they
become a :class:`StartupError` naming the config key, which the CLI prints as one line and
exits with status 2.

Each check probes the real thing (binds the port, creates and removes a file), so it is right
for root and for read-only file systems alike, where permission bits would mislead.

Example
-------
>>> import tempfile
>>> check_writable_directory("checkpoint.dir", tempfile.mkdtemp())
>>> try:
...     check_writable_directory("checkpoint.dir", "/dev/null")
... except StartupError as exc:
...     print(exc)
checkpoint.dir: '/dev/null' exists and is not a directory
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from driftline.executor.config import RunConfig
from driftline.model.artifacts import MODEL_FILE, PROFILE_FILE

__all__ = ["StartupError", "check_artifacts", "check_port", "check_startup",
           "check_writable_directory"]


class StartupError(Exception):
    """The config cannot run in this environment; ``key`` is the config key to change."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def check_startup(config: RunConfig) -> None:
    """Raise :class:`StartupError` for the first resource ``config`` needs and cannot have."""
    if config.model.kind == "driftline":
        check_artifacts(config.model.artifacts_dir)
    else:
        check_artifacts(config.model.artifacts_dir, files=(PROFILE_FILE,),
                        hint="run `driftline profile` first")
    if config.metrics.enabled:
        check_port(config.metrics.host, config.metrics.port)
    if config.source.kind == "kafka":
        check_writable_directory("checkpoint.dir", config.checkpoint.dir)
    elif config.dead_letter.enabled and config.dead_letter.path:
        path = Path(config.dead_letter.path)
        if path.is_dir():
            raise StartupError("dead_letter.path", f"{str(path)!r} is a directory, not a file")
        check_writable_directory("dead_letter.path", path.parent)


def check_artifacts(directory: str | Path, key: str = "model.artifacts_dir", *,
                    files: tuple[str, ...] = (MODEL_FILE, PROFILE_FILE),
                    hint: str = "run `driftline train` first") -> None:
    """``files`` (default: the trained model's) are in ``directory``."""
    path = Path(directory)
    if not path.is_dir():
        raise StartupError(key, f"{str(path)!r} is not a directory ({hint})")
    for name in files:
        if not (path / name).is_file():
            raise StartupError(key, f"{str(path)!r} has no {name} ({hint})")


def check_port(host: str, port: int) -> None:
    """An HTTP server could listen on ``host:port`` (port 0: on some free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise StartupError("metrics.host",
                           f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    with socket.socket(family, kind, proto) as probe:
        # as the HTTP server does: a port left in TIME_WAIT by an earlier run is not "in use"
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError("metrics.port", f"port {port} is already in use") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StartupError("metrics.host",
                                   f"{host!r} is not an address of this machine") from None
            raise StartupError("metrics.port",
                               f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def check_writable_directory(key: str, directory: str | Path) -> None:
    """``directory`` is (or can be created as) a directory this process can write files in."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise StartupError(key, f"{str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(key, f"cannot create {str(path)!r}: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".driftline-probe-"):
            pass
    except OSError as exc:
        raise StartupError(key, f"cannot write in {str(path)!r}: {exc.strerror or exc}") from None
