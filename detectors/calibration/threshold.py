"""Calibrate a threshold to a target in-control average run length (ARL0) by statistic paths.

:func:`calibrate_threshold` chooses the threshold ``h`` of a detector so that on stationary data
resembling a reference sample (bootstrapped from it, with a moving-block bootstrap to keep
short-range dependence) it raises on average ``horizon / target_arl0`` false alarms over a
horizon of ``horizon`` values, restarting after each one: the false-alarm budget of a
deployment of that length.

Method
------
1. Each stream of ``horizon`` bootstrapped values is run *once* through a detector built with the
   upper threshold bound (so it practically never fires), recording its statistic after every
   value. A detector that restarts after a detection is a renewal process, so its first run
   length under threshold ``h`` is the first passage time ``T_h`` of that path above ``h`` (the
   path is identical up to the first alarm whatever the threshold).
2. ``n_streams`` *deployments* each chain such streams as the restarting detector would use them
   (:class:`detectors.calibration.run_length.HorizonChains`): ``T_1``, then ``T_2`` of the next
   stream, ... while their sum stays within the horizon; the mean count is the expected number
   of false alarms ``E[N_h(horizon)]``. The streams of one deployment share its detector
   factory (``deployment``: e.g. the reference resample it is pinned to), so the estimate
   averages the false-alarm *rates* of deployments, which is what a budget counts.
3. ``h`` is found by bisection (:func:`detectors.calibration.bisection.bisect`) on this estimate,
   without re-running the detector; deployments whose streams ran out before the horizon at the
   solution get another stream and ``h`` is solved again.
4. The chosen threshold is verified by running fresh deployments for real (restarting after
   each detection) over ``verify_length`` fresh bootstrap values, in horizons; the measured
   false-alarm rate is reported beside the estimate.

Why chains and not total time over alarms (the exponential estimate): with run lengths far from
exponential the latter is biased. A Page-Hinkley test that re-estimates sigma from its first 30
values after every restart runs ``exp(2 delta h (sigma_hat / sigma)^2)`` long: a mixture over
``sigma_hat`` whose top 1 % of runs hold a quarter of the time (measured at delta 0.1, h 26.6:
mean run 15,400, median 3,700); and with one reference resample per stream (the double
bootstrap) the pooled run lengths average the deployments' mean run lengths where a budget
needs their mean rates (a factor 1.2 to 2.6 measured; docs/calibration.md).

Contract for the detector built by ``make_detector(threshold)``: a :class:`DriftDetector` whose
``statistics`` hold ``"statistic"`` (and optionally ``"ready"``: 0 while no detection is
possible) and which fires exactly when it is ready and ``statistic > threshold``, with the
threshold affecting nothing else; after a detection it restarts. Its statistic path comes from
:func:`detectors.calibration.paths.statistic_path` (vectorised through the detector's kernel
when it has one).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.threshold import calibrate_page_hinkley
>>> reference = np.random.default_rng(0).normal(size=5000)
>>> result = calibrate_page_hinkley(reference, 1000, delta=0.25, n_streams=100,
...                                 random_state=1)
>>> 5.0 < result.threshold < 30.0 and result.n_alarms >= 200
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors.base import DriftDetector, check_int, check_number
from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.paths import statistic_path
from driftline.detectors.calibration.run_length import (
    FirstPassages,
    HorizonChains,
    false_alarms,
    moving_block_bootstrap,
)
from driftline.detectors.page_hinkley import PageHinkley

__all__ = ["CalibrationResult", "Deployments", "calibrate_bank", "calibrate_page_hinkley",
           "calibrate_threshold"]


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate_threshold`.

    ``estimated_arl0`` is ``horizon / E[false alarms over the horizon]`` at ``threshold``, from
    ``n_alarms`` alarms of ``n_streams`` deployments (chains of streams, ``n_censored`` of them
    without any alarm); ``stream_length`` is the horizon; ``measured_*`` come from the
    verification run.
    """

    threshold: float
    target_arl0: float
    estimated_arl0: float
    n_alarms: int
    n_streams: int
    n_censored: int
    stream_length: int
    samples_simulated: int
    verify_samples: int
    verify_alarms: int
    measured_false_alarm_rate: float
    measured_arl0: float


Factory = Callable[[float], DriftDetector]


