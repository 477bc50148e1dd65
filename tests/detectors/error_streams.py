"""Shared helpers of the error-detector tests: 0/1 streams and river's detection path."""

from __future__ import annotations

import numpy as np


def piecewise_binary(seed: int, rates: tuple[float, ...] | None = None,
                     block: int = 1500) -> np.ndarray:
    """0/1 errors with a new error rate every ``block`` values (random rates if not given)."""
    rng = np.random.default_rng(seed)
    if rates is None:
        rates = tuple(rng.choice([0.05, 0.2, 0.5], size=5))
    return np.concatenate([rng.random(block) < r for r in rates]).astype(float)


def river_path(detector: object, xs: np.ndarray) -> tuple[list[int], list[int]]:
    """Drift and warning indices of a river detector fed ``xs`` one by one."""
    drifts, warnings = [], []
    for i, x in enumerate(xs):
        detector.update(int(x))  # type: ignore[attr-defined]
        if detector.drift_detected:  # type: ignore[attr-defined]
            drifts.append(i)
        if getattr(detector, "warning_detected", False):
            warnings.append(i)
    return drifts, warnings
