"""Multiple-testing corrections across features, vectorised over time steps.

Both functions take p-values of shape ``(m,)`` (one test per feature) or ``(n_steps, m)`` (rows
are time steps, each row one family of ``m`` tests) and return ``(reject, adjusted)``: a boolean
mask and the adjusted p-values, same shape.

- Bonferroni (family-wise error rate): ``adjusted = min(1, m p)``, reject ``adjusted <= alpha``.
- Benjamini & Hochberg, "Controlling the false discovery rate: a practical and powerful approach
  to multiple testing", JRSS B 57 (1995): with sorted p-values ``p_(1) <= ... <= p_(m)`` reject
  the ``k`` smallest where ``k = max{i : p_(i) <= i alpha / m}``; adjusted p-values are
  ``min_{j >= i} min(1, m p_(j) / j)`` (as ``scipy.stats.false_discovery_control``).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.multiple_testing import benjamini_hochberg, bonferroni
>>> p = np.array([0.001, 0.012, 0.04, 0.3])
>>> bonferroni(p, 0.05)[0].tolist()
[True, True, False, False]
>>> reject, adjusted = benjamini_hochberg(p, 0.05)
>>> reject.tolist(), adjusted.round(3).tolist()
([True, True, False, False], [0.004, 0.024, 0.053, 0.3])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.detectors.base import check_probability

__all__ = ["CORRECTIONS", "benjamini_hochberg", "bonferroni", "correct"]


def _check_p_values(p_values: Any) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise ValueError(
            f"p_values must have shape (m,) or (n_steps, m) with m >= 1, got {p.shape}"
        )
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_values must lie in [0, 1] (no NaN)")
    return p


def bonferroni(p_values: Any, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Bonferroni correction over the last axis; returns ``(reject, adjusted)``."""
    alpha = check_probability("alpha", alpha)
    p = _check_p_values(p_values)
    adjusted = np.minimum(p * p.shape[-1], 1.0)
    return adjusted <= alpha, adjusted


def benjamini_hochberg(p_values: Any, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg step-up procedure over the last axis; returns ``(reject, adjusted)``."""
    alpha = check_probability("alpha", alpha)
    p = _check_p_values(p_values)
    squeeze = p.ndim == 1
    p2 = p[None, :] if squeeze else p
    m = p2.shape[1]
    order = np.argsort(p2, axis=1, kind="stable")
    p_sorted = np.take_along_axis(p2, order, axis=1)
    ranks = np.arange(1, m + 1, dtype=np.float64)
    passes = p_sorted <= ranks * alpha / m
    # k = number of rejections = largest passing rank (0 if none)
    k = np.where(passes.any(axis=1), m - np.argmax(passes[:, ::-1], axis=1), 0)
    reject_sorted = np.arange(m)[None, :] < k[:, None]
    adj_sorted = np.minimum.accumulate((p_sorted * m / ranks)[:, ::-1], axis=1)[:, ::-1]
    adj_sorted = np.minimum(adj_sorted, 1.0)
    reject = np.empty_like(reject_sorted)
    adjusted = np.empty_like(adj_sorted)
    np.put_along_axis(reject, order, reject_sorted, axis=1)
    np.put_along_axis(adjusted, order, adj_sorted, axis=1)
    if squeeze:
        return reject[0], adjusted[0]
    return reject, adjusted


CORRECTIONS = {"bonferroni": bonferroni, "bh": benjamini_hochberg}


def correct(p_values: Any, alpha: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Apply the correction named ``method`` (``"bonferroni"`` or ``"bh"``)."""
    try:
        function = CORRECTIONS[method]
    except KeyError:
        raise ValueError(
            f"correction must be one of {sorted(CORRECTIONS)}, got {method!r}"
        ) from None
    return function(p_values, alpha)
