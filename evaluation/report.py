"""Results of ``driftline evaluate`` as markdown tables and JSON.

Calibrated rows (every detector at the same target ARL0, plus the always-fire baseline) and rows
at default thresholds are separate tables: only the first are comparable across detectors. Each
row gives its measured false-alarm rate as false pages per 30 days at 1,000 events/s too.
The calibration acceptance measurements (:mod:`evaluation.calibration_checks`) come last.

Example
-------
>>> from driftline.evaluation.report import jsonable
>>> jsonable({"mtfa": float("inf"), "delay": float("nan"), "n": 3})
{'mtfa': 'inf', 'delay': None, 'n': 3}
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from driftline.evaluation.bench_common import format_number, markdown_table
from driftline.evaluation.calibration_checks import CalibrationChecks
from driftline.evaluation.config import EvaluateConfig
from driftline.evaluation.curves import TradeoffPoint
from driftline.evaluation.insurance_eval import InsuranceReplay
from driftline.evaluation.runner import EvaluationResult

__all__ = ["calibration_checks_markdown", "false_pages_per_month", "insurance_markdown",
           "jsonable", "libraries_markdown", "markdown_report", "results_table", "write_results"]

_HEADERS = ["detector", "stream", "threshold", "delay mean ± std", "median delay",
            "missed rate", "false alarms/10k mean ± std", "false pages / 30 d at 1,000 ev/s",
            "MTFA", "MTR", "precision", "recall", "µs/update"]
#: in-control values in 30 days at 1,000 events per second
MONTH_AT_1000 = 30 * 86400 * 1000.0


def false_pages_per_month(false_alarms_per_10k: float) -> float:
    """Expected false pages per 30 days at 1,000 events/s from a measured false-alarm rate
    (every alarm a page: an upper bound when alerts hold).

    >>> f"{false_pages_per_month(10.0):.3g}"
    '2.59e+06'
    """
    return false_alarms_per_10k / 1e4 * MONTH_AT_1000


def jsonable(value: Any) -> Any:
    """``value`` with NaN as ``None``, ±inf as ``"inf"``/``"-inf"``, numpy and dataclasses plain."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return value


def _pm(mean: float, std: float) -> str:
    if math.isnan(std) or math.isinf(mean):
        return format_number(mean)
    return f"{format_number(mean)} ± {format_number(std)}"


def results_table(rows: list[dict[str, Any]], modes: tuple[str, ...], *,
                  timing: bool = True) -> str:
    """Markdown table of the summary rows whose mode is in ``modes``; ``timing=False`` leaves
    out the µs/update column (wall time: it changes from run to run)."""
    body = [
        [r["detector"], r["stream"], r["threshold"], _pm(r["mean_delay"], r["mean_delay_std"]),
         r["median_delay"], r["missed_rate"],
         _pm(r["false_alarms_per_10k"], r["false_alarms_per_10k_std"]),
         f"{false_pages_per_month(r['false_alarms_per_10k']):,.3g}", r["mtfa"], r["mtr"],
         r["precision"], r["recall"], r["us_per_update"]]
        for r in sorted(rows, key=lambda r: (r["stream"], r["detector"])) if r["mode"] in modes
    ]
    if timing:
        return markdown_table(_HEADERS, body)
    return markdown_table(_HEADERS[:-1], [line[:-1] for line in body])


def insurance_markdown(replay: InsuranceReplay) -> str:
    """Per-month quality table and per-feature detection table of the insurance replay."""
    quality = markdown_table(
        ["month", "rows", "served accuracy", "network accuracy", "fallback rate", "error rate"],
        [[q.month, q.n_rows, q.accuracy, q.model_accuracy, q.fallback_rate, e]
         for q, e in zip(replay.quality, replay.error_rate, strict=True)])
    detections = markdown_table(
        ["detector", "stream", "expected", "threshold", "detections", "first detection month",
         "detections/10k", "false alarms/10k"],
        [[r["detector"], r["stream"], r["expected"], r["threshold"], r["n_detections"],
          r["first_detection_month"], r["detections_per_10k"], r["false_alarms_per_10k"]]
         for r in replay.summary_rows()])
    return f"### Model quality by month\n\n{quality}\n\n### Detections\n\n{detections}\n"


