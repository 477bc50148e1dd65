"""``driftline run`` on a Kafka source as a service: signals, ``/metrics``, the summary.

:func:`run_kafka` runs a :class:`executor.kafka_runner.KafkaExecutor` until SIGTERM/SIGINT (or
``stop_event``), serving ``/metrics``, ``/healthz`` and ``/readyz``
(:mod:`executor.metrics_http`) meanwhile, and prints the run summary at the end.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from driftline.executor.config import RunConfig
from driftline.executor.kafka_runner import BACKOFF_INITIAL_S, BACKOFF_MAX_S, KafkaExecutor
from driftline.executor.summary import RunSummary, format_summary

__all__ = ["run_kafka"]

log = logging.getLogger("driftline.kafka")


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def run_kafka(config: RunConfig, *, out: IO[str] | None = None,
              stop_event: threading.Event | None = None, model: Any | None = None,
              backoff_initial_s: float = BACKOFF_INITIAL_S,
              backoff_max_s: float = BACKOFF_MAX_S) -> RunSummary:
    """Run the Kafka executor until SIGTERM/SIGINT or ``stop_event``; print and return the
    summary. Serves ``/metrics``, ``/healthz`` and ``/readyz`` when ``metrics.enabled``."""
    from driftline.executor.metrics_http import serve

    out = sys.stdout if out is None else out
    stop = stop_event if stop_event is not None else threading.Event()
    restore = _install_signal_handlers(stop)
    executor = KafkaExecutor(config, model=model, stop_event=stop,
                             backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s)
    server = None
    try:
        if config.metrics.enabled:
            server = serve(executor.exporter, port=config.metrics.port, host=config.metrics.host,
                           max_age_seconds=config.metrics.max_age_s)
            host, port = server.server_address[:2]
            executor.summary.metrics_url = f"http://{host}:{port}/metrics"
            print(f"metrics: http://{host}:{port}/metrics  health: http://{host}:{port}/healthz"
                  f"  ready: http://{host}:{port}/readyz", file=out, flush=True)
        summary = executor.run()
    finally:
        restore()
        if server is not None:
            server.shutdown()
            server.server_close()
    print(format_summary(summary, executor.model.feature_names), file=out, flush=True)
    log.info("executor stopped", extra={"batches": executor.n_batches,
                                        "sessions": executor.n_sessions,
                                        "processed": summary.n_processed})
    return summary
