"""``driftline run`` and ``driftline replay`` (registered in :mod:`utils.cli`).

``run`` loads a :class:`executor.config.RunConfig`, checks that this machine can serve it
(:mod:`executor.startup_checks`: a config or environment problem exits 2 with one line naming
the key, e.g. ``driftline run: metrics.port: port 9108 is already in use``) and dispatches on
``source.kind``: ``replay`` runs the embedded executor (:func:`executor.local_runner.run_local`),
``kafka`` the consumer-group executor (``executor.kafka_service.run_kafka``). ``replay`` produces
events into Kafka (``executor.replay``). Heavy modules are imported only by the sub-command that
needs them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

__all__ = ["replay_arguments", "replay_main", "run_arguments", "run_main"]


def run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline run``."""
    parser.add_argument("--config", required=True, help="YAML run config (configs/demo.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set source.months=[1,2,3] "
                             "(VALUE is parsed as YAML)")
    parser.add_argument("--summary-json", default=None,
                        help="also write the run summary as JSON here")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"driftline run: --set expects KEY=VALUE, got {pair!r}")
        out[key] = yaml.safe_load(raw)
    return out


def run_main(args: argparse.Namespace) -> int:
    """Run the executor described by ``--config``; returns the exit status."""
    from driftline.configs import ConfigError
    from driftline.executor.config import load_run_config
    from driftline.executor.logging_setup import setup_logging
    from driftline.executor.startup_checks import StartupError, check_startup

    try:
        config = load_run_config(args.config, _overrides(args.set))
        check_startup(config)
    except (ConfigError, StartupError) as exc:
        print(f"driftline run: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.logging.level, config.logging.format)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        from driftline.model.adapters.base import ModelLoadError
        from driftline.model.artifacts import ArtifactError

        try:
            if config.source.kind == "kafka":
                from driftline.executor.kafka_service import run_kafka

                summary = run_kafka(config, stop_event=stop)
            else:
                from driftline.executor.local_runner import run_local

                summary = run_local(config, stop_event=stop)
        except ArtifactError as exc:
            print(f"driftline run: model.artifacts_dir: {exc}", file=sys.stderr)
            return 2
        except ModelLoadError as exc:  # one line naming the file and the key
            print(f"driftline run: {exc}", file=sys.stderr)
            return 2
        except ConfigError as exc:  # found when the source opens (source.file's data file)
            print(f"driftline run: {exc}", file=sys.stderr)
            return 2
        if args.summary_json:
            with open(args.summary_json, "w", encoding="utf-8") as handle:
                json.dump(summary.to_dict(), handle, indent=1)
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline replay`` (defined by :mod:`executor.replay`)."""
    from driftline.executor.replay import replay_arguments as arguments

    arguments(parser)


def replay_main(args: argparse.Namespace) -> int:
    """Produce the insurance months or a scenario into a Kafka topic."""
    from driftline.executor.replay import replay_main as main

    return int(main(args) or 0)