def calibration_checks_markdown(checks: CalibrationChecks) -> str:
    """Tables of :mod:`evaluation.calibration_checks`: measured ARL0s against their targets,
    the importance-sampled ARL0 at 10^9, the delay against Lorden's bound, the budget split."""
    arl = markdown_table(
        ["check", "stream", "method", "target ARL0", "threshold / level", "values", "alarms",
         "measured ARL0", "measured / target", "±10 %"],
        [[c.check, c.stream, c.method, f"{c.target:.0e}", f"{c.value:.4g}", c.values, c.alarms,
          f"{c.measured_arl0:,.0f}", f"{c.ratio:.3f} ± {c.ratio * c.relative_se:.3f}",
          "yes" if abs(c.ratio - 1.0) <= 0.1 else "NO"] for c in checks.arl + checks.ks])
    parts = ["## Calibration acceptance\n",
             "Measured ARL0 = values / alarms of the real detectors (restarting after each "
             "alarm) on data the calibration never saw; ± one standard error (1/sqrt(alarms)). "
             "Methods: docs/calibration.md.\n", "### Measured ARL0 against the target\n", arl,
             ""]
    if checks.importance is not None:
        i = checks.importance
        parts += ["### Pinned Page-Hinkley at 10^9: importance-sampled ARL0\n", markdown_table(
            ["target ARL0", "delta", "threshold", "Siegmund ARL0", "measured ARL0 (importance "
             "sampling)", "measured / Siegmund", "within 5 %"],
            [[f"{i.target:.0e}", i.delta, f"{i.threshold:.4f}", f"{i.siegmund_arl0:.4g}",
              f"{i.measured_arl0:.4g} ± {i.measured_arl0 * i.relative_se:.2g}",
              f"{i.ratio:.3f}", "yes" if abs(i.ratio - 1.0) <= 0.05 else "NO"]]), ""]
    if checks.delay is not None:
        d = checks.delay
        parts += ["### Detection delay against Lorden's bound\n", markdown_table(
            ["target ARL0", "shift (sigma)", "delta", "threshold", "mean delay", "Lorden bound",
             "delay / bound", "within 1.3 x"],
            [[f"{d.target:.0e}", d.shift, d.delta, f"{d.threshold:.4f}",
              f"{d.mean_delay:.2f} ± {d.delay_se:.2f}", f"{d.lorden:.2f}", f"{d.ratio:.3f}",
              "yes" if d.ratio <= 1.3 else "NO"]]), ""]
    if checks.nm_ddm:
        parts += ["### NM-DDM: fitted null tail\n", markdown_table(
            ["NM-DDM target ARL0", "fitted-tail threshold", "direct threshold (50 x target "
             "steps)", "fitted / direct", "bootstrap rows", "alarms", "measured ARL0"],
            [[f"{n.target:.0e}", f"{n.fitted:.5f}", f"{n.direct:.5f}",
              f"{n.fitted / n.direct:.3f}", n.values, n.alarms, f"{n.measured_arl0:,.0f}"]
             for n in checks.nm_ddm]), ""]
    parts += ["### A budget in time split over the detectors (union bound)\n", markdown_table(
        ["detector", "columns", "expected false pages", "ARL0 per column", "family ARL0"],
        [[name, b.columns, f"{b.expected_false_pages:.3f}", f"{b.column_arl0:.3g}",
          f"{b.family_arl0:.3g}"] for name, b in checks.budget.items()]), ""]
    return "\n".join(parts)


_LIBRARY_NAMES = {"river": "river", "skmultiflow": "scikit-multiflow"}


def libraries_markdown(result: EvaluationResult) -> str:
    """One line naming the reference libraries compared, and each absent one with its reason.

    >>> from driftline.evaluation.runner import EvaluationResult
    >>> result = EvaluationResult(libraries={"river": "0.26.1"},
    ...                           missing_libraries={"skmultiflow": "not installed"})
    >>> print(libraries_markdown(result))  # doctest: +ELLIPSIS
    Reference libraries: river 0.26.1. **ABSENT: scikit-multiflow** (not installed): its ...
    """
    present = ", ".join(f"{_LIBRARY_NAMES[k]} {v}" for k, v in sorted(result.libraries.items()))
    parts = [f"Reference libraries: {present or 'none'}."]
    parts += [f"**ABSENT: {_LIBRARY_NAMES[k]}** ({reason}): its detectors are skipped, see "
              "*Skipped*." for k, reason in sorted(result.missing_libraries.items())]
    return " ".join(parts)


