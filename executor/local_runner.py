"""The embedded executor: replay source -> decode -> pipeline -> exporter, in one process.

``driftline run --config configs/demo.yaml`` runs this. Records are decoded exactly as on Kafka,
invalid ones become dead letters (kept in memory and, with ``dead_letter.path``, appended to a
JSONL file), valid ones go per partition through a :class:`executor.pipeline.DetectionPipeline`
in micro-batches of ``batch.max_rows``. :func:`run_local` returns a :class:`RunSummary` and
prints its report (:mod:`executor.summary`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from driftline.executor.config import RunConfig
from driftline.executor.decode import DeadLetter, DecodedEvent, EventDecoder, with_originals
from driftline.executor.pipeline import BatchResult, DetectionPipeline
from driftline.executor.sources import ReplaySource, SourceRecord
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


def build_source(config: RunConfig, model: Any) -> ReplaySource:
    """The replay source described by ``config.source``."""
    src = config.source
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


class _DeadLetterSink:
    def __init__(self, path: str | None) -> None:
        self.records: list[DeadLetter] = []
        self._file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, letters: Iterable[DeadLetter]) -> None:
        for letter in letters:
            self.records.append(letter)
            if self._file is not None:
                self._file.write(json.dumps(letter.to_record()) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def run_local(config: RunConfig, *, out: IO[str] | None = None,
              stop_event: threading.Event | None = None, model: Any | None = None,
              source: Iterable[SourceRecord] | None = None) -> RunSummary:
    """Replay ``config.source`` through the pipeline; print and return the summary."""
    from driftline.executor.exporter import DriftExporter
    from driftline.executor.metrics_http import serve
    from driftline.model.artifacts import load_artifacts

    out = sys.stdout if out is None else out
    started = time.perf_counter()
    if model is None:
        model = load_artifacts(config.model.artifacts_dir)
    exporter = DriftExporter(model.profile, drift_hold_seconds=config.metrics.drift_hold_s)
    server = None
    metrics_url = None
    if config.metrics.enabled:
        server = serve(exporter, port=config.metrics.port, host=config.metrics.host,
                       max_age_seconds=config.metrics.max_age_s)
        host, port = server.server_address[:2]
        metrics_url = f"http://{host}:{port}/metrics"
        print(f"metrics: {metrics_url}  health: http://{host}:{port}/healthz", file=out,
              flush=True)
    decoder = EventDecoder(model.profile.feature_names, n_classes=len(model.class_names))
    if source is None:
        source = build_source(config, model)
    summary = RunSummary()
    sink = _DeadLetterSink(config.dead_letter.path if config.dead_letter.enabled else None)
    pipelines: dict[int, DetectionPipeline] = {}
    setup_started = time.perf_counter()
    first = DetectionPipeline(model, config, exporter=exporter)
    # the fresh state carries every calibration: other partitions start from it at no cost
    fresh_state = first.state_dict()
    summary.calibration_notes = first.calibration_notes
    summary.setup_seconds = time.perf_counter() - setup_started
    batches: dict[int, tuple[list[DecodedEvent], list[str], dict[int, Any]]] = {}

    def flush(partition: int) -> None:
        events, periods, originals = batches.pop(partition, ([], [], {}))
        if not events:
            return
        if partition not in pipelines:
            # each partition reports through its own view: the exporter combines them
            view = exporter.for_source(partition)
            if pipelines:
                pipelines[partition] = DetectionPipeline(
                    model, config, exporter=view, state=fresh_state)
            else:
                first.exporter = view
                pipelines[partition] = first
        result = pipelines[partition].process(events)
        _record(summary, result, periods)
        letters = with_originals(result.dead_letters, originals)
        sink.add(letters)
        summary.add_dead_letters(letters)

    try:
        for record in source:
            if stop_event is not None and stop_event.is_set():
                break
            decoded = decoder.decode(record.value, key=record.key, topic=record.topic,
                                     partition=record.partition, offset=record.offset,
                                     timestamp_ms=record.timestamp_ms)
            if isinstance(decoded, DeadLetter):
                sink.add([decoded])
                summary.add_dead_letters([decoded])
                exporter.observe_events(failed_by_reason={decoded.reason: 1}, dead_lettered=1)
                continue
            events, periods, originals = batches.setdefault(record.partition, ([], [], {}))
            events.append(decoded)
            periods.append(record.period)
            originals[record.offset] = (record.value, record.key, record.timestamp_ms)
            if len(events) >= config.batch.max_rows:
                flush(record.partition)
        for partition in sorted(batches):
            flush(partition)
    finally:
        sink.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    summary.wall_seconds = time.perf_counter() - started
    summary.metrics_url = metrics_url
    summary.pipelines = {p: pl.counters for p, pl in pipelines.items()}
    print(format_summary(summary, model.profile.feature_names), file=out, flush=True)
    return summary


def _record(summary: RunSummary, result: BatchResult, periods: list[str]) -> None:
    if result.n_processed == 0:
        return
    summary.add_batch(periods, result.predicted, result.labels, result.used_fallback)
    period_of = dict(zip(result.event_ids, periods, strict=True))
    for detection in result.detections:
        summary.add_detection(detection, period_of[detection.event_id])
