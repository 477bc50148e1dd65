"""Soak test on real components: a long in-control stream must page nobody, real drift must.

``driftline evaluate --config configs/evaluate_soak.yaml`` (``protocol: soak``). Two phases, each
through the embedded executor (:func:`executor.local_runner.run_local`: encode -> decode ->
model -> detectors -> exporter, the production batch path) with a real Prometheus scraping it
and evaluating the project's recording and alert rules (:mod:`evaluation.prometheus_process`;
only the scrape and evaluation intervals are shortened):

1. **in control**: ``n_events`` rows drawn with replacement from the insurance reference split
   (features and label together, so the error detectors see the reference error rate), at full
   speed. Pass: no alert but the always-firing watchdog, pending or firing, ever.
2. **insurance**: the 36 production months with the same run configuration. Pass: a drift
   alert on every feature of ``insurance.expect_alerts`` and none on ``expect_quiet``.

After each stream the executor stays up, idle, for ``settle_s`` before the alerts are read (an
alert that went pending in the last two minutes gets to fire). Alerts are read as
``max_over_time(ALERTS[phase])``: every alert that was pending or firing at any evaluation of
the phase. The stream is emitted in whole batches (``n_events`` rounded up to a multiple of
``batch.max_rows``) so that every event is detected before the idle wait.

The report (``results.md``, ``results.json``) gives per phase the events, wall time, events/s,
detections per series, the alerts and, from ``driftline_detector_target_arl0``, the expected
number of false alarms over the stream (``sum over series of n_events / target ARL0``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from driftline.evaluation.prometheus_process import JOB, PrometheusProcess, free_port
from driftline.evaluation.soak_config import SoakConfig
from driftline.executor.config import RunConfig, load_run_config
from driftline.executor.decode import encode_event
from driftline.executor.sources import ReplaySource, SourceRecord

__all__ = ["PhaseResult", "SoakResult", "bootstrap_records", "run_soak", "write_report"]

WATCHDOG = "DriftlineWatchdog"
_CHUNK = 10_000


def bootstrap_records(features: np.ndarray, feature_names: list[str], labels: np.ndarray,
                      n_events: int, seed: int, *, topic: str = "soak",
                      start_time: float | None = None) -> Iterator[SourceRecord]:
    """``n_events`` encoded events whose rows (features with their label) are drawn with
    replacement from ``features`` / ``labels``; one partition, one event per millisecond."""
    rng = np.random.default_rng(seed)
    start = time.time() if start_time is None else float(start_time)
    names = [str(n) for n in feature_names]
    for first in range(0, n_events, _CHUNK):
        rows = rng.integers(0, len(features), size=min(_CHUNK, n_events - first))
        for k, row in enumerate(rows.tolist()):
            i = first + k
            stamp = start + i / 1000.0
            event_id = f"soak-{seed}-{i:09d}"
            value = encode_event(event_id, dict(zip(names, features[row].tolist(), strict=True)),
                                 int(labels[row]), stamp)
            yield SourceRecord(value, event_id.encode(), topic, 0, i, int(stamp * 1000),
                               f"rows {i // 1_000_000}M")


@dataclass
class PhaseResult:
    """What one phase measured (see the module docstring)."""

    name: str
    n_events: int
    wall_seconds: float
    events_per_s: float
    detections: dict[str, int]
    alerts: list[dict[str, str]]
    expected_false_alarms: float | None
    target_arl0: dict[str, float]
    events_seen_by_prometheus: float
    watchdog_seen: bool
    passed: bool = False
    verdict: str = ""


@dataclass
class SoakResult:
    config: dict[str, Any]
    phases: list[PhaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(phase.passed for phase in self.phases)


class _ObservedSource:
    """Yields ``records`` once Prometheus scraped the executor, then stays idle (the stream is
    over, the executor keeps serving ``/metrics``) until :attr:`release` is set."""

    def __init__(self, records: Iterator[SourceRecord], prometheus: PrometheusProcess,
                 warm_up_s: float) -> None:
        self.records = records
        self.prometheus = prometheus
        self.warm_up_s = warm_up_s
        self.started = threading.Event()
        self.finished = threading.Event()
        self.release = threading.Event()
        self.n_events = 0
        self.stream_seconds = 0.0
        self.started_at = time.monotonic()

    def __iter__(self) -> Iterator[SourceRecord]:
        # the executor serves /metrics by now: Prometheus starts, scrapes it, and its rules
        # see the scrape before the stream (and the observed window) begins
        self.prometheus.start()
        self.prometheus.wait_scraped(timeout_s=120.0)
        time.sleep(self.warm_up_s)
        self.started_at = time.monotonic()
        self.started.set()
        began = time.monotonic()
        for record in self.records:
            self.n_events += 1
            yield record
        self.stream_seconds = time.monotonic() - began
        self.finished.set()
        self.release.wait()


def _series_name(labels: dict[str, str]) -> str:
    feature = labels.get("feature", "")
    return f"{labels.get('detector', '')}/{labels.get('stream', '')}" + (
        f"/{feature}" if feature else "")


def _run_phase(name: str, run_config: RunConfig, model: Any, records: Iterator[SourceRecord],
               config: SoakConfig, workdir: Path) -> PhaseResult:
    from driftline.executor.local_runner import run_local

    port = free_port()
    metrics = run_config.metrics.model_copy(update={"enabled": True, "host": "127.0.0.1",
                                                    "port": port})
    phase_config = run_config.model_copy(update={"metrics": metrics})
    with PrometheusProcess(f"127.0.0.1:{port}", workdir / name, interval_s=config.interval_s,
                           scrape_interval_s=config.scrape_interval_s,
                           start=False) as prometheus:
        source = _ObservedSource(records, prometheus, 2 * config.interval_s)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with open(workdir / f"{name}-summary.txt", "w", encoding="utf-8") as out:
                    outcome["summary"] = run_local(phase_config, out=out, model=model,
                                                   source=source)
            except BaseException as exc:  # reported in the main thread
                outcome["error"] = exc
                source.finished.set()

        thread = threading.Thread(target=run, name=f"soak-{name}", daemon=True)
        thread.start()
        source.finished.wait()
        if "error" in outcome:
            raise RuntimeError(f"soak phase {name} failed: {outcome['error']!r}")
        wall = source.stream_seconds
        # two more scrapes and evaluations so the last batches are seen, then the idle wait
        time.sleep(max(config.settle_s, 2 * config.scrape_interval_s + 2 * config.interval_s))
        # from the first scrape on: before it, absent(up) is rightly pending
        span = math.floor(time.monotonic() - source.started_at)
        alerts = [dict(s["metric"]) for s in prometheus.query(
            f"max_over_time(ALERTS[{span}s])")]
        targets = {_series_name(s["metric"]): float(s["value"][1]) for s in prometheus.query(
            f'driftline_detector_target_arl0{{job="{JOB}"}}')}
        seen = prometheus.query(f'sum(driftline_events_processed_total{{job="{JOB}"}})')
        source.release.set()
        thread.join(timeout=600)
        if "error" in outcome:
            raise RuntimeError(f"soak phase {name} failed: {outcome['error']!r}")
    summary = outcome["summary"]
    detections = {"/".join(part for part in key if part): sum(counts.values())
                  for key, counts in summary.detections.items() if sum(counts.values())}
    n = source.n_events
    expected = sum(n / arl0 for arl0 in targets.values() if arl0 > 0) if targets else None
    return PhaseResult(
        name, n, round(wall, 1), round(n / wall, 1) if wall > 0 else 0.0, detections,
        [{k: v for k, v in a.items() if k not in ("__name__", "job", "instance")}
         for a in alerts if a.get("alertname") != WATCHDOG],
        expected, targets, float(seen[0]["value"][1]) if seen else 0.0,
        any(a.get("alertname") == WATCHDOG for a in alerts))


def _judge_in_control(phase: PhaseResult) -> None:
    problems = []
    if not phase.watchdog_seen:
        problems.append("the watchdog never fired: the rules were not evaluated")
    if phase.events_seen_by_prometheus < phase.n_events:
        problems.append(f"Prometheus saw {phase.events_seen_by_prometheus:.0f} of "
                        f"{phase.n_events} events")
    if phase.alerts:
        problems.append(f"{len(phase.alerts)} alert(s): "
                        + ", ".join(sorted({_alert_name(a) for a in phase.alerts})))
    phase.passed = not problems
    phase.verdict = "no alert" if phase.passed else "; ".join(problems)


def _alert_name(alert: dict[str, str]) -> str:
    feature = alert.get("feature")
    return f"{alert['alertname']}[{alert.get('alertstate', '')}]" + (
        f"{{{feature}}}" if feature else "")


def _judge_insurance(phase: PhaseResult, config: SoakConfig) -> None:
    states = ("firing",) if config.require_firing else ("firing", "pending")
    alerted = {a.get("feature", "") for a in phase.alerts
               if a.get("alertstate") in states and a.get("feature")}
    touched = {a.get("feature", "") for a in phase.alerts if a.get("feature")}
    missing = [f for f in config.insurance.expect_alerts if f not in alerted]
    wrong = [f for f in config.insurance.expect_quiet if f in touched]
    problems = []
    if missing:
        problems.append(f"no {'/'.join(states)} alert on {missing}")
    if wrong:
        problems.append(f"alerts on {wrong}, which must stay quiet")
    if not phase.watchdog_seen:
        problems.append("the watchdog never fired: the rules were not evaluated")
    phase.passed = not problems
    phase.verdict = (f"alerts on {sorted(alerted)}" if phase.passed else "; ".join(problems))


def _whole_batches(n_events: int, batch_rows: int) -> int:
    return math.ceil(n_events / batch_rows) * batch_rows


def run_soak(config: SoakConfig, *, log: Any = print) -> SoakResult:
    """Both phases of ``config`` (see the module docstring)."""
    from driftline.dataloader.insurance import load_split
    from driftline.model.artifacts import load_artifacts

    run_config = load_run_config(config.run_config)
    model = load_artifacts(run_config.model.artifacts_dir)
    workdir = Path(config.output_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = SoakResult(config.model_dump())
    reference = load_split("reference")
    n_events = _whole_batches(config.n_events, run_config.batch.max_rows)
    log(f"soak: {n_events} in-control events bootstrapped from the insurance reference "
        f"({len(reference)} rows), run config {config.run_config}")
    phase = _run_phase("in_control", run_config, model, bootstrap_records(
        reference.features, list(reference.feature_names), reference.group, n_events,
        config.seed), config, workdir)
    _judge_in_control(phase)
    result.phases.append(phase)
    log(f"soak: in control: {phase.n_events} events in {phase.wall_seconds} s: {phase.verdict}")
    if config.insurance.enabled:
        months = list(range(1, 37))
        replay = ReplaySource.insurance(months, topic="insurance")
        phase = _run_phase("insurance", run_config, model, iter(replay), config, workdir)
        _judge_insurance(phase, config)
        result.phases.append(phase)
        log(f"soak: insurance: {phase.n_events} events in {phase.wall_seconds} s: "
            f"{phase.verdict}")
    return result


def _markdown(result: SoakResult) -> str:
    cfg = result.config
    lines = [
        "# Soak: in-control stream and the insurance months through executor and Prometheus",
        "",
        f"Run config `{cfg['run_config']}`, seed {cfg['seed']}, Prometheus evaluating the "
        f"project's rules every {cfg['interval_s']} s and scraping every "
        f"{cfg['scrape_interval_s']} s, idle {cfg['settle_s']} s after each stream.",
        "",
        "| phase | events | wall s | events/s | detections | alerts (pending or firing) "
        "| expected false alarms | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in result.phases:
        expected = "-" if p.expected_false_alarms is None else f"{p.expected_false_alarms:.3g}"
        alerts = ", ".join(sorted({_alert_name(a) for a in p.alerts})) or "none"
        detections = ", ".join(f"{k}: {v}" for k, v in sorted(p.detections.items())) or "none"
        lines.append(f"| {p.name} | {p.n_events:,} | {p.wall_seconds} | {p.events_per_s:,.0f} "
                     f"| {detections} | {alerts} | {expected} | "
                     f"{'PASS' if p.passed else 'FAIL'}: {p.verdict} |")
    if result.phases and result.phases[0].target_arl0:
        lines += ["", "Target ARL0 per series (`driftline_detector_target_arl0`):", ""]
        lines += [f"- {name}: {arl0:.3g}"
                  for name, arl0 in sorted(result.phases[0].target_arl0.items())]
    return "\n".join(lines) + "\n"


def write_report(result: SoakResult, output_dir: str | Path) -> list[Path]:
    """``results.md`` and ``results.json`` in ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "results.md", out / "results.json"
    md.write_text(_markdown(result), encoding="utf-8")
    js.write_text(json.dumps({"passed": result.passed, "config": result.config,
                              "phases": [asdict(p) for p in result.phases]}, indent=2),
                  encoding="utf-8")
    return [md, js]
