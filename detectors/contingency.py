"""Category counts: validation, cells of a chi-square test, its tails, and effect sizes.

Pure ``math``/numpy (scipy is only a test dependency), shared by
:class:`detectors.chi_square.ChiSquare`, its kernel and its calibration:

* :func:`check_counts` / :func:`check_codes` — count vectors and category codes, errors that name
  the parameter;
* :func:`cell_layout` — which categories a test of ``window_size`` values compares one by one,
  which it pools because their expected count is below ``min_expected``, and which the
  reference never showed (the *unseen* cell);
* :func:`chi2_sf` / :func:`chi2_isf` — the chi-square tail and its inverse (finite sums of the
  incomplete gamma function for integer degrees of freedom, double precision);
* :func:`binomial_tail` / :func:`unseen_threshold` — the one-sided binomial test of the unseen
  count;
* :func:`jensen_shannon_distance`, :func:`population_stability_index` — effect sizes between a
  window's and the reference's frequencies.

Examples
--------
>>> from driftline.detectors.contingency import cell_layout, chi2_isf, chi2_sf
>>> round(chi2_sf(7.815, 3), 4), round(chi2_isf(0.05, 3), 3)
(0.05, 7.815)
>>> layout = cell_layout([500, 300, 150, 40, 10, 0], window_size=100, min_expected=5.0)
>>> layout.cell_of_code, layout.pooled
((0, 1, 2, 3, 3, 4), (3, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_CODE",
    "CellLayout",
    "binomial_tail",
    "cell_layout",
    "check_codes",
    "check_counts",
    "chi2_isf",
    "chi2_sf",
    "jensen_shannon_distance",
    "population_stability_index",
    "unseen_threshold",
]

#: the largest category code (the schema decoder's codes are int32)
MAX_CODE = 2**31 - 1


def check_counts(name: str, counts: Any) -> list[int]:
    """A 1-D vector of non-negative integer counts with a positive total; errors name it."""
    if isinstance(counts, str | bytes):
        raise TypeError(f"{name} must be a sequence of counts, got {type(counts).__name__}")
    try:
        arr = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of counts, got {type(counts).__name__}") \
            from None
    if arr.ndim != 1 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of counts, got shape "
                         f"{arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.floor(arr)) | (arr > 2.0**53)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must hold non-negative integer counts, got {float(arr[i])!r} at "
                         f"position {i}")
    if arr.sum() <= 0:
        raise ValueError(f"{name} must count at least one value")
    return [int(v) for v in arr]


def check_codes(name: str, codes: Any) -> np.ndarray:
    """Category codes (integers in ``[0, MAX_CODE]``, any shape) as an int64 array."""
    try:
        arr = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of category codes, got "
                        f"{type(codes).__name__}") from None
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > MAX_CODE) | (arr != np.floor(arr))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        position = where[0] if len(where) == 1 else where
        raise ValueError(f"{name} must hold integer category codes in [0, {MAX_CODE}], got "
                         f"{float(arr[where])!r} at position {position}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class CellLayout:
    """The cells of a chi-square test over category codes.

    ``cell_of_code[c]`` is the cell of code ``c`` (codes past the end are unseen); cells
    ``0 .. n_cells - 1`` are tested, their reference counts in ``cell_counts`` (codes that are
    not pooled, in code order, then the pooled cell if any); cell ``n_cells`` holds the codes
    the reference never showed. ``pooled`` lists the pooled codes.
    """

    cell_of_code: tuple[int, ...]
    cell_counts: tuple[int, ...]
    pooled: tuple[int, ...]

    @property
    def n_cells(self) -> int:
        """Number of tested cells (the unseen cell is not one of them)."""
        return len(self.cell_counts)

    @property
    def dof(self) -> int:
        """Degrees of freedom of the test, ``n_cells - 1``."""
        return self.n_cells - 1


def cell_layout(counts: Sequence[int], window_size: int, min_expected: float) -> CellLayout:
    """Cells for reference ``counts`` per code and a window of ``window_size`` values.

    A code with a positive count whose expected window count ``window_size * count / total`` is
    below ``min_expected`` is pooled with the other such codes into one cell; while the pooled
    cell's expected count is still below ``min_expected``, the least frequent remaining code
    joins it (so every tested cell expects at least ``min_expected`` values when it can). Codes
    with a zero count form the unseen cell.
    """
    total = float(sum(counts))
    seen = [c for c, n in enumerate(counts) if n > 0]
    scale = window_size / total
    pooled = {c for c in seen if counts[c] * scale < min_expected}
    if pooled:
        rest = sorted((c for c in seen if c not in pooled), key=lambda c: (counts[c], c))
        while rest and sum(counts[c] for c in pooled) * scale < min_expected:
            pooled.add(rest.pop(0))
    kept = [c for c in seen if c not in pooled]
    cell_of = {c: i for i, c in enumerate(kept)}
    cell_counts = [counts[c] for c in kept]
    if pooled:
        cell_of.update({c: len(kept) for c in pooled})
        cell_counts.append(sum(counts[c] for c in pooled))
    unseen = len(cell_counts)
    return CellLayout(tuple(cell_of.get(c, unseen) for c in range(len(counts))),
                      tuple(cell_counts), tuple(sorted(pooled)))


def chi2_sf(x: float, dof: int) -> float:
    """``P(X > x)`` for ``X`` chi-square with ``dof >= 1`` degrees of freedom (1 when
    ``dof == 0``: a one-cell table has no evidence).

    With ``y = x / 2``: ``exp(-y) sum_{j < dof/2} y^j / j!`` for even ``dof``, and
    ``erfc(sqrt(y)) + exp(-y) sum_{j < (dof-1)/2} y^(j+1/2) / Gamma(j + 3/2)`` for odd ``dof``;
    every term is positive, computed in log space, so small tails keep full precision.
    """
    if dof <= 0 or x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    y = 0.5 * x
    log_y = math.log(y)
    half = 0.5 if dof % 2 else 0.0
    total = math.erfc(math.sqrt(y)) if dof % 2 else 0.0
    for j in range(dof // 2):
        total += math.exp(-y + (j + half) * log_y - math.lgamma(j + half + 1.0))
    return min(total, 1.0)


def chi2_isf(alpha: float, dof: int) -> float:
    """The smallest ``x`` (to about 1e-14 relative) with ``chi2_sf(x, dof) <= alpha``
    (``inf`` when ``dof == 0``)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if dof <= 0:
        return math.inf
    low, high = 0.0, float(max(dof, 1))
    while chi2_sf(high, dof) > alpha:
        low, high = high, 2.0 * high
    while high - low > 1e-14 * high:
        mid = 0.5 * (low + high)
        if mid in (low, high):
            break
        if chi2_sf(mid, dof) > alpha:
            low = mid
        else:
            high = mid
    return high


