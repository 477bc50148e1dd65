"""Benchmark of the executor's in-process path: decode + ``DetectionPipeline.process``.

The 36 insurance months are encoded as the replay producer encodes them
(:func:`executor.decode.encode_event`, via :class:`executor.sources.ReplaySource`), then decoded
and processed in micro-batches of ``batch.max_rows`` by one pipeline built with the detector set
of the config (default ``configs/kafka.yaml``), whose readings go to a
:class:`executor.exporter.DriftExporter`.
Start-up (calibration) is excluded and reported apart. Printed: events/s of the whole path, of
decoding alone and of processing alone, and where the time goes: decode, model, every detector
group, the exporter, and the rest of the pipeline's own work. A ``json.loads`` pass over the same
bytes is printed as the floor of any decoder.

Then the same path on a wide stream of a user's schema (20 numeric + 10 categorical fields,
:mod:`evaluation.bench_wide`), printed beside the insurance figure of the same run.

Run ``python -m driftline.evaluation.bench_pipeline [--config configs/kafka.yaml] [--months 1-36]
[--repeat 3] [--wide-events N]``; ``--profile`` also prints a pyinstrument profile when it is
installed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from driftline.evaluation.bench_common import calibrated_state

__all__ = ["StageTimer", "main", "run_benchmark"]


class StageTimer:
    """Accumulated wall time per named stage, filled by wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed into ``stage``."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start
                self.calls[stage] += 1

        return timed


def _instrument(pipeline: Any, timer: StageTimer) -> None:
    """Time the model and each detector of ``pipeline`` (instance attributes shadow the
    methods; the pipeline code itself is unchanged)."""
    pipeline.model = _ModelTimer(pipeline.model, timer)
    for stream, group in pipeline.streams.items():
        for name, detector in group.detectors.items():
            detector.update_many = timer.wrap(f"{stream}/{name}", detector.update_many)


class _ModelTimer:
    def __init__(self, model: Any, timer: StageTimer) -> None:
        self._model = model
        self.predict = timer.wrap("model", model.predict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _parse_months(text: str) -> list[int]:
    months: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        months.extend(range(int(low), int(high or low) + 1))
    return months


def run_benchmark(config_path: str, months: Sequence[int], repeat: int,
                  profile: bool = False) -> dict[str, Any]:
    """Measure the path ``repeat`` times (fresh warm-started pipeline each time); return the
    best run's numbers and its stage breakdown."""
    from driftline.configs import load_config
    from driftline.executor.config import RunConfig
    from driftline.executor.decode import DeadLetter, EventDecoder
    from driftline.executor.exporter import DriftExporter
    from driftline.executor.pipeline import DetectionPipeline
    from driftline.executor.sources import ReplaySource
    from driftline.model.artifacts import load_artifacts

    config = load_config(config_path, RunConfig, {"metrics.enabled": False})
    model = load_artifacts(config.model.artifacts_dir)
    records = [(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp_ms)
               for r in ReplaySource.insurance(months, topic="bench")]
    n = len(records)
    started = time.perf_counter()
    first = DetectionPipeline(model, config)
    fresh = calibrated_state(first)
    setup_seconds = time.perf_counter() - started
    batch_rows = config.batch.max_rows

    start = time.perf_counter()
    for value, *_ in records:
        json.loads(value)
    json_seconds = time.perf_counter() - start

    best: dict[str, Any] | None = None
    for _ in range(repeat):
        timer = StageTimer()
        exporter = DriftExporter(model.profile, drift_hold_seconds=config.metrics.drift_hold_s)
        pipeline = DetectionPipeline(model, config, state=fresh)
        _instrument(pipeline, timer)
        apply_readings = timer.wrap("exporter", exporter.apply_readings)
        decoder = EventDecoder(model.profile.feature_names, n_classes=len(model.class_names))
        profiler = _start_profiler() if profile else None
        start = time.perf_counter()
        decode_seconds = 0.0
        n_detections = 0
        for lo in range(0, n, batch_rows):
            t0 = time.perf_counter()
            events = []
            for value, key, topic, partition, offset, ts in records[lo:lo + batch_rows]:
                decoded = decoder.decode(value, key=key, topic=topic, partition=partition,
                                         offset=offset, timestamp_ms=ts)
                if isinstance(decoded, DeadLetter):
                    raise RuntimeError(f"benchmark record dead-lettered: {decoded.detail}")
                events.append(decoded)
            decode_seconds += time.perf_counter() - t0
            result = pipeline.process(events)
            apply_readings(result.readings, source=0)
            n_detections += len(result.detections)
        total = time.perf_counter() - start
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))
        run = {"total": total, "decode": decode_seconds, "stages": dict(timer.seconds),
               "detections": n_detections}
        if best is None or total < best["total"]:
            best = run
    assert best is not None
    return {"n_events": n, "batch_rows": batch_rows, "setup_seconds": setup_seconds,
            "json_seconds": json_seconds, **best}


def _start_profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: no profile")
        return None
    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler


def format_report(result: dict[str, Any]) -> str:
    """Human-readable table of :func:`run_benchmark` output."""
    n = result["n_events"]
    total = result["total"]
    process = total - result["decode"]
    stages = result["stages"]
    lines = [
        f"events: {n} in batches of {result['batch_rows']}; start-up (calibration) "
        f"{result['setup_seconds']:.2f} s, not timed; detections: {result['detections']}",
        f"decode + process : {n / total:10.0f} events/s  ({total:.3f} s)",
        f"decode only      : {n / result['decode']:10.0f} events/s  "
        f"(json.loads alone: {n / result['json_seconds']:.0f}/s)",
        f"process only     : {n / process:10.0f} events/s",
        "",
        f"{'stage':<32}{'seconds':>9}{'share':>8}{'us/event':>10}",
    ]
    rows = [("decode", result["decode"]), *sorted(stages.items(), key=lambda kv: -kv[1])]
    rows.append(("pipeline (rest)", process - sum(stages.values())))
    for name, seconds in rows:
        lines.append(f"{name:<32}{seconds:9.3f}{seconds / total:8.1%}{1e6 * seconds / n:10.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/kafka.yaml")
    parser.add_argument("--months", default="1-36", help="e.g. 1-36 or 1,5,7-9")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile")
    parser.add_argument("--wide-events", type=int, default=None,
                        help="events of the wide stream (default: as many as the insurance "
                             "run; 0 skips it)")
    args = parser.parse_args(argv)
    result = run_benchmark(args.config, _parse_months(args.months), max(1, args.repeat),
                           profile=args.profile)
    print(format_report(result))
    n_wide = result["n_events"] if args.wide_events is None else args.wide_events
    if n_wide > 0:
        from driftline.evaluation.bench_wide import format_wide, run_wide

        wide = run_wide(n_wide, result["batch_rows"], max(1, args.repeat))
        print()
        print(format_wide(wide))
        insurance_rate = result["n_events"] / result["total"]
        wide_rate = wide["n_events"] / wide["total"]
        print(f"\nside by side: insurance (5 numeric fields) {insurance_rate:.0f} events/s, "
              f"wide (20 numeric + 10 categorical fields) {wide_rate:.0f} events/s "
              f"(ratio {wide_rate / insurance_rate:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
