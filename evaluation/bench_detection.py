"""Detection benchmark: delay, missed rate and false alarms on seeded streams with known changes.

Streams (:mod:`dataloader.scenarios_univariate`): ``pre`` values of ``N(0, 1)`` then ``post``
values after the change — mean shift of 0.5/1/2 σ, variance × 3, bimodal shape change with equal
mean and variance — plus a long no-drift stream. Every stream is run for several seeds; the
change window runs to the end of the stream (``tolerance=None`` in
:func:`evaluation.metrics.evaluate_detections`), so false alarms are the detections before the
change (and every detection on the no-drift stream). Results are pooled over seeds with
:func:`evaluation.metrics.summarize_reports`.

Detectors, each restarted fresh after every detection:

* PageHinkley (two-sided, ``delta = 0.25`` σ: the CUSUM-optimal allowance for a 0.5 σ shift)
  with its threshold calibrated to ARL0 = 10,000 by
  :func:`detectors.calibration.calibrate_page_hinkley` on an independent reference sample of
  20,000 in-control values (one per seed), mean and std pinned to that sample's;
* IncrementalKS (window 500) against the first 2,000 values of the same reference sample,
  ``alpha`` chosen on separate calibration streams (other seeds) as the largest value on a grid
  whose false-alarm rate is ≤ 1 per 10,000 values — the rate PH's ARL0 = 10,000 implies;
* river's PageHinkley and KSWIN at their default parameters (labelled "defaults": uncalibrated).

Targets: calibrated PH ≤ 1 false alarm per 10k on the no-drift stream; IKS misses ≤ 5 % of the
variance and bimodal changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.dataloader.scenarios_univariate import (
    DriftStream,
    bimodal_stream,
    mean_shift_stream,
    no_drift_stream,
    variance_stream,
)
from driftline.evaluation.bench_common import (
    Available,
    markdown_table,
    ours_detections,
    river_detections,
    try_build,
)
from driftline.evaluation.bench_common import (
    verdict as _verdict,
)
from driftline.evaluation.metrics import evaluate_detections, summarize_reports

__all__ = [
    "IKS_ALPHA_GRID",
    "DetectionConfig",
    "calibrate_iks_alpha",
    "detection_table",
    "run_detection",
]

TARGET_ARL0 = 10_000
PH_MAX_FA_PER_10K = 1.0
IKS_MAX_MISSED = 0.05
IKS_WINDOW = 500
IKS_ALPHA_GRID = (0.05, 0.02, 0.01, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 1e-5, 1e-6, 1e-8)
REFERENCE_SIZE = 20_000
PH_DELTA = 0.25
IKS_REFERENCE_SIZE = 2000


@dataclass(frozen=True)
class DetectionConfig:
    """Sizes of the detection benchmark."""

    pre: int = 10_000
    post: int = 5_000
    no_drift_length: int = 100_000
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    no_drift_seeds: tuple[int, ...] = (0, 1, 2)
    calibration_length: int = 100_000
    calibration_seeds: tuple[int, ...] = (101, 102)
    ph_calibration_streams: int = 200

    @classmethod
    def quick(cls) -> DetectionConfig:
        return cls(pre=2000, post=1500, no_drift_length=10_000, seeds=(0, 1),
                   no_drift_seeds=(0,), calibration_length=10_000, calibration_seeds=(101,),
                   ph_calibration_streams=50)


_StreamSpec = tuple[str, Callable[[int], DriftStream], tuple[int, ...]]


def _streams(cfg: DetectionConfig) -> list[_StreamSpec]:
    n, cp = cfg.pre + cfg.post, cfg.pre
    return [
        ("mean shift 0.5 sd", lambda s: mean_shift_stream(n, cp, 0.5, seed=s), cfg.seeds),
        ("mean shift 1 sd", lambda s: mean_shift_stream(n, cp, 1.0, seed=s), cfg.seeds),
        ("mean shift 2 sd", lambda s: mean_shift_stream(n, cp, 2.0, seed=s), cfg.seeds),
        ("variance x3", lambda s: variance_stream(n, cp, 3.0, seed=s), cfg.seeds),
        ("bimodal, equal mean/var", lambda s: bimodal_stream(n, cp, seed=s), cfg.seeds),
        (f"no drift ({cfg.no_drift_length:,})",
         lambda s: no_drift_stream(cfg.no_drift_length, seed=s), cfg.no_drift_seeds),
    ]


def _reference(seed: int) -> np.ndarray:
    """Pre-change reference sample, independent of the evaluated stream of the same seed."""
    return np.random.default_rng([seed, 9_999]).standard_normal(REFERENCE_SIZE)


def _ph_factory(reference: np.ndarray, seed: int, n_streams: int) -> Callable[[], Any]:
    """PageHinkley pinned to the reference, threshold calibrated to ``TARGET_ARL0`` on it."""
    from driftline.detectors import make_detector
    from driftline.detectors.calibration import calibrate_page_hinkley

    result = calibrate_page_hinkley(reference, TARGET_ARL0, delta=PH_DELTA, pin_reference=True,
                                    n_streams=n_streams, random_state=seed)
    params = {"delta": PH_DELTA, "threshold": float(result.threshold),
              "reference_mean": float(reference.mean()),
              "reference_std": float(reference.std(ddof=1))}
    return lambda: make_detector("page_hinkley", **params)


def _iks_factory(reference: np.ndarray, alpha: float) -> Callable[[], Any]:
    ref = reference[:IKS_REFERENCE_SIZE].tolist()

    def build() -> Any:
        from driftline.detectors import make_detector

        return make_detector("incremental_ks", reference=ref, window_size=IKS_WINDOW, alpha=alpha)

    return build


def calibrate_iks_alpha(cfg: DetectionConfig, grid: tuple[float, ...] = IKS_ALPHA_GRID) -> float:
    """Largest ``alpha`` on ``grid`` with ≤ 1 false alarm per 10k on the calibration streams.

    The calibration streams and references use ``cfg.calibration_seeds``, disjoint from the
    evaluation seeds. Falls back to the smallest alpha if none qualifies.
    """
    for alpha in sorted(grid, reverse=True):
        alarms, exposure = 0, 0
        for seed in cfg.calibration_seeds:
            values = no_drift_stream(cfg.calibration_length, seed=seed).values
            alarms += len(ours_detections(_iks_factory(_reference(seed), alpha), values))
            exposure += len(values)
        if 1e4 * alarms / exposure <= PH_MAX_FA_PER_10K:
            return alpha
    return min(grid)


def _river(path: str, **params: Any) -> Callable[[], Any]:
    def build() -> Any:
        import importlib

        module_name, class_name = path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)(**params)

    return build


@dataclass(frozen=True)
class _Contender:
    label: str
    kind: str  # "ours" or "river"
    per_seed: Callable[[int], Callable[[], Any]] | None
    reason: str = ""


def _contenders(cfg: DetectionConfig) -> list[_Contender]:
    out: list[_Contender] = []
    ph_cache: dict[int, Callable[[], Any]] = {}

    def ph_for_seed(seed: int) -> Callable[[], Any]:
        if seed not in ph_cache:
            ph_cache[seed] = _ph_factory(_reference(seed), seed, cfg.ph_calibration_streams)
        return ph_cache[seed]

    try:
        ph = try_build(ph_for_seed(cfg.seeds[0]))
    except Exception as exc:  # missing or failing calibration is reported, not fatal
        ph = Available(None, f"not available: {type(exc).__name__}: {exc}")
    out.append(_Contender(
        f"PageHinkley (delta={PH_DELTA:g}, ARL0={TARGET_ARL0:,} calibrated)", "ours",
        ph_for_seed if ph.ok else None, ph.reason))
    probe = try_build(_iks_factory(_reference(0), 1e-6))
    if probe.ok:
        try:
            alpha = calibrate_iks_alpha(cfg)
        except Exception as exc:  # a detector failing at run time is reported, not fatal
            probe = Available(None, f"failed: {type(exc).__name__}: {exc}")
    label = f"IncrementalKS (window {IKS_WINDOW}"
    if probe.ok:
        out.append(_Contender(f"{label}, alpha={alpha:.0e})", "ours",
                              lambda s: _iks_factory(_reference(s), alpha)))
    else:
        out.append(_Contender(f"{label})", "ours", None, probe.reason))
    out.append(_Contender("river PageHinkley (defaults)", "river",
                          lambda s: _river("river.drift.PageHinkley")))
    out.append(_Contender("river KSWIN (defaults)", "river",
                          lambda s: _river("river.drift.KSWIN", seed=s)))
    return out


def _poisson_ci_per_10k(summary: dict[str, float]) -> dict[str, float]:
    """Exact (Garwood) 95 % confidence interval of the false-alarm rate per 10k."""
    from scipy.stats import chi2

    k, exposure = summary["n_false_alarms"], summary["exposure"]
    if not exposure:
        return {"fa_ci_low": math.nan, "fa_ci_high": math.nan}
    low = chi2.ppf(0.025, 2 * k) / 2 if k > 0 else 0.0
    high = chi2.ppf(0.975, 2 * k + 2) / 2
    return {"fa_ci_low": 1e4 * low / exposure, "fa_ci_high": 1e4 * high / exposure}


def _target(label: str, stream: str) -> tuple[str, Callable[[dict[str, float]], bool] | None]:
    if label.startswith("PageHinkley") and stream.startswith("no drift"):
        return (f"FA/10k <= {PH_MAX_FA_PER_10K:g}",
                lambda s: s["false_alarms_per_10k"] <= PH_MAX_FA_PER_10K)
    if label.startswith("IncrementalKS") and stream.startswith(("variance", "bimodal")):
        return (f"missed <= {IKS_MAX_MISSED:.0%}",
                lambda s: s["missed_rate"] <= IKS_MAX_MISSED)
    return "", None


def run_detection(cfg: DetectionConfig | None = None) -> list[dict[str, Any]]:
    """Run every contender on every stream and seed; one result dict per (detector, stream)."""
    cfg = cfg or DetectionConfig()
    results: list[dict[str, Any]] = []
    for contender in _contenders(cfg):
        for stream_label, make_stream, seeds in _streams(cfg):
            target, check = _target(contender.label, stream_label)
            row: dict[str, Any] = {"detector": contender.label, "stream": stream_label,
                                   "target": target, "seeds": list(seeds)}
            if contender.per_seed is None:
                row.update({"status": contender.reason, "pass": None})
                results.append(row)
                continue
            try:
                reports = []
                for seed in seeds:
                    stream = make_stream(seed)
                    factory = contender.per_seed(seed)
                    run = ours_detections if contender.kind == "ours" else river_detections
                    found = run(factory, stream.values)
                    reports.append(evaluate_detections(found, stream.change_points,
                                                       stream.length))
                summary = summarize_reports(reports)
                summary.update(_poisson_ci_per_10k(summary))
                row.update(summary)
                row.update({"status": "ok", "pass": check(summary) if check else None})
            except Exception as exc:  # a detector failing at run time is reported, not fatal
                row.update({"status": f"failed: {type(exc).__name__}: {exc}",
                            "pass": False if target else None})
            results.append(row)
    return results


def detection_table(results: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_detection` results."""
    headers = ["detector", "stream", "seeds", "mean delay", "missed", "false alarms / 10k",
               "95% CI", "MTR", "target", "PASS/FAIL"]
    rows: list[list[Any]] = []
    for r in results:
        verdict = _verdict(r)
        if r["status"] != "ok":
            rows.append([r["detector"], r["stream"], len(r["seeds"]), r["status"], "-", "-", "-",
                         "-", r["target"], verdict])
            continue
        missed = "-" if math.isnan(r["missed_rate"]) else f"{r['missed_rate']:.0%}"
        ci = f"{r['fa_ci_low']:.2f}-{r['fa_ci_high']:.2f}"
        rows.append([r["detector"], r["stream"], len(r["seeds"]), r["mean_delay"], missed,
                     r["false_alarms_per_10k"], ci, r["mtr"], r["target"],
                     verdict])
    return markdown_table(headers, rows)
