"""HTTP endpoint of the exporter: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``.

* ``/metrics`` -- the registry (prometheus_client's exposition, gzip and ``name[]`` filters
  included);
* ``/healthz`` -- liveness: 200 ``ok`` while the executor makes progress
  (:meth:`executor.metrics_service.ServiceMetrics.healthy` within ``max_age_seconds``), else 503;
* ``/readyz`` -- readiness: 200 once the executor is calibrated and in its consumer group
  (:meth:`~executor.metrics_service.ServiceMetrics.is_ready`), else 503;
* any other path is 404, any method but GET and HEAD 405.

Every connection is served on a thread of its own with a socket timeout (``request_timeout_s``):
a client that connects and sends nothing -- a stuck scraper, a port scan -- holds one thread
for that long and delays nobody else, so it cannot fail the liveness probe. Responses name the
server ``driftline``, without the Python version. The server binds loopback by default.

Example
-------
>>> import urllib.request
>>> from driftline.executor.exporter import DriftExporter
>>> exporter = DriftExporter(feature_names=[])
>>> server = serve(exporter, port=0)
>>> base = f"http://127.0.0.1:{server.server_address[1]}"
>>> b"driftline_events_processed_total" in urllib.request.urlopen(f"{base}/metrics").read()
True
>>> try:
...     urllib.request.urlopen(f"{base}/")
... except urllib.error.HTTPError as error:
...     print(error.code, error.headers["Server"])
404 driftline
>>> server.shutdown()
>>> server.server_close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from prometheus_client import make_wsgi_app

from driftline.executor.exporter import DriftExporter

__all__ = ["DEFAULT_REQUEST_TIMEOUT_S", "SERVER_NAME", "make_app", "serve"]

DEFAULT_REQUEST_TIMEOUT_S = 10.0
SERVER_NAME = "driftline"
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]

_StartResponse = Callable[..., Any]

log = logging.getLogger("driftline.metrics")


def _plain(start_response: _StartResponse, status: str, body: bytes,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, _TEXT + (extra or []))
    return [body]


def make_app(
    exporter: DriftExporter, max_age_seconds: float = 60.0
) -> Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]:
    """WSGI app serving ``/metrics``, ``/healthz`` and ``/readyz`` (see the module docstring)."""
    metrics_app = make_wsgi_app(exporter.registry)

    def app(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path not in ("/metrics", "/healthz", "/readyz"):
            return _plain(start_response, "404 Not Found", b"not found\n")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"method not allowed\n",
                          [("Allow", "GET, HEAD")])
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            ok = exporter.healthy(max_age_seconds)
            reason = b"ok\n" if ok else b"no progress within max_age_s\n"
        else:
            ok = exporter.is_ready()
            reason = b"ready\n" if ok else b"not ready\n"
        return _plain(start_response, "200 OK" if ok else "503 Service Unavailable",
                      b"" if method == "HEAD" else reason)

    return app


class _ServerHandler(ServerHandler):
    server_software = SERVER_NAME


class _Handler(WSGIRequestHandler):
    """wsgiref's handler without the version banner, the access log or tracebacks for
    clients that go silent (``timeout``: set per server)."""

    server_version = SERVER_NAME
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # the client sent nothing within the timeout, or went away
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                 multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics request from %s failed", client_address, exc_info=True)


def serve(
    exporter: DriftExporter, *, port: int, host: str = "127.0.0.1",
    max_age_seconds: float = 60.0, request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
) -> WSGIServer:
    """Serve :func:`make_app` on ``host:port`` in a daemon thread, one thread per connection
    (each with a ``request_timeout_s`` socket timeout); ``port=0`` picks a free port.

    Call ``shutdown()`` then ``server_close()`` on the returned server to stop it.
    """
    if not request_timeout_s > 0:
        raise ValueError(f"request_timeout_s must be > 0, got {request_timeout_s}")
    handler = type("_TimedHandler", (_Handler,), {"timeout": float(request_timeout_s)})
    server = _ThreadingServer((host, port), handler)
    server.set_app(make_app(exporter, max_age_seconds))
    thread = threading.Thread(target=server.serve_forever, name="driftline-metrics", daemon=True)
    thread.start()
    return server