def markdown_report(config: EvaluateConfig, result: EvaluationResult,
                    replay: InsuranceReplay | None = None,
                    checks: CalibrationChecks | None = None) -> str:
    """The whole markdown report."""
    rows = result.rows()
    parts = [
        "# Detector evaluation\n",
        f"Seeds: {config.seeds}; tolerance window: {config.tolerance}; delays and false alarms "
        "from `evaluation.metrics.evaluate_detections`, mean ± std over seeds (MTFA and MTR "
        "pooled over seeds); every detector restarts fresh after each alarm. µs/update is the "
        "wall time per value in this run, restarts included (it varies with machine load).\n",
        libraries_markdown(result) + "\n",
    ]
    if config.calibrated:
        parts += [f"## Calibrated: every detector at ARL0 = {config.target_arl0:g} "
                  "(comparable), with the always-fire baseline\n",
                  results_table(rows, ("calibrated", "baseline")), ""]
        cal_rows = [[label, key, c.method, c.threshold, c.measured_arl0,
                     "yes (fewer alarms than target)" if c.at_bound else "no", c.n_values]
                    for label, per in result.calibrations.items() for key, c in per.items()]
        parts += ["### Calibrations\n", markdown_table(
            ["detector", "pre-change distribution", "method", "threshold", "measured ARL0",
             "at bound", "values simulated"], cal_rows), ""]
    if config.defaults:
        parts += ["## Default thresholds (NOT calibrated: not comparable across detectors)\n",
                  results_table(rows, ("default",) if config.calibrated
                                else ("default", "baseline")), ""]
    if result.skipped:
        parts += ["## Skipped\n"] + [f"- {k}: {v.removeprefix(f'{k}: ')}"
                                     for k, v in result.skipped.items()] + [""]
    if replay is not None:
        parts += ["## Insurance replay\n", insurance_markdown(replay)]
    if checks is not None:
        parts += [calibration_checks_markdown(checks)]
    return "\n".join(parts) + "\n"


def write_results(
    output_dir: str | Path, config: EvaluateConfig, result: EvaluationResult,
    curves: dict[str, list[TradeoffPoint]], replay: InsuranceReplay | None = None,
    checks: CalibrationChecks | None = None,
) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``output_dir``; return both paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "results.md"
    md.write_text(markdown_report(config, result, replay, checks), encoding="utf-8")
    payload: dict[str, Any] = {
        "config": config.model_dump(),
        "rows": result.rows(),
        "calibrations": result.calibrations,
        "skipped": result.skipped,
        "libraries": result.libraries,
        "missing_libraries": result.missing_libraries,
        "tradeoff": curves,
        "runs": [{"detector": r.detector, "mode": r.mode, "stream": r.stream, "seed": r.seed,
                  "threshold": r.threshold, "us_per_update": r.us_per_update,
                  **r.report.as_dict()} for r in result.records],
    }
    if replay is not None:
        payload["insurance"] = {
            "months": replay.months, "month_starts": replay.month_starts,
            "n_rows": replay.n_rows, "quality": replay.quality,
            "error_rate": replay.error_rate, "detections": replay.detections,
            "summary": replay.summary_rows(),
        }
    if checks is not None:
        payload["calibration_checks"] = {
            "arl": [{**dataclasses.asdict(c), "measured_arl0": c.measured_arl0,
                     "ratio": c.ratio} for c in checks.arl + checks.ks],
            "importance": checks.importance, "delay": checks.delay, "nm_ddm": checks.nm_ddm,
            "budget": checks.budget,
        }
    js = out / "results.json"
    js.write_text(json.dumps(jsonable(payload), indent=1), encoding="utf-8")
    return md, js
