"""Shared helpers of the benchmarks: availability, restart-on-detection runs, tables, the
calibrated state of a pipeline.

Detectors are optional at benchmark time: a factory that fails (module missing, signature
changed) is reported as ``"not available: <reason>"`` instead of failing the whole run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Available",
    "format_number",
    "markdown_table",
    "ours_detections",
    "river_detections",
    "time_interleaved",
    "time_per_value",
    "try_build",
    "verdict",
]


@dataclass(frozen=True)
class Available:
    """A factory that could be called, or the reason it could not."""

    factory: Callable[[], Any] | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.factory is not None


def try_build(factory: Callable[[], Any]) -> Available:
    """Call ``factory`` once to check it works; keep it for later fresh instances."""
    try:
        factory()
    except Exception as exc:  # any failure means "not available", reported with its reason
        return Available(None, f"not available: {type(exc).__name__}: {exc}")
    return Available(factory)


def ours_detections(
    factory: Callable[[], Any], values: np.ndarray, *, chunk_size: int = 4096
) -> list[int]:
    """Run a driftline detector over ``values``; a fresh detector restarts after each detection.

    Restarting (rather than relying on each detector's own post-drift behaviour) makes every
    detector, ours or river's, start from the same clean state after an alarm. Values are fed
    through ``update_many`` in chunks of ``chunk_size`` so that a restart re-reads at most one
    chunk.
    """
    detections: list[int] = []
    pos = 0
    det = factory()
    while pos < len(values):
        chunk = values[pos : pos + chunk_size]
        fired = det.update_many(chunk)
        if len(fired) == 0:
            pos += len(chunk)
            continue
        hit = pos + int(fired[0])
        detections.append(hit)
        pos = hit + 1
        det = factory()
    return detections


def river_detections(factory: Callable[[], Any], values: np.ndarray) -> list[int]:
    """Run a river detector value by value, replaced by a fresh one after each detection."""
    detections: list[int] = []
    det = factory()
    for i, x in enumerate(values.tolist()):
        det.update(x)
        if det.drift_detected:
            detections.append(i)
            det = factory()
    return detections


def time_per_value(
    run: Callable[[], Any], n_values: int, *, repeats: int = 1, budget_s: float = 2.0,
    warmup: bool = True,
) -> float:
    """Best-of-``repeats`` wall time of ``run()`` in µs per value.

    With ``warmup`` a first, untimed call fills caches and imports (a run slower than
    ``budget_s`` is kept as the measurement instead).
    Repeats stop once ``budget_s`` seconds have been spent, so slow baselines run once.
    """
    return min(time_interleaved({"run": run}, repeats=repeats, budget_s=budget_s,
                                warmup=warmup)["run"]) / n_values * 1e6


def time_interleaved(
    runs: dict[str, Callable[[], Any]], *, repeats: int = 1, budget_s: float = 2.0,
    warmup: bool = True,
) -> dict[str, list[float]]:
    """Wall times (s) of each of ``runs``, their repeats interleaved round by round.

    Interleaving exposes every contender to the same background load (other processes on a
    shared machine), so the best-of ratios compare like with like. A first untimed round is the
    warm-up (``warmup``; a warm-up longer than ``budget_s`` is kept as the measurement); a
    contender stops repeating once it has used ``budget_s`` seconds.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    spent = dict.fromkeys(runs, 0.0)
    if warmup:
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            spent[name] = time.perf_counter() - t0
            if spent[name] >= budget_s:
                # a run this long is not skewed by warm-up effects: keep it as the measurement
                times[name].append(spent[name])
    for _ in range(max(1, repeats)):
        for name, run in runs.items():
            if times[name] and spent[name] >= budget_s:
                continue
            t0 = time.perf_counter()
            run()
            elapsed = time.perf_counter() - t0
            times[name].append(elapsed)
            spent[name] += elapsed
    return times


def format_number(value: Any, digits: int = 2) -> str:
    """Compact cell text: ``-`` for None/NaN, ``inf`` for infinity."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{int(value):,}"
    v = float(value)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    if v != 0 and abs(v) < 10 ** (-digits):
        return f"{v:.1e}"
    return f"{v:,.{digits}f}"


def verdict(result: dict[str, Any]) -> str:
    """``PASS``/``FAIL`` for a result with a target, ``n/a`` if it could not run, else empty."""
    if not result.get("target"):
        return ""
    if result.get("pass") is None:
        return "n/a"
    return "PASS" if result["pass"] else "FAIL"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    cells = [[format_number(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def calibrated_state(pipeline: Any) -> dict[str, Any]:
    """``pipeline``'s state after calibrating its detectors that calibrate lazily (at their
    first values otherwise), so that timed runs restored from it exclude the calibration."""
    for group in pipeline.streams.values():
        for detector in group.detectors.values():
            if callable(getattr(detector, "calibrate", None)):
                detector.calibrate()
    return pipeline.state_dict()
