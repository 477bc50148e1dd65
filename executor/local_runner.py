"""The embedded executor: replay source -> detection backend -> sinks, in one process.

``driftline run --config configs/demo.yaml`` runs this. Records take the Kafka executor's batch
path: per partition, micro-batches of ``batch.max_rows`` records go to an
:class:`executor.detection.InProcessDetection` (decode, model, detectors: invalid records
become dead letters) and the outcomes to :class:`executor.sinks.OutcomeSinks` (summary,
exporter, dead letters -- kept in memory and, with ``dead_letter.path``, appended to a JSONL
file). :func:`run_local` returns a :class:`RunSummary` and prints its report
(:mod:`executor.summary`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from driftline.executor.alarm_budget import announce_targets
from driftline.executor.config import RunConfig
from driftline.executor.dead_letter import DeadLetterFile
from driftline.executor.detection import InProcessDetection, PartitionBatch
from driftline.executor.sinks import OutcomeSinks
from driftline.executor.sources import EncodedEventSource, ReplaySource, SourceRecord
from driftline.executor.summary import RunSummary, format_summary

__all__ = ["POISON_PAYLOADS", "build_source", "run_local"]

_log = logging.getLogger("driftline.local")

#: malformed payloads cycled through by ``source.poison_records`` (dead-letter demo)
POISON_PAYLOADS = (
    b"not json at all",
    b"",
    b'{"event_id": "p", "features": {"age": "thirty"}}',
    b'{"event_id": "p", "features": {"age": NaN}}',
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"event_id": 7, "features": {}}',
    b'{"event_id": "p", "features": {"age": 1e999}}',
)


def build_source(config: RunConfig, model: Any) -> Iterable[SourceRecord]:
    """The replay source described by ``config.source`` (``model``: what has the profile a
    scenario is mapped onto)."""
    src = config.source
    if src.dataset == "file":
        from driftline.configs import ConfigError
        from driftline.executor.file_replay import FileReplay

        replay = FileReplay(src.file)  # type: ignore[arg-type]
        if replay.labels_topic is not None:
            raise ConfigError(f"source.file: the schema sends labels on the topic "
                              f"{replay.labels_topic!r}, which an embedded replay does not "
                              "have; set source.file.labels: none or make the label inline")
        return EncodedEventSource(replay, topic=src.topic, partitions=src.partitions,
                                  rate=src.rate)
    if src.dataset == "digits":
        from driftline.dataloader.image_replay import ImageReplay

        return EncodedEventSource(ImageReplay(src.digits),  # type: ignore[arg-type]
                                  topic=src.topic, partitions=src.partitions, rate=src.rate)
    n_rows = len(src.months) * 1500 if src.dataset == "insurance" else src.scenario.n_rows
    poison = [(int(k * n_rows / src.poison_records) if src.poison_records else 0,
               POISON_PAYLOADS[k % len(POISON_PAYLOADS)]) for k in range(src.poison_records)]
    if src.dataset == "insurance":
        return ReplaySource.insurance(src.months, topic=src.topic, partitions=src.partitions,
                                      rate=src.rate, bad_records=poison)
    profile = model.profile
    names = list(profile.feature_names)
    return ReplaySource.scenario(
        src.scenario.name, seed=src.scenario.seed, n_rows=src.scenario.n_rows,
        feature_names=names, means=np.array([profile.mean[n] for n in names]),
        stds=np.array([profile.std[n] or 1.0 for n in names]), topic=src.topic,
        partitions=src.partitions, rate=src.rate)


def run_local(config: RunConfig, *, out: IO[str] | None = None,
              stop_event: threading.Event | None = None, model: Any | None = None,
              source: Iterable[SourceRecord] | None = None) -> RunSummary:
    """Replay ``config.source`` through the pipeline; print and return the summary."""
    from driftline.executor.exporter import DriftExporter
    from driftline.executor.metrics_http import serve
    from driftline.executor.monitoring import open_monitoring

    out = sys.stdout if out is None else out
    started = time.perf_counter()
    monitoring = open_monitoring(config, model)
    exporter = DriftExporter(monitoring.profile, drift_hold_seconds=config.metrics.drift_hold_s)
    exporter.categories.set_quality_baselines(monitoring.quality_baselines())
    server = None
    metrics_url = None
    if config.metrics.enabled:
        server = serve(exporter, port=config.metrics.port, host=config.metrics.host,
                       max_age_seconds=config.metrics.max_age_s)
        host, port = server.server_address[:2]
        metrics_url = f"http://{host}:{port}/metrics"
        print(f"metrics: {metrics_url}  health: http://{host}:{port}/healthz", file=out,
              flush=True)
    decoder = monitoring.decoder(ranges=False)
    if source is None:
        source = build_source(config, monitoring)
    summary = RunSummary()
    setup_started = time.perf_counter()
    first = monitoring.pipeline()
    # the fresh state carries every calibration: every partition starts from it at no cost
    fresh_state = first.state_dict()
    summary.calibration_notes = first.calibration_notes
    summary.setup_seconds = time.perf_counter() - setup_started
    for detector, stream, features in first.detector_series():
        exporter.register_detector(detector, stream, features)
    announce_targets(first, exporter)
    if first.alarm_plan is not None:
        print("\n".join(first.alarm_plan.describe()), file=out, flush=True)
    backend = InProcessDetection(decoder, lambda state: monitoring.pipeline(
        state if state is not None else fresh_state))
    dead_letters = (DeadLetterFile(config.dead_letter.path) if config.dead_letter.enabled
                    else None)
    sinks = OutcomeSinks(summary, exporter=exporter, dead_letters=dead_letters)
    pending: dict[int, list[SourceRecord]] = {}

    def detect(partition: int) -> None:
        records = pending.pop(partition, [])
        if not records:
            return
        if partition not in backend.pipelines:
            backend.open(partition)
        backend.submit([PartitionBatch(
            records[0].topic, partition,
            [(r.value, r.key, r.offset, r.timestamp_ms) for r in records],
            periods=[r.period for r in records])])
        sinks.apply(backend.collect())
        exporter.mark_progress()

    try:
        for record in source:
            if stop_event is not None and stop_event.is_set():
                break
            batch = pending.setdefault(record.partition, [])
            batch.append(record)
            if len(batch) >= config.batch.max_rows:
                detect(record.partition)
        for partition in sorted(pending):
            detect(partition)
        sinks.flush()
    finally:
        backend.close()
        if dead_letters is not None:
            dead_letters.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    summary.wall_seconds = time.perf_counter() - started
    summary.metrics_url = metrics_url
    summary.pipelines = {p: pl.counters for p, pl in sorted(backend.pipelines.items())}
    print(format_summary(summary, monitoring.feature_names), file=out, flush=True)
    return summary
