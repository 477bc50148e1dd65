"""The family level of an Incremental-KS bank for any ARL0: exact KS tails, effective tests.

A column of a Bonferroni-corrected Incremental-KS bank (:mod:`detectors.calibration.ks_family`)
alarms when the KS distance ``D_t`` between its sliding window (``W`` values) and its reference
(``m`` values) exceeds ``d``; the bank alarms when any column does. Its false-alarm rate per
value is ``sum_j p_j(d) * theta_j(d)``:

* ``p_j(d) = P(D > d)``, the exact tail of one full window (:func:`ks_tail_probability`): the
  window's empirical CDF against the column's law, which is the reference's own (ties and atoms
  included: a discrete law gives a much lighter tail than Kolmogorov's), at the effective size
  ``n_e = m W / (m + W)``: the variance of ``F_window - F_reference`` at every point, so the
  reference's own sampling error is averaged over as in the two-sample test (for ``m >> W``
  the one-sample tail of the window itself).
* ``theta_j(d)``, the effective number of tests per value: consecutive windows share all but
  one value, so exceedances come in clumps. At a fixed point the window's deviation has the
  time correlation ``1 - s / L`` with ``L = W (m + W) / m`` (the reference part does not move),
  and the Poisson-clumping heuristic for such a process at the standardised level
  ``2 sqrt(n_e) d`` (the deviation's standard deviation is largest, ``1/2``, at the median)
  gives ``theta = a`` with ``a = 4 n_e d^2 / L`` in continuous time. Sampled once per value, the
  process misses part of each clump: ``theta = a exp(-sqrt(a))`` (a discrete-time correction
  whose constant 1 was measured: simulated banks at W = 100, 200, 500 and m = 1,500, ARL0 3,000
  and 30,000, gave ``theta / a`` = 0.67-0.83, 0.71-0.76 and 0.87-0.90 where the correction
  says 0.68-0.66, 0.80-0.76 and 0.89-0.86). ``theta`` varies slowly with ``d``; ``p`` carries
  the exponential part and is exact at the target.

On a column with very few atoms (binary) the statistic lives on a coarse lattice that ``n_e``
does not share: measured, the model's rate was 1.8 and 0.74 times the simulated one at ARL0
3,000 and 30,000, so the family level is then good to a factor ~2 in ARL0 only
(docs/calibration.md).

:func:`ks_tail_alpha` (the ``"ks_tail"`` method of :mod:`detectors.calibration.columns`) solves
``sum_j p_j(d) theta_j(d) = 1 / target_arl0`` for ``d`` and returns the bank's family level
``alpha = k * kolmogorov_sf(sqrt(n_e) d)`` (the asymptotic p-value the bank compares).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.ks_tail import ks_tail_probability
>>> support = np.arange(1, 10_001) / 10_000.0        # a continuous law, finely discretised
>>> round(ks_tail_probability(support, 100, 0.136), 3)  # scipy.stats.kstwo(100).sf: 0.045
0.045
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.kolmogorov import kolmogorov_sf

__all__ = ["KSTailModel", "ks_tail_alpha", "ks_tail_probability"]


def _poisson_pmf(mean: float, size: int, log_factorials: np.ndarray) -> np.ndarray:
    """``P(Poisson(mean) = k)`` for ``k < size``, cut where it underflows."""
    size = min(size, int(mean + 40.0 * math.sqrt(mean) + 60.0))
    k = np.arange(size)
    return np.exp(k * math.log(mean) - mean - log_factorials[:size])


def ks_tail_probability(support_cdf: Any, n: int, d: float) -> float:
    """``P(sup_x |F_n(x) - F(x)| > d)`` for ``n`` draws from the law with cumulative
    probabilities ``support_cdf`` at its support points (ascending, the last one 1).

    Exact: the counts ``N_j`` of draws up to each support point must stay within
    ``n (F_j -+ d)``; the draws are a Poisson process of rate ``n`` conditioned on ``n``
    points, so the constrained counts are propagated point to point by convolution with
    Poisson probabilities, and the conditioning divides by ``P(Poisson(n) = n)``.
    """
    cdf = np.asarray(support_cdf, dtype=np.float64)
    if cdf.ndim != 1 or not len(cdf) or abs(cdf[-1] - 1.0) > 1e-9 or np.any(np.diff(cdf) < 0):
        raise ValueError("support_cdf must be ascending cumulative probabilities ending at 1")
    if d <= 0:
        return 1.0
    if d >= 1:
        return 0.0
    eps = 1e-12
    log_factorials = np.cumsum(np.r_[0.0, np.log(np.arange(1, n + 1))])
    q = np.zeros(n + 1)
    q[0] = 1.0
    previous = 0.0
    counts = np.arange(n + 1)
    for f in cdf:
        step = f - previous
        previous = f
        if step > 0:
            q = np.convolve(q, _poisson_pmf(n * step, n + 1, log_factorials))[: n + 1]
        low = math.ceil(n * (f - d) - eps)
        high = math.floor(n * (f + d) + eps)
        q[(counts < low) | (counts > high)] = 0.0
    inside = q[n] / math.exp(n * math.log(n) - n - log_factorials[n])
    return float(min(1.0, max(0.0, 1.0 - inside)))


@dataclass(frozen=True)
class KSTailModel:
    """False-alarm rate of one Incremental-KS column (module docstring).

    ``support_cdf``: the reference's law (cumulative probabilities at its distinct values);
    ``m``, ``window``: reference and window sizes.
    """

    support_cdf: np.ndarray
    m: int
    window: int

    @classmethod
    def from_reference(cls, column: np.ndarray, window: int) -> KSTailModel:
        _, counts = np.unique(np.asarray(column, dtype=np.float64), return_counts=True)
        cdf = np.cumsum(counts) / counts.sum()
        cdf[-1] = 1.0
        return cls(cdf, len(column), int(window))

    @property
    def effective_size(self) -> int:
        """``n_e = m W / (m + W)``, rounded."""
        return max(1, round(self.m * self.window / (self.m + self.window)))

    @property
    def clump_time(self) -> float:
        """``L = W (m + W) / m``: the time scale of the deviation's correlation."""
        return self.window * (self.m + self.window) / self.m

    def tail(self, d: float) -> float:
        """``p(d)``: the exact tail of one full window."""
        return ks_tail_probability(self.support_cdf, self.effective_size, d)

    def tests_per_value(self, d: float) -> float:
        """``theta(d) = a exp(-sqrt(a))``, ``a = 4 n_e d^2 / L``: effective independent tests
        per value (at most 1)."""
        a = 4.0 * self.effective_size * d * d / self.clump_time
        return min(1.0, a * math.exp(-math.sqrt(a)))

    def rate(self, d: float) -> float:
        """False alarms per value at level ``d``."""
        return self.tail(d) * self.tests_per_value(d)


def ks_tail_alpha(reference: Any, window_size: int, target_arl0: float) -> float:
    """Family level of a Bonferroni Incremental-KS bank over ``reference`` columns
    ``(m, k)`` whose ARL0 is ``target_arl0`` (module docstring)."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {ref.shape}")
    if not (math.isfinite(target_arl0) and target_arl0 > 1.0):
        raise ValueError(f"target_arl0 must be a finite number > 1, got {target_arl0!r}")
    m, k = ref.shape
    models = [KSTailModel.from_reference(ref[:, j], window_size) for j in range(k)
              if np.ptp(ref[:, j]) > 0]
    en = math.sqrt(m * window_size / (m + window_size))
    if not models:  # constant columns: any change is drift, the asymptotic bound will do
        return 1.0 / target_arl0
    goal = 1.0 / target_arl0
    low = 0.5 / math.sqrt(models[0].effective_size)

    def rate(d: float) -> float:
        return sum(model.rate(d) for model in models)

    d = low if rate(low) <= goal else bisect(lambda v: rate(v) <= goal, 1.0, low, xtol=1e-7)
    return float(min(1.0, k * float(kolmogorov_sf(en * d)[0])))
