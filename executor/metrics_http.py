"""HTTP endpoint of the exporter: ``/metrics`` (Prometheus text) and ``/healthz``.

``/healthz`` answers 200 ``ok`` while the last successful batch is at most ``max_age_seconds``
old, else 503. The server binds loopback by default and runs in a daemon thread.

Example
-------
>>> import urllib.request
>>> from driftline.executor.exporter import DriftExporter
>>> exporter = DriftExporter(feature_names=[])
>>> server = serve(exporter, port=0)
>>> port = server.server_address[1]
>>> b"driftline_events_processed_total" in urllib.request.urlopen(
...     f"http://127.0.0.1:{port}/metrics").read()
True
>>> server.shutdown()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from driftline.executor.exporter import DriftExporter

__all__ = ["make_app", "serve"]

_StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def make_app(
    exporter: DriftExporter, max_age_seconds: float = 60.0
) -> Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]:
    """WSGI app serving ``/healthz`` and, on every other path, the exporter's registry."""
    metrics_app = make_wsgi_app(exporter.registry)

    def app(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = exporter.healthy(max_age_seconds)
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if ok else b"no successful batch recently\n"]
        return metrics_app(environ, start_response)

    return app


def serve(
    exporter: DriftExporter, *, port: int, host: str = "127.0.0.1", max_age_seconds: float = 60.0
) -> WSGIServer:
    """Serve :func:`make_app` on ``host:port`` in a daemon thread; ``port=0`` picks a free one.

    Call ``shutdown()`` on the returned server to stop it.
    """
    server = make_server(host, port, make_app(exporter, max_age_seconds),
                         server_class=WSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="driftline-metrics", daemon=True)
    thread.start()
    return server