class Deployments:
    """Statistic paths of simulated deployments, chained over a horizon
    (:class:`detectors.calibration.run_length.HorizonChains`) and extended on demand.

    Each deployment starts with one stream of ``horizon`` values through
    ``factories[i](high)``. :meth:`extend_open` gives the deployments still short of the horizon
    at a threshold more values: the last stream's detector continues its path while it has not
    alarmed, otherwise a fresh detector starts a new stream, about twice the deployment's mean
    run length so far (a stream is used only up to its first alarm).
    """

    def __init__(self, factories: list[Factory], high: float, horizon: int,
                 draw: Callable[[int], np.ndarray]) -> None:
        self.factories, self.high, self.draw = factories, high, draw
        self.chains = HorizonChains(horizon)
        self.detectors = [[make(high)] for make in factories]
        self.chains.chains = [[self._records(dets[0], horizon)] for dets in self.detectors]

    def _records(self, detector: DriftDetector, size: int) -> FirstPassages:
        records = FirstPassages()
        records.extend(statistic_path(detector, self.draw(size)))
        return records

    def extend_open(self, h: float) -> bool:
        """Extend the deployments open at ``h``; whether there were any."""
        pending = self.chains.open_chains(h)
        for i in pending:
            chain, detectors = self.chains.chains[i], self.detectors[i]
            missing = self.chains.missing(i, h)
            last = chain[-1]
            if last.first_passage(h) > last.length:  # still running without an alarm
                last.extend(statistic_path(detectors[-1], self.draw(min(missing,
                                                                         last.length))))
                continue
            alarms, elapsed, _ = self.chains.count(chain, h)
            detectors.append(self.factories[i](self.high))
            size = min(missing, max(64, 2 * elapsed // max(alarms, 1)))
            chain.append(self._records(detectors[-1], size))
        return bool(pending)

    @property
    def samples(self) -> int:
        """Values simulated so far."""
        return sum(r.length for chain in self.chains.chains for r in chain)


def calibrate_threshold(
    make_detector: Factory,
    reference: Any,
    target_arl0: float,
    *,
    threshold_bounds: tuple[float, float] = (0.0, 1000.0),
    n_streams: int = 200,
    stream_length: int | None = None,
    block_size: int = 1,
    verify_length: int | None = None,
    xtol: float = 1e-6,
    deployment: Callable[[np.random.Generator], Factory] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> CalibrationResult:
    """Threshold at which ``make_detector(threshold)`` reaches ``target_arl0`` (module docstring).

    Parameters
    ----------
    make_detector
        Builds a fresh detector for a threshold (see the contract in the module docstring).
    reference
        1-D sample of in-control data (at least ``block_size`` finite values).
    target_arl0
        Desired mean run length between false alarms (> 1): ``horizon / target_arl0`` false
        alarms expected over a horizon.
    threshold_bounds
        ``(low, high)`` searched by bisection; paths are recorded with ``high``.
    n_streams
        Deployments simulated (chains of streams, about ``1 + horizon / target_arl0`` each).
    stream_length
        The horizon (values per stream); default ``3 * target_arl0``.
    block_size
        Moving-block bootstrap block length (1 = iid resampling).
    verify_length
        Fresh values for the verification run; default ``20 * target_arl0`` (about 20 alarms
        expected) and 0 to skip it.
    xtol
        Bisection stops when the bracket is narrower than ``xtol * (high - low)``.
    deployment
        ``deployment(rng)`` returns the detector factory of one deployment (e.g. pinned to its
        own resample of the reference); every stream of a chain uses its deployment's factory.
        Default: ``make_detector`` everywhere.
    random_state
        Seed or generator for the bootstrap.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 1 or len(ref) < 2 or not np.isfinite(ref).all():
        raise ValueError("reference must be a 1-D array of at least 2 finite values")
    target = check_number("target_arl0", target_arl0, low=1.0, low_inclusive=False)
    assert target is not None
    if len(threshold_bounds) != 2:
        raise ValueError(f"threshold_bounds must be (low, high), got {threshold_bounds!r}")
    low = check_number("threshold_bounds[0]", threshold_bounds[0])
    high = check_number("threshold_bounds[1]", threshold_bounds[1])
    assert low is not None and high is not None
    if not low < high:
        raise ValueError(f"threshold_bounds must satisfy low < high, got {threshold_bounds!r}")
    n_streams = check_int("n_streams", n_streams, low=1)
    length = check_int("stream_length", stream_length if stream_length is not None
                       else max(100, int(3 * target)), low=2)
    block_size = check_int("block_size", block_size, low=1, high=len(ref))
    verify = check_int("verify_length", verify_length if verify_length is not None
                       else int(20 * target), low=0)
    tol = check_number("xtol", xtol, low=0.0, low_inclusive=False)
    assert tol is not None
    rng = np.random.default_rng(random_state)

    def draw(size: int = length) -> np.ndarray:
        return moving_block_bootstrap(ref, size, block_size, rng)

    factories = [make_detector if deployment is None else deployment(rng)
                 for _ in range(n_streams)]
    simulated = Deployments(factories, high, length, draw)
    chains = simulated.chains
    goal = 1.0 / target

    def solve() -> float:
        if chains.rate(high)[0] > goal:
            raise ValueError(
                f"even threshold_bounds[1]={high} gives an estimated ARL0 of "
                f"{1.0 / chains.rate(high)[0]:.1f} < target_arl0={target}; raise the upper bound"
            )
        if chains.rate(low)[0] <= goal:
            return low
        return bisect(lambda h: chains.rate(h)[0] <= goal, high, low, xtol=tol * (high - low))

    hi = solve()
    # deployments whose streams all alarmed before the horizon get more values
    while simulated.extend_open(hi):
        hi = solve()
    rate, n_alarms = chains.rate(hi)
    if n_alarms < 30:
        warnings.warn(
            f"ARL0 estimate rests on only {n_alarms} alarms; increase n_streams or "
            "stream_length for a reliable threshold", RuntimeWarning, stacklevel=2,
        )
    n_silent = sum(1 for chain in chains.chains if chains.count(chain, hi)[0] == 0)
    verify_alarms = verify_values = 0
    while verify_values < verify:
        make = make_detector if deployment is None else deployment(rng)
        stream = moving_block_bootstrap(ref, min(length, verify - verify_values), block_size,
                                        rng)
        verify_alarms += false_alarms(lambda make=make: make(hi), stream)
        verify_values += len(stream)
    return CalibrationResult(
        threshold=hi, target_arl0=target,
        estimated_arl0=1.0 / rate if rate > 0 else math.inf, n_alarms=n_alarms,
        n_streams=n_streams, n_censored=n_silent, stream_length=length,
        samples_simulated=simulated.samples,
        verify_samples=verify, verify_alarms=verify_alarms,
        measured_false_alarm_rate=verify_alarms / verify if verify else math.nan,
        measured_arl0=(verify / verify_alarms if verify_alarms else math.inf) if verify
        else math.nan,
    )


def calibrate_page_hinkley(
    reference: Any, target_arl0: float, *, delta: float = 0.1, direction: str = "both",
    pin_reference: bool = False, warmup: int = 30, forgetting: float = 1.0,
    min_instances: int = 30, **kwargs: Any,
) -> CalibrationResult:
    """Calibrate :class:`PageHinkley`'s threshold (sigma units) on ``reference``.

    With ``pin_reference=True`` the detector uses the reference's mean and standard deviation
    (ddof=1) as pinned references, otherwise the running mean and a warm-up sigma estimate.
    ``kwargs`` go to :func:`calibrate_threshold`.
    """
    ref = np.asarray(reference, dtype=np.float64)
    pinned = PageHinkley.reference_params(ref) if pin_reference else {}

    def make(threshold: float) -> PageHinkley:
        return PageHinkley(delta=delta, threshold=threshold, direction=direction,
                           warmup=warmup, forgetting=forgetting, min_instances=min_instances,
                           **pinned)

    return calibrate_threshold(make, ref, target_arl0, **kwargs)


def calibrate_bank(
    reference: Any, target_arl0: float, *, random_state: int | None = None, **kwargs: Any
) -> tuple[np.ndarray, list[CalibrationResult]]:
    """Per-feature Page-Hinkley thresholds for a :class:`PageHinkleyBank` from rows ``reference``.

    Each feature is calibrated to ``target_arl0`` on its own column (with
    :func:`calibrate_page_hinkley`, ``kwargs`` passed on); with ``F`` roughly independent
    features the bank as a whole alarms about ``F`` times as often. Returns the thresholds array
    (for ``PageHinkleyBank(threshold=...)``) and the per-feature results.
    """
    rows = np.asarray(reference, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"reference must be a 2-D array (rows, features), got {rows.shape}")
    seeds = np.random.SeedSequence(random_state).spawn(rows.shape[1])
    results = [
        calibrate_page_hinkley(rows[:, f], target_arl0, random_state=np.random.default_rng(s),
                               **kwargs)
        for f, s in enumerate(seeds)
    ]
    return np.array([r.threshold for r in results]), results