def binomial_tail(count: int, n: int, rate: float) -> float:
    """``P(X >= count)`` for ``X`` binomial with ``n`` trials of probability ``rate``."""
    if count <= 0:
        return 1.0
    if count > n or rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return 1.0
    log_rate, log_rest = math.log(rate), math.log1p(-rate)
    log_n = math.lgamma(n + 1.0)

    def pmf(j: int) -> float:
        return math.exp(log_n - math.lgamma(j + 1.0) - math.lgamma(n - j + 1.0)
                        + j * log_rate + (n - j) * log_rest)

    mode = math.floor((n + 1) * rate)
    total = 0.0
    if count > mode:  # terms fall from the first: sum up the tail until they stop counting
        for j in range(count, n + 1):
            term = pmf(j)
            total += term
            if term <= total * 1e-17:
                break
        return min(total, 1.0)
    for j in range(count - 1, -1, -1):  # the tail holds the mode: one minus the lower part
        term = pmf(j)
        total += term
        if term <= total * 1e-17:
            break
    return max(0.0, 1.0 - total)


def unseen_threshold(alpha: float, n: int, rate: float) -> int:
    """The largest unseen count in ``n`` values that a binomial test at level ``alpha`` with
    null ``rate`` accepts: the test fires when the count exceeds it (``n`` when no count
    can be significant)."""
    start = max(0, math.floor((n + 1) * rate))
    for count in range(start + 1, n + 1):
        if binomial_tail(count, n, rate) <= alpha:
            return count - 1
    return n


def jensen_shannon_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or frequency vectors,
    each normalised to sum 1 (``scipy.spatial.distance.jensenshannon(p, q, base=2)``)."""
    p_total, q_total = float(sum(p)), float(sum(q))
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = a / p_total, b / q_total
        m = 0.5 * (a + b)
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return math.sqrt(max(divergence, 0.0))


def population_stability_index(window: Sequence[float], reference: Sequence[float]) -> float:
    """PSI ``sum (w_i - r_i) ln(w_i / r_i)`` between window and reference frequencies.

    Both sides are counts; an empty cell counts half a value (Haldane-Anscombe) before the
    frequencies are normalised, so that a category absent on one side gives a large but finite
    index.
    """
    w = [v if v > 0 else 0.5 for v in window]
    r = [v if v > 0 else 0.5 for v in reference]
    w_total, r_total = sum(w), sum(r)
    return sum((a / w_total - b / r_total) * math.log((a / w_total) / (b / r_total))
               for a, b in zip(w, r, strict=True))
