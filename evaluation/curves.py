"""Data behind the figures: statistic traces and delay / false-alarm trade-off curves.

:func:`statistic_traces` records, value by value, each driftline detector's statistic and
threshold on one stream (river detectors expose no common statistic). :func:`tradeoff_curves`
scales each calibrated threshold through ``TradeoffConfig.scales`` and, per scale, measures the
mean detection delay on the trade-off stream and the false alarms per 10,000 values on a stream of
its pre-change distribution, over every seed: the ROC-style curve of each detector, with the
always-fire baseline as the corner point (delay 0, 10,000 false alarms per 10k).

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> from driftline.evaluation.config import EvaluateConfig
>>> from driftline.evaluation.curves import tradeoff_curves
>>> from driftline.evaluation.runner import run_evaluation
>>> config = load_config(CONFIG_DIR / "evaluate_small.yaml", EvaluateConfig, {"seeds": [0]})
>>> curves = tradeoff_curves(config, run_evaluation(config, progress=False))
>>> half, calibrated, double = curves["page_hinkley"]
>>> half.scale, calibrated.scale, double.threshold / calibrated.threshold
(0.5, 1.0, 2.0)
>>> (corner,) = curves["baseline.always_fire"]
>>> corner.mean_delay, corner.false_alarms_per_10k
(0.0, 10000.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.evaluation.adapters import run_with_restarts
from driftline.evaluation.config import EvaluateConfig
from driftline.evaluation.metrics import evaluate_detections, summarize_reports
from driftline.evaluation.runner import (
    EvaluationResult,
    make_stream,
    reference_key,
    reference_sample,
)

__all__ = ["StatisticTrace", "TradeoffPoint", "statistic_traces", "tradeoff_curves"]


@dataclass(frozen=True)
class StatisticTrace:
    """Statistic and threshold of one detector after every value of one stream."""

    detector: str
    stream: str
    statistic: np.ndarray
    threshold: np.ndarray
    detections: tuple[int, ...]
    change_points: tuple[int, ...]


@dataclass(frozen=True)
class TradeoffPoint:
    """One threshold of one detector: its delay and false-alarm rate."""

    detector: str
    scale: float
    threshold: float
    mean_delay: float
    missed_rate: float
    false_alarms_per_10k: float


def statistic_traces(config: EvaluateConfig, result: EvaluationResult, *, seed: int | None = None
                     ) -> list[StatisticTrace]:
    """Traces of every calibrated driftline detector on ``config.trace_stream``."""
    if not config.trace_stream:
        return []
    spec_stream = next(s for s in config.streams if s.name == config.trace_stream)
    stream = make_stream(spec_stream, config.seeds[0] if seed is None else seed)
    key = reference_key(spec_stream)
    traces = []
    for spec in config.detectors:
        factory = result.factories.get((spec.label, key))
        cal = result.calibrations.get(spec.label, {}).get(key)
        if spec.library != "driftline" or factory is None or cal is None:
            continue
        trace: dict[str, list[float]] = {}
        detections = run_with_restarts(lambda f=factory, t=cal.threshold: f(t), stream.values,
                                       trace=trace)
        traces.append(StatisticTrace(spec.label, spec_stream.name,
                                     np.asarray(trace["statistic"]),
                                     np.asarray(trace["threshold"]), tuple(detections),
                                     stream.change_points))
    return traces


def _clip(value: float, bounds: list[float]) -> float:
    return float(min(max(value, bounds[0]), bounds[1]))


def tradeoff_curves(config: EvaluateConfig, result: EvaluationResult
                    ) -> dict[str, list[TradeoffPoint]]:
    """Delay / false-alarm points per calibrated detector (module docstring)."""
    if not config.tradeoff.enabled or not config.tradeoff.stream:
        return {}
    spec_stream = next(s for s in config.streams if s.name == config.tradeoff.stream)
    key = reference_key(spec_stream)
    streams = [make_stream(spec_stream, seed) for seed in config.seeds]
    quiet_length = max(spec_stream.length, int(5 * config.target_arl0))
    quiet = [reference_sample(spec_stream, quiet_length, 10_000 + seed) for seed in config.seeds]
    curves: dict[str, list[TradeoffPoint]] = {}
    for spec in config.detectors:
        factory = result.factories.get((spec.label, key))
        cal = result.calibrations.get(spec.label, {}).get(key)
        wanted = not config.tradeoff.detectors or spec.label in config.tradeoff.detectors
        if factory is None or cal is None or not wanted:
            continue
        points = []
        for scale in sorted(set(config.tradeoff.scales)):
            threshold = _clip(cal.threshold * scale, spec.threshold_bounds)
            if spec.threshold_integer:
                threshold = float(round(threshold))

            def make(f: Any = factory, t: float = threshold) -> Any:
                return f(t)

            drift = summarize_reports([
                evaluate_detections(run_with_restarts(make, s.values), s.change_points,
                                    s.length, tolerance=config.tolerance) for s in streams])
            false = summarize_reports([
                evaluate_detections(run_with_restarts(make, q), (), len(q)) for q in quiet])
            points.append(TradeoffPoint(spec.label, scale, threshold, drift["mean_delay"],
                                        drift["missed_rate"], false["false_alarms_per_10k"]))
        curves[spec.label] = points
    baseline = [d.label for d in config.detectors if d.library == "baseline"]
    for label in baseline:
        curves[label] = [TradeoffPoint(label, 1.0, math.nan, 0.0, 0.0, 1e4)]
    return curves
