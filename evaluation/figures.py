"""Matplotlib figures of an evaluation (Agg backend, PNG files).

* :func:`plot_statistic_traces` — each detector's statistic against its threshold over time, true
  change points as dashed lines, detections as marks;
* :func:`plot_tradeoff` — mean detection delay against false alarms per 10k as the threshold
  varies (ROC-style: lower-left is better), the always-fire baseline as the corner point;
* :func:`plot_insurance_timeline` — per-feature (and model-error) detections over the replayed
  insurance months;
* :func:`plot_insurance_quality` — the model's accuracy, error and fallback rate by month.

Every function returns the :class:`matplotlib.figure.Figure` and saves it as PNG when given a
path. Figures are built with the object-oriented API (no ``pyplot``), so saving always uses the
Agg canvas, no GUI backend is touched and nothing accumulates in pyplot's figure registry; in a
notebook, ``display(fig)`` shows them.

Example
-------
>>> from driftline.evaluation.figures import plot_tradeoff
>>> from driftline.evaluation.curves import TradeoffPoint
>>> fig = plot_tradeoff({"ph": [TradeoffPoint("ph", 1.0, 5.0, 12.0, 0.0, 3.0)]})
>>> fig.axes[0].get_xlabel()
'false alarms per 10k values (log; none plotted at 0.01)'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from driftline.evaluation.curves import StatisticTrace, TradeoffPoint
from driftline.evaluation.insurance_eval import InsuranceReplay

__all__ = [
    "plot_insurance_quality",
    "plot_insurance_timeline",
    "plot_statistic_traces",
    "plot_tradeoff",
]


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def plot_statistic_traces(traces: Sequence[StatisticTrace], path: str | Path | None = None
                          ) -> Figure:
    """One panel per detector: statistic, threshold, change points, detections."""
    n = max(1, len(traces))
    fig = Figure(figsize=(9, 2.6 * n))
    axes = fig.subplots(n, 1, squeeze=False, sharex=True)
    for ax, trace in zip(axes[:, 0], traces, strict=False):
        x = np.arange(len(trace.statistic))
        ax.plot(x, trace.statistic, lw=0.8, label="statistic")
        ax.plot(x, trace.threshold, lw=1.0, ls=":", color="black", label="threshold")
        for c in trace.change_points:
            ax.axvline(c, color="red", ls="--", lw=1.0)
        if trace.detections:
            det = np.asarray(trace.detections)
            ax.scatter(det, trace.statistic[det], marker="v", color="orange", zorder=3,
                       label="detection")
        ax.set_title(f"{trace.detector} on {trace.stream} (red: true change)", fontsize=9)
        ax.set_ylabel("test statistic", fontsize=8)
        ax.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("value index")
    fig.tight_layout()
    return _save(fig, path)


def plot_tradeoff(curves: dict[str, list[TradeoffPoint]], path: str | Path | None = None
                  ) -> Figure:
    """Mean delay against false alarms per 10k, one curve per detector."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for label, points in curves.items():
        fa = np.array([max(p.false_alarms_per_10k, 1e-2) for p in points])
        delay = np.array([p.mean_delay for p in points])
        ax.plot(fa, delay, marker="o", label=label)
        for p, x, y in zip(points, fa, delay, strict=True):
            if not np.isnan(p.threshold):
                ax.annotate(f"x{p.scale:g}", (x, y), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per 10k values (log; none plotted at 0.01)")
    ax.set_ylabel("mean detection delay (values)")
    ax.set_title("delay / false-alarm trade-off as the threshold varies "
                 "(xN: calibrated threshold times N)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_insurance_timeline(replay: InsuranceReplay, path: str | Path | None = None) -> Figure:
    """Detections per feature (and model error) over the replayed months, one row each."""
    lanes = [(det, stream) for det, per in replay.detections.items() for stream in per]
    fig = Figure(figsize=(10, 0.45 * max(4, len(lanes)) + 1.2))
    ax = fig.subplots()
    for i, (det, stream) in enumerate(lanes):
        fired = replay.detections[det][stream]
        ax.scatter(fired, np.full(len(fired), i), marker="|", s=120)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{det}: {stream}" for det, stream in lanes], fontsize=8)
    for start, month in zip(replay.month_starts, replay.months, strict=True):
        ax.axvline(start, color="grey", lw=0.5)
        ax.text(start, len(lanes) - 0.4, f"m{month}", fontsize=6, color="grey")
    ax.set_xlim(0, replay.n_rows)
    ax.set_xlabel("row of the replayed months")
    ax.set_ylabel("detector: monitored stream", fontsize=8)
    ax.set_title("detections per feature over the insurance months", fontsize=9, pad=14)
    fig.tight_layout()
    return _save(fig, path)


def plot_insurance_quality(replay: InsuranceReplay, path: str | Path | None = None) -> Figure:
    """Served accuracy, network accuracy and fallback rate per month."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    months = [q.month for q in replay.quality]
    ax.plot(months, [q.accuracy for q in replay.quality], marker="o", label="served accuracy")
    ax.plot(months, [q.model_accuracy for q in replay.quality], marker=".",
            label="network accuracy")
    ax.plot(months, [q.fallback_rate for q in replay.quality], marker="s",
            label="fallback rate")
    ax.set_xlabel("month")
    ax.set_ylabel("fraction of the month's rows")
    ax.set_ylim(0, 1)
    ax.set_title("model quality by month", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
