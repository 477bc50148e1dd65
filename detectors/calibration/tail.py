"""Thresholds for ARL0s too large to simulate: extrapolate the simulated tail of run lengths.

For a statistic whose in-control tail is exponential (a CUSUM, a chi-square or an MMD^2 with its
weighted chi-square law, ...), ``log ARL0`` is asymptotically linear in the threshold:
``log ARL0(h) = a + b h``. :func:`fit_log_arl` fits that line to ARL0s measured at several
moderate thresholds (weighted by their alarm counts: ``log ARL0`` has variance ``~1 / alarms``),
with a ``log h`` term for the pre-asymptotic shape, and :class:`TailFit` extrapolates it to any
target with an uncertainty statement: the fit is repeated on bootstrap resamples of the
simulated deployments, and the spread of the extrapolated thresholds (and of the ARL0 each
resample predicts at the chosen threshold) is reported as an interval; the threshold of the
plain line is reported beside it as the model's own uncertainty.

:func:`extrapolate_threshold` does all of it for a detector with a statistic path (the contract
of :func:`detectors.calibration.threshold.calibrate_threshold`): deployments of streams of
``3 * simulated_arl0`` values, false alarms counted per deployment over that horizon
(:class:`detectors.calibration.run_length.HorizonChains`), a ladder of thresholds whose ARL0
runs from ``simulated_arl0 / LADDER_SPAN`` to ``simulated_arl0``. Any other null simulation
(NM-DDM's, a categorical test's) plugs into :func:`fit_log_arl` with its own ARL0s.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.tail import fit_log_arl
>>> h = np.array([4.0, 5.0, 6.0, 7.0])
>>> fit = fit_log_arl(h, np.exp(1.0 + 2.0 * h), np.full(4, 100))
>>> round(fit.slope, 6), round(fit.threshold(np.exp(21.0)), 6)
(2.0, 10.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors.base import DriftDetector
from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.run_length import HorizonChains, moving_block_bootstrap
from driftline.detectors.calibration.threshold import Deployments

__all__ = ["LADDER_SPAN", "Extrapolation", "TailFit", "extrapolate_threshold", "fit_log_arl"]

LADDER_SPAN = 100.0
LADDER_POINTS = 8
_BOOTSTRAP = 200


@dataclass(frozen=True)
class TailFit:
    """``log ARL0 = a + b h + c log h`` fitted at ``thresholds`` (``c = 0``: the line);
    ``draws`` holds the ``(a, b, c)`` of the same fit on bootstrap resamples (may be empty)."""

    coef: tuple[float, float, float]
    thresholds: np.ndarray
    log_arl: np.ndarray
    alarms: np.ndarray
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))

    @property
    def slope(self) -> float:
        """``b``: the asymptotic growth of ``log ARL0`` per unit of threshold."""
        return self.coef[1]

    def log_arl_at(self, h: Any, coef: Any = None) -> np.ndarray:
        """The fitted ``log ARL0`` at thresholds ``h`` (with ``coef`` instead, if given)."""
        a, b, c = self.coef if coef is None else coef
        h = np.asarray(h, dtype=np.float64)
        return a + b * h + (c * np.log(h) if c else 0.0)

    def threshold(self, target_arl0: float, coef: Any = None) -> float:
        """The threshold (above the fitted ones) where the fit reaches ``log(target_arl0)``."""
        goal = math.log(target_arl0)
        low = float(self.thresholds.max())
        if float(self.log_arl_at(low, coef)) >= goal:
            return float(bisect(lambda h: float(self.log_arl_at(h, coef)) >= goal, low,
                                float(self.thresholds.min()), xtol=1e-9 * max(1.0, low)))
        high = low + 1.0
        while float(self.log_arl_at(high, coef)) < goal:
            if high > 1e9 * max(1.0, low):
                raise ValueError("the fitted tail does not reach the target: the simulated "
                                 "thresholds are not in the tail; raise simulated_arl0")
            high = low + 2.0 * (high - low)
        return float(bisect(lambda h: float(self.log_arl_at(h, coef)) >= goal, high, low,
                            xtol=1e-9 * max(1.0, high)))

    def threshold_interval(self, target_arl0: float, level: float = 0.9) -> tuple[float, float]:
        """Central ``level`` interval of the threshold over the bootstrap fits."""
        if not len(self.draws):
            return math.nan, math.nan
        values = []
        for coef in self.draws:
            try:
                values.append(self.threshold(target_arl0, coef))
            except ValueError:  # a resample whose tail never reaches the target
                values.append(math.inf)
        q = (1.0 - level) / 2.0
        with np.errstate(invalid="ignore"):  # between two infinite draws: inf - inf
            low, high = np.quantile(values, [q, 1.0 - q])
        return (math.inf if math.isnan(low) else float(low),
                math.inf if math.isnan(high) else float(high))

    def arl_interval(self, threshold: float, level: float = 0.9) -> tuple[float, float]:
        """Central ``level`` interval of the ARL0 at ``threshold`` over the bootstrap fits."""
        if not len(self.draws):
            return math.nan, math.nan
        values = np.exp([float(self.log_arl_at(threshold, coef)) for coef in self.draws])
        q = (1.0 - level) / 2.0
        with np.errstate(invalid="ignore"):  # between two infinite draws: inf - inf
            low, high = np.quantile(values, [q, 1.0 - q])
        return (math.inf if math.isnan(low) else float(low),
                math.inf if math.isnan(high) else float(high))


def fit_log_arl(thresholds: Any, arls: Any, alarms: Any, *, log_term: bool = True) -> TailFit:
    """Weighted least squares of ``log ARL0`` on ``h`` (and ``log h`` when ``log_term`` and
    every threshold is positive, with four points at least); weights: the alarm counts.

    The ``log h`` term is the pre-asymptotic shape of the tails met here (a chi-square's
    ``x^(k/2 - 1) exp(-x/2)``, a CUSUM's ``exp(theta b) - 1 - theta b`` at small ``b``); on a CUSUM
    the line extrapolates low and the line with the log term high (docs/calibration.md), so
    the two bracket the truth. Points without alarms or with an infinite ARL0 are left out.
    """
    h = np.asarray(thresholds, dtype=np.float64)
    arl = np.asarray(arls, dtype=np.float64)
    n = np.asarray(alarms, dtype=np.float64)
    keep = (n > 0) & np.isfinite(arl) & (arl > 0)
    if np.count_nonzero(keep) < 2:
        raise ValueError("fit_log_arl needs at least two thresholds with alarms")
    h, log_arl, n = h[keep], np.log(arl[keep]), n[keep]
    columns = [np.ones_like(h), h]
    if log_term and len(h) >= 4 and (h > 0).all():
        columns.append(np.log(h))
    design = np.column_stack(columns)
    root = np.sqrt(n)
    coef, *_ = np.linalg.lstsq(design * root[:, None], log_arl * root, rcond=None)
    a, b, c = [*coef.tolist(), 0.0][:3]
    return TailFit((float(a), float(b), float(c)), h, log_arl, n)


@dataclass(frozen=True)
class Extrapolation:
    """Outcome of :func:`extrapolate_threshold`: the threshold (from the fit with the log term,
    the conservative one), the same from the line (``linear_threshold``: the model's
    uncertainty), the bootstrap intervals of the threshold and of the ARL0 at it, the fits."""

    threshold: float
    target_arl0: float
    fit: TailFit
    linear_threshold: float
    threshold_interval: tuple[float, float]
    arl_interval: tuple[float, float]
    samples_simulated: int


def _counts(chains: HorizonChains, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Per chain: alarms and values covered at ``h``."""
    counts = np.array([chains.count(chain, h)[:2] for chain in chains.chains], dtype=np.float64)
    return counts[:, 0], counts[:, 1]


def extrapolate_threshold(
    make_detector: Callable[[float], DriftDetector], reference: Any, target_arl0: float, *,
    threshold_bounds: tuple[float, float], simulated_arl0: float = 20_000.0,
    n_streams: int = 200, block_size: int = 1,
    deployment: Callable[[np.random.Generator], Callable[[float], DriftDetector]] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> Extrapolation:
    """Threshold for ``target_arl0`` from the tail fitted at ARL0s up to ``simulated_arl0``
    (module docstring); arguments as for
    :func:`detectors.calibration.threshold.calibrate_threshold`. At or below
    ``simulated_arl0`` the threshold is the simulated one (no extrapolation)."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 1 or len(ref) < 2 or not np.isfinite(ref).all():
        raise ValueError("reference must be a 1-D array of at least 2 finite values")
    if not (math.isfinite(target_arl0) and target_arl0 > 1.0):
        raise ValueError(f"target_arl0 must be a finite number > 1, got {target_arl0!r}")
    if not simulated_arl0 > LADDER_SPAN:
        raise ValueError(f"simulated_arl0 must be > {LADDER_SPAN:g}, got {simulated_arl0!r}")
    low, high = float(threshold_bounds[0]), float(threshold_bounds[1])
    rng = np.random.default_rng(random_state)
    horizon = max(100, int(3 * simulated_arl0))
    factories = [make_detector if deployment is None else deployment(rng)
                 for _ in range(n_streams)]
    simulated = Deployments(factories, high, horizon,
                            lambda size: moving_block_bootstrap(ref, size, block_size, rng))
    chains = simulated.chains
    lowest = simulated_arl0 / LADDER_SPAN

    def at_least(arl: float) -> float:
        """The smallest threshold whose estimated ARL0 reaches ``arl``."""
        if chains.rate(high)[0] * arl > 1.0:
            raise ValueError(f"even threshold_bounds[1]={high} gives an ARL0 below {arl:g}")
        return bisect(lambda h: chains.rate(h)[0] * arl <= 1.0, high, low,
                      xtol=1e-6 * (high - low))

    # deployments short of the horizon at the top rung get more values (lower rungs use the
    # rate of the chains so far)
    while simulated.extend_open(at_least(simulated_arl0)):
        pass
    ladder = np.array([at_least(a) for a in np.geomspace(lowest, simulated_arl0,
                                                          LADDER_POINTS)])
    per_chain = [_counts(chains, float(h)) for h in ladder]
    alarms = np.column_stack([c[0] for c in per_chain])  # chains x ladder
    covered = np.column_stack([c[1] for c in per_chain])
    fit, line = (_fit_counts(ladder, alarms, covered, log_term) for log_term in (True, False))
    draws = []
    for _ in range(_BOOTSTRAP):
        pick = rng.integers(0, len(alarms), len(alarms))
        try:
            draws.append(_fit_counts(ladder, alarms[pick], covered[pick], True).coef)
        except ValueError:
            continue
    fit = TailFit(fit.coef, fit.thresholds, fit.log_arl, fit.alarms,
                  np.array(draws).reshape(-1, 3))
    if target_arl0 <= simulated_arl0:
        threshold = linear = at_least(target_arl0)
        interval = (math.nan, math.nan)
    else:
        threshold, linear = fit.threshold(target_arl0), line.threshold(target_arl0)
        interval = fit.threshold_interval(target_arl0)
    return Extrapolation(threshold, float(target_arl0), fit, linear, interval,
                         fit.arl_interval(threshold), simulated.samples)


def _fit_counts(ladder: np.ndarray, alarms: np.ndarray, covered: np.ndarray,
                log_term: bool) -> TailFit:
    total = alarms.sum(axis=0)
    with np.errstate(divide="ignore"):
        arls = covered.sum(axis=0) / total
    return fit_log_arl(ladder, arls, total, log_term=log_term)
