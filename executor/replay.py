"""``driftline replay``: send the insurance months, a drift scenario or a data file into Kafka.

The "Kafka producers replaying data" of the demo: every row becomes one event, keyed by its
event id (so the partitioner spreads rows over partitions and a given key always lands on the
same partition, in order), optionally at a fixed rate, with a progress bar. The topic is created
with ``--partitions`` partitions when it does not exist yet.

* Insurance months and scenarios are in the wire format of :func:`executor.decode.encode_event`;
  labels travel inline (``"label"`` in the event), on a separate labels topic
  (``{"event_id": ..., "label": ...}``, to exercise the late-label join), or not at all.
* ``--replay-config run.yaml`` replays the data file of that run config's ``source.file``
  section (:mod:`executor.file_replay`): a user's CSV, Parquet or JSON Lines file as events of
  their schema, in order or shuffled, with the declared drift and predictions; labels go where
  the schema says. ``--file`` replays another file under the same settings, ``--no-drift``
  leaves the drift out, and ``--output events.jsonl`` writes the events to a JSON Lines file
  instead of Kafka (a log of the reference window to profile, for instance).

Example
-------
::

    driftline replay --bootstrap-servers 127.0.0.1:9092 --topic driftline.events \\
        --months 1-36 --partitions 3 --rate 2000
    driftline replay --config configs/kafka.yaml --scenario abrupt --seed 3 --n-rows 20000
    driftline replay --config configs/examples/image_segments/kafka.yaml \\
        --replay-config configs/examples/image_segments/run.yaml
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from kafka.errors import KafkaError

from driftline.configs import ConfigError
from driftline.executor.decode import encode_event
from driftline.executor.kafka_clients import ensure_topic, make_producer
from driftline.utils.progress import stage_progress

__all__ = [
    "ReplayEvent",
    "ReplaySummary",
    "file_replay_of",
    "insurance_events",
    "parse_months",
    "replay",
    "replay_arguments",
    "replay_main",
    "scenario_events",
    "write_events",
]

LabelMode = Literal["inline", "topic", "none"]
log = logging.getLogger("driftline.kafka")


@dataclass(frozen=True)
class ReplayEvent:
    """One row to send: its id, features by name, class label and event time."""

    event_id: str
    features: dict[str, float]
    label: int | None
    timestamp: float | None


@dataclass(frozen=True)
class ReplaySummary:
    """What :func:`replay` sent."""

    topic: str
    n_sent: int
    n_labels_sent: int
    seconds: float
    created_topic: bool


def parse_months(text: str) -> list[int]:
    """``"1-3,7"`` -> ``[1, 2, 3, 7]``; months must lie in 1..36 (``ValueError`` otherwise)."""
    months: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low, high = int(first), int(last) if sep else int(first)
        except ValueError:
            raise ValueError(f"months: {part!r} is not a month or a range like 1-36") from None
        if not 1 <= low <= high <= 36:
            raise ValueError(f"months: {part!r} must be within 1-36 and increasing")
        months.extend(range(low, high + 1))
    if not months:
        raise ValueError("months: no month given")
    return months


def _rows_of(source: Any) -> tuple[int, Iterator[ReplayEvent]]:
    names = list(source.feature_names)

    def rows() -> Iterator[ReplayEvent]:
        for i, event_id in enumerate(source.event_ids):
            label = source.labels[i]
            yield ReplayEvent(event_id, dict(zip(names, source.features[i].tolist(), strict=True)),
                              None if label is None else int(label), float(source.timestamps[i]))

    return len(source.event_ids), rows()


def insurance_events(months: Sequence[int]) -> tuple[int, Iterator[ReplayEvent]]:
    """``(count, rows)`` of the insurance ``months`` in stream order, labelled with ``group``."""
    from driftline.executor.sources import ReplaySource

    return _rows_of(ReplaySource.insurance(list(months)))


def scenario_events(name: str, *, seed: int, n_rows: int,
                    artifacts_dir: str | Path) -> tuple[int, Iterator[ReplayEvent]]:
    """``(count, rows)`` of the tabular drift scenario ``name`` mapped onto the model's features
    (reference mean and standard deviation of the profile in ``artifacts_dir``); no labels."""
    from driftline.executor.sources import ReplaySource
    from driftline.model.artifacts import PROFILE_FILE
    from driftline.model.profile import ReferenceProfile

    path = Path(artifacts_dir) / PROFILE_FILE
    try:
        profile = ReferenceProfile.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read the reference profile {path} (run driftline train "
                         f"first): {exc.strerror or exc}") from None
    names = list(profile.feature_names)
    source = ReplaySource.scenario(
        name, seed=seed, n_rows=n_rows, feature_names=names,
        means=np.array([profile.mean[n] for n in names]),
        stds=np.array([profile.std[n] for n in names]))
    return _rows_of(source)


def _record(event: Any, labels: LabelMode) -> tuple[bytes, bytes | None]:
    """``(value, labels-topic message or None)`` of a :class:`ReplayEvent` or an already
    encoded event (:class:`executor.file_replay.EncodedEvent`, whose schema placed its label)."""
    if not isinstance(event, ReplayEvent):
        return event.value, event.label_value
    inline = event.label if labels == "inline" else None
    value = encode_event(event.event_id, event.features, label=inline, timestamp=event.timestamp)
    label = None
    if labels == "topic" and event.label is not None:
        label = json.dumps({"event_id": event.event_id, "label": int(event.label)}).encode()
    return value, label


def replay(
    events: Iterable[Any],
    *,
    bootstrap_servers: str,
    topic: str,
    partitions: int = 3,
    rate: float | None = None,
    labels: LabelMode = "inline",
    labels_topic: str | None = None,
    total: int | None = None,
    progress: bool = True,
    client_id: str = "driftline-replay",
    producer: Any | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplaySummary:
    """Send ``events`` (:class:`ReplayEvent` or encoded events of
    :class:`executor.file_replay.FileReplay`) to ``topic`` (created with ``partitions``
    partitions if missing).

    ``rate`` (events/s) paces the sends; ``None`` sends as fast as the broker takes them.
    ``labels="topic"`` sends each label as ``{"event_id", "label"}`` to ``labels_topic`` right
    after its event (an encoded event's label message, when it has one, goes there too).
    Blocks until every record is acknowledged.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 events/s, got {rate}")
    if labels == "topic" and not labels_topic:
        raise ValueError("labels='topic' needs labels_topic")
    created = ensure_topic(bootstrap_servers, topic, partitions, client_id=client_id)
    if labels == "topic" and labels_topic:
        ensure_topic(bootstrap_servers, labels_topic, partitions, client_id=client_id)
    own_producer = producer is None
    if producer is None:
        producer = make_producer(bootstrap_servers, client_id, max_block_ms=60_000)
    n_sent = n_labels = 0
    start = clock()
    try:
        with stage_progress(topic, total, unit="events", enabled=progress) as bar:
            for event in events:
                if rate is not None:
                    delay = start + n_sent / rate - clock()
                    if delay > 0:
                        sleep(delay)
                key = event.event_id.encode("utf-8")
                value, label = _record(event, labels)
                producer.send(topic, value=value, key=key)
                if label is not None and labels == "topic":
                    producer.send(labels_topic, value=label, key=key)
                    n_labels += 1
                n_sent += 1
                bar.update(1)
            producer.flush()
    finally:
        if own_producer:
            producer.close()
    return ReplaySummary(topic, n_sent, n_labels, clock() - start, created)


def write_events(events: Iterable[Any], path: str | Path, *, labels: LabelMode = "inline",
                 ) -> tuple[int, int]:
    """Write the events' record values to a JSON Lines file, one per line; return
    ``(events written, label messages left out)`` (a file has no labels topic)."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ValueError(f"--output: {path} must end in .jsonl or .ndjson")
    path.parent.mkdir(parents=True, exist_ok=True)
    n_events = n_left_out = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        for event in events:
            value, label = _record(event, labels)
            handle.write(value + b"\n")
            n_events += 1
            n_left_out += label is not None
    os.replace(tmp, path)
    return n_events, n_left_out


def file_replay_of(run_config: str, *, path: str | None = None, order: str | None = None,
                   drift: bool = True) -> Any:
    """The :class:`executor.file_replay.FileReplay` of ``run_config``'s ``source.file``, with
    another data file, order, or no drift; or the :class:`dataloader.image_replay.ImageReplay`
    of its ``source.digits`` (no drift: without its shift)."""
    from driftline.executor.config import load_run_config
    from driftline.executor.file_replay import FileReplay

    source = load_run_config(run_config).source
    if source.digits is not None and source.dataset == "digits":
        from driftline.dataloader.image_replay import ImageReplay

        if path is not None or order is not None:
            raise ValueError("--file and --order do not apply to source.digits")
        return ImageReplay(source.digits if drift else source.digits.model_copy(
            update={"shift": None}))
    if source.file is None:
        raise ValueError(f"--replay-config: {run_config} has no source.file section (a run "
                         "config with source: {kind: replay, dataset: file, file: ...})")
    changes: dict[str, Any] = {}
    if path is not None:
        changes["path"] = path
    if order is not None:
        changes["order"] = order
    if not drift:
        changes["drift"] = None
    return FileReplay(source.file.model_copy(update=changes), source=run_config)


def replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``driftline replay`` options to ``parser``."""
    parser.add_argument("--config", help="run config (kafka source) giving the bootstrap "
                        "servers, topic and labels topic")
    parser.add_argument("--bootstrap-servers", help="host:port[,host:port] (default: config, "
                        "$DRIFTLINE_KAFKA_BOOTSTRAP, else 127.0.0.1:9092)")
    parser.add_argument("--topic", help="topic to write to (default: the config's)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--months", default=None, help="insurance months, e.g. 1-36 or 1-3,7 "
                      "(default: 1-36)")
    what.add_argument("--scenario", help="tabular drift scenario name instead of the months")
    what.add_argument("--replay-config", metavar="RUN_YAML", help="replay the data file of this "
                      "run config's source.file section (schema, order, drift, predictions)")
    parser.add_argument("--file", default=None, help="with --replay-config: replay this data "
                        "file instead of source.file.path")
    parser.add_argument("--order", choices=["file", "shuffle"], default=None,
                        help="with --replay-config: override source.file.order")
    parser.add_argument("--no-drift", action="store_true",
                        help="with --replay-config: leave source.file.drift out")
    parser.add_argument("--output", default=None, metavar="EVENTS_JSONL",
                        help="write the events to this JSON Lines file instead of Kafka")
    parser.add_argument("--artifacts-dir", default=None, help="model artifacts whose reference "
                        "profile maps a scenario onto the features (default: config's, else "
                        "artifacts)")
    parser.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    parser.add_argument("--n-rows", type=int, default=20_000, help="scenario rows (default 20000)")
    parser.add_argument("--rate", type=float, default=None, help="events per second "
                        "(default: as fast as possible)")
    parser.add_argument("--partitions", type=int, default=3,
                        help="partitions of the topic if it has to be created (default 3)")
    parser.add_argument("--labels", choices=["inline", "topic", "none"], default="inline",
                        help="send labels inside the events, on --labels-topic, or not at all")
    parser.add_argument("--labels-topic", help="topic for --labels topic (default: config's)")
    parser.add_argument("--limit", type=int, default=None, help="send at most this many events")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _settings_from_args(args: argparse.Namespace) -> tuple[str, str, str | None, str]:
    bootstrap, topic, labels_topic, artifacts = None, None, None, "artifacts"
    if args.config:
        from driftline.executor.config import load_run_config

        config = load_run_config(args.config)
        source = config.source
        bootstrap, topic, labels_topic = (source.bootstrap_servers, source.topic,
                                          source.labels_topic)
        artifacts = config.model.artifacts_dir
    bootstrap = (args.bootstrap_servers or bootstrap or os.environ.get("DRIFTLINE_KAFKA_BOOTSTRAP")
                 or "127.0.0.1:9092")
    topic = args.topic or topic
    if not topic:
        raise ValueError("--topic is required without --config")
    return bootstrap, topic, args.labels_topic or labels_topic, args.artifacts_dir or artifacts


def _file_options(args: argparse.Namespace) -> None:
    if not args.replay_config and (args.file or args.order or args.no_drift):
        raise ValueError("--file, --order and --no-drift need --replay-config")


def replay_main(args: argparse.Namespace) -> int:
    """Run ``driftline replay`` from parsed arguments; 0 on success, 1 on a Kafka error, 2 on
    bad arguments."""
    from driftline.model.adapters.base import ModelError

    try:
        _file_options(args)
        if args.output is not None:
            return _write_main(args)
        bootstrap, topic, labels_topic, artifacts = _settings_from_args(args)
        if args.partitions < 1:
            raise ValueError("--partitions must be >= 1")
        labels = args.labels
        if args.replay_config:
            source = file_replay_of(args.replay_config, path=args.file, order=args.order,
                                    drift=not args.no_drift)
            total, events = len(source), source.events()
            labels_topic = source.labels_topic
            labels = "topic" if labels_topic else "none"
        elif args.scenario:
            total, events = scenario_events(args.scenario, seed=args.seed, n_rows=args.n_rows,
                                            artifacts_dir=artifacts)
        else:
            total, events = insurance_events(parse_months(args.months or "1-36"))
        if args.limit is not None:
            if args.limit < 0:
                raise ValueError("--limit must be >= 0")
            total = min(total, args.limit)
            events = itertools.islice(events, args.limit)
        summary = replay(events, bootstrap_servers=bootstrap, topic=topic,
                         partitions=args.partitions, rate=args.rate, labels=labels,
                         labels_topic=labels_topic, total=total, progress=not args.no_progress)
    except (ValueError, ConfigError, ModelError) as exc:
        print(f"driftline replay: error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"driftline replay: Kafka error: {exc}", file=sys.stderr)
        return 1
    rate = summary.n_sent / summary.seconds if summary.seconds > 0 else float("inf")
    print(f"sent {summary.n_sent} events to {summary.topic} in {summary.seconds:.1f} s "
          f"({rate:,.0f} events/s)" + (f", {summary.n_labels_sent} labels to {labels_topic}"
                                      if summary.n_labels_sent else ""))
    return 0


def _write_main(args: argparse.Namespace) -> int:
    """``--output``: the events into a JSON Lines file."""
    if args.replay_config:
        source = file_replay_of(args.replay_config, path=args.file, order=args.order,
                                drift=not args.no_drift)
        events: Iterable[Any] = source.events()
    elif args.scenario:
        raise ValueError("--output writes --replay-config or --months events, not a scenario")
    else:
        _, events = insurance_events(parse_months(args.months or "1-36"))
    if args.limit is not None:
        if args.limit < 0:
            raise ValueError("--limit must be >= 0")
        events = itertools.islice(events, args.limit)
    n_events, left_out = write_events(events, args.output, labels=args.labels)
    note = f" ({left_out} label messages for a labels topic left out)" if left_out else ""
    print(f"wrote {n_events} events to {args.output}{note}")
    return 0
