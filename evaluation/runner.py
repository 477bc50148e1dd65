"""Run a set of detectors over seeded scenario streams and score them against the truth.

For every stream of the config and every seed the stream is drawn from
:mod:`dataloader.scenarios_univariate`; every compatible detector runs over it with a restart
after each alarm (:func:`evaluation.adapters.run_with_restarts`), in up to two modes:

* ``calibrated`` — its threshold calibrated (:mod:`evaluation.thresholds`) so that its in-control
  ARL0 equals the config's ``target_arl0`` on a reference sample from the stream's pre-change
  distribution (one calibration per detector and pre-change distribution, with a seed separate
  from the evaluation seeds);
* ``default`` — the configured parameters / library defaults, not comparable across detectors.

Detections are matched to the change points by :func:`evaluation.metrics.evaluate_detections`
(attribution window ``tolerance``); per detector, mode and stream the rows report the mean and
standard deviation over seeds of each metric, the median delay over all detected changes, the
pooled MTFA / MTR of :func:`evaluation.metrics.summarize_reports`, and µs per update.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> from driftline.evaluation.config import EvaluateConfig
>>> from driftline.evaluation.runner import run_evaluation
>>> config = load_config(CONFIG_DIR / "evaluate_small.yaml", EvaluateConfig, {"seeds": [0]})
>>> result = run_evaluation(config, progress=False)
>>> sorted(k for k in result.calibrations if not k.startswith("skmultiflow."))  # optional
['ddm', 'incremental_ks', 'page_hinkley', 'river.DDM', 'river.PageHinkley']
>>> always = next(r for r in result.rows() if r["detector"] == "baseline.always_fire")
>>> always["recall"], always["false_alarms_per_10k"]
(1.0, 10000.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.dataloader.scenarios_univariate import (
    DriftStream,
    bimodal_stream,
    error_rate_stream,
    mean_shift_stream,
    no_drift_stream,
    variance_stream,
)
from driftline.evaluation.adapters import (
    DetectorUnavailableError,
    StreamDetector,
    build_factory,
    library_version,
    run_with_restarts,
)
from driftline.evaluation.config import DetectorConfig, EvaluateConfig, StreamConfig
from driftline.evaluation.metrics import DetectionReport, evaluate_detections, summarize_reports
from driftline.evaluation.thresholds import Calibration, calibrate_detector
from driftline.utils.progress import Progress, stage_progress

__all__ = [
    "EvaluationResult",
    "RunRecord",
    "compatible",
    "make_stream",
    "reference_key",
    "reference_sample",
    "run_detector",
    "run_evaluation",
    "summarize_records",
]

_GENERATORS: dict[str, Callable[..., DriftStream]] = {
    "mean_shift": mean_shift_stream,
    "variance": variance_stream,
    "bimodal": bimodal_stream,
    "error_rate": error_rate_stream,
}


def make_stream(spec: StreamConfig, seed: int) -> DriftStream:
    """The stream ``spec`` drawn with ``seed``."""
    if spec.kind == "no_drift":
        return no_drift_stream(spec.length, seed=seed, **spec.params)
    return _GENERATORS[spec.kind](spec.length, list(spec.change_points), seed=seed, **spec.params)


def reference_sample(spec: StreamConfig, length: int, seed: int) -> np.ndarray:
    """``length`` values from the pre-change distribution of ``spec`` (its first segment)."""
    if spec.kind == "no_drift":
        return no_drift_stream(length, seed=seed, **spec.params).values
    params = dict(spec.params)
    if spec.kind == "error_rate":
        params["rates"] = list(params.get("rates", (0.1, 0.3)))[:2]
    return _GENERATORS[spec.kind](length + 1, [length], seed=seed, **params).values[:length]


def reference_key(spec: StreamConfig) -> str:
    """Name of the pre-change distribution; streams sharing it share one calibration."""
    if spec.kind == "error_rate":
        rates = list(spec.params.get("rates", (0.1, 0.3)))
        return f"bernoulli({rates[0]})"
    return f"normal({spec.params.get('mean', 0.0)}, {spec.params.get('std', 1.0)})"


def compatible(detector: DetectorConfig, stream: StreamConfig) -> bool:
    """Whether ``detector`` runs on ``stream``: it takes its values (0/1 or real) and the
    stream is in ``detector.streams`` (when that list is not empty)."""
    if detector.streams and stream.name not in detector.streams:
        return False
    if detector.input == "any":
        return True
    return (detector.input == "binary") == stream.binary


@dataclass(frozen=True)
class RunRecord:
    """One detector, mode, stream and seed."""

    detector: str
    mode: str
    stream: str
    seed: int
    threshold: float | None
    report: DetectionReport
    us_per_update: float


@dataclass
class EvaluationResult:
    """Everything :func:`run_evaluation` measured."""

    records: list[RunRecord] = field(default_factory=list)
    calibrations: dict[str, dict[str, Calibration]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: reference libraries the config uses: version of those that import, reason for the others
    libraries: dict[str, str] = field(default_factory=dict)
    missing_libraries: dict[str, str] = field(default_factory=dict)
    factories: dict[tuple[str, str], Callable[[float | None], StreamDetector]] = field(
        default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """Per detector, mode and stream summary rows (see :func:`summarize_records`)."""
        return summarize_records(self.records)


def run_detector(
    factory: Callable[[], StreamDetector], stream: DriftStream, tolerance: int | None,
) -> tuple[DetectionReport, float]:
    """Detections of one detector on one stream, scored, and its µs per update."""
    started = time.perf_counter()
    detections = run_with_restarts(factory, stream.values)
    elapsed = time.perf_counter() - started
    report = evaluate_detections(detections, stream.change_points, stream.length,
                                 tolerance=tolerance)
    return report, elapsed / stream.length * 1e6


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    if any(math.isinf(v) for v in finite):
        return math.inf, math.nan
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


def summarize_records(records: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per (detector, mode, stream): mean and std over seeds, pooled MTFA/MTR."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((record.detector, record.mode, record.stream), []).append(record)
    rows = []
    for (detector, mode, stream), group in groups.items():
        reports = [r.report for r in group]
        pooled = summarize_reports(reports)
        delays = [d for r in reports for d in r.delays if d is not None]
        row: dict[str, Any] = {"detector": detector, "mode": mode, "stream": stream,
                               "n_seeds": len(group), "threshold": group[0].threshold}
        for key, attr in (("mean_delay", "mean_delay"), ("missed_rate", "missed_detection_rate"),
                          ("false_alarms_per_10k", "false_alarms_per_10k"),
                          ("precision", "precision"), ("recall", "recall")):
            row[key], row[f"{key}_std"] = _mean_std([getattr(r, attr) for r in reports])
        row["median_delay"] = float(np.median(delays)) if delays else math.nan
        row["mtfa"] = pooled["mtfa"]
        row["mtr"] = pooled["mtr"]
        row["us_per_update"], row["us_per_update_std"] = _mean_std(
            [r.us_per_update for r in group])
        rows.append(row)
    return rows


def _calibrate_all(
    config: EvaluateConfig, specs: list[DetectorConfig], result: EvaluationResult,
    bar: Progress,
) -> None:
    references: dict[str, np.ndarray] = {}
    for stream in config.streams:
        key = reference_key(stream)
        if key not in references:
            references[key] = reference_sample(stream, config.calibration.reference_length,
                                               config.calibration.seed)
    for spec in specs:
        for stream in config.streams:
            key = reference_key(stream)
            factory_key = (spec.label, key)
            if factory_key in result.factories or not compatible(spec, stream):
                continue
            try:
                factory = build_factory(spec, references[key])
            except DetectorUnavailableError as exc:
                result.skipped[spec.label] = str(exc)
                if spec.library not in result.missing_libraries:  # else said once already
                    bar.note(f"skipped {spec.label}: {exc}")
                bar.update(_n_calibrations(config, [spec]))  # none of them will run
                break
            result.factories[factory_key] = factory
            if _calibrated(config, spec):
                bar.set_detail(f"{spec.label} on {key}")
                try:
                    cal = calibrate_detector(spec, factory, references[key], config.target_arl0,
                                             config.calibration)
                except ValueError as exc:
                    result.skipped[f"{spec.label} (calibrated, {key})"] = str(exc)
                    bar.note(f"calibration failed for {spec.label} on {key}: {exc}")
                    continue
                finally:
                    bar.update(1)
                result.calibrations.setdefault(spec.label, {})[key] = cal


def _check_libraries(specs: list[DetectorConfig], result: EvaluationResult) -> None:
    """Record which reference libraries import; say once which detectors a missing one skips."""
    for library in sorted({s.library for s in specs} & {"river", "skmultiflow"}):
        try:
            result.libraries[library] = library_version(library)
        except DetectorUnavailableError as exc:
            result.missing_libraries[library] = str(exc)
            labels = [s.label for s in specs if s.library == library]
            # said whether or not progress is shown: a comparison without a library is news
            print(f"{library} is absent, {len(labels)} detector(s) skipped "
                      f"({', '.join(labels)}): {exc}")


def _calibrated(config: EvaluateConfig, spec: DetectorConfig) -> bool:
    return config.calibrated and spec.calibrate and spec.library != "baseline"


def _n_calibrations(config: EvaluateConfig, specs: list[DetectorConfig]) -> int:
    return sum(len({reference_key(st) for st in config.streams if compatible(s, st)})
               for s in specs if _calibrated(config, s))


def _modes(config: EvaluateConfig, spec: DetectorConfig) -> list[str]:
    if spec.library == "baseline":
        return ["baseline"]
    modes = []
    if _calibrated(config, spec):
        modes.append("calibrated")
    if config.defaults:
        modes.append("default")
    return modes


def run_evaluation(config: EvaluateConfig, *, progress: bool | None = None) -> EvaluationResult:
    """Calibrate (when configured) and run every detector on every stream and seed."""
    show = config.progress if progress is None else progress
    result = EvaluationResult()
    specs = list(config.detectors)
    n_runs = sum(len(_modes(config, s)) for s in specs for st in config.streams
                 if compatible(s, st)) * len(config.seeds)
    with stage_progress("calibrate", _n_calibrations(config, specs), unit="calibrations",
                        enabled=show) as bar:
        _check_libraries(specs, result)
        _calibrate_all(config, specs, result, bar)
    # one run per detector, mode, stream and seed
    with stage_progress("evaluate", n_runs, unit="runs", enabled=show) as bar:
        for stream_spec in config.streams:
            key = reference_key(stream_spec)
            for seed in config.seeds:
                stream = make_stream(stream_spec, seed)
                for spec in specs:
                    if not compatible(spec, stream_spec):
                        continue
                    for mode in _modes(config, spec):
                        bar.set_detail(f"{spec.label} {mode} {stream_spec.name} seed {seed}")
                        factory = result.factories.get((spec.label, key))
                        threshold = _threshold(result, spec, key, mode)
                        if factory is not None and (mode != "calibrated" or threshold is not None):
                            report, us = run_detector(lambda f=factory, t=threshold: f(t),
                                                      stream, config.tolerance)
                            result.records.append(RunRecord(spec.label, mode, stream_spec.name,
                                                            seed, threshold, report, us))
                        bar.update(1)
    return result


def _threshold(result: EvaluationResult, spec: DetectorConfig, key: str, mode: str
               ) -> float | None:
    if mode != "calibrated":
        return None
    cal = result.calibrations.get(spec.label, {}).get(key)
    return None if cal is None else cal.threshold
