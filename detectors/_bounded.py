"""Scaling of real-valued errors onto [0, 1] for the Hoeffding-bound detectors (HDDM_A, ADWIN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.detectors.base import check_number

__all__ = ["check_bounds", "scale"]


def check_bounds(value: Any) -> tuple[float, float]:
    """Validate ``bounds=(low, high)`` with ``low < high``; the error names ``bounds``."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high), got {value!r}") from None
    low_v = check_number("bounds[0]", low)
    high_v = check_number("bounds[1]", high)
    assert low_v is not None and high_v is not None
    if not low_v < high_v:
        raise ValueError(f"bounds must satisfy low < high, got {value!r}")
    return low_v, high_v


def scale(x: Any, bounds: tuple[float, float]) -> Any:
    """Clip ``x`` to ``bounds`` and map it linearly onto [0, 1] (identity for (0, 1))."""
    low, high = bounds
    if low == 0.0 and high == 1.0:
        return np.clip(x, 0.0, 1.0) if isinstance(x, np.ndarray) else min(max(x, 0.0), 1.0)
    if isinstance(x, np.ndarray):
        return (np.clip(x, low, high) - low) / (high - low)
    return (min(max(x, low), high) - low) / (high - low)
