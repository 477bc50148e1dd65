"""Minimal Alertmanager webhook receiver: logs each notification and keeps it in memory.

Run standalone (docker-compose service ``alert-receiver``)::

    python ops/scripts/alert_receiver.py --host 0.0.0.0 --port 5001

or in-process (the end-to-end test) with :func:`start`, reading ``server.notifications``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertReceiver(ThreadingHTTPServer):
    """HTTP server storing ``(receive_time, path, payload)`` of every POSTed notification."""

    def __init__(self, address: tuple[str, int], echo: bool = False) -> None:
        super().__init__(address, _Handler)
        self.notifications: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.echo = echo


class _Handler(BaseHTTPRequestHandler):
    server: AlertReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            payload = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with self.server.lock:
            self.server.notifications.append((time.time(), self.path, payload))
        if self.server.echo:
            alerts = [a.get("labels", {}) for a in payload.get("alerts", [])]
            print(json.dumps({"path": self.path, "status": payload.get("status"),
                              "alerts": alerts}), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def start(host: str = "127.0.0.1", port: int = 0, echo: bool = False) -> AlertReceiver:
    """Start a receiver in a daemon thread; ``port=0`` picks a free port."""
    server = AlertReceiver((host, port), echo=echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    server = AlertReceiver((args.host, args.port), echo=True)
    print(f"listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
