"""Calibrate a threshold to a target in-control average run length (ARL0) by statistic paths.

:func:`calibrate_threshold` chooses the threshold ``h`` of a detector so that on stationary data
resembling a reference sample (bootstrapped from it, with a moving-block bootstrap to keep
short-range dependence) the mean number of values between false alarms reaches ``target_arl0``.

Method
------
1. Each of ``n_streams`` bootstrapped streams of ``stream_length`` values is run *once* through a
   detector built with the upper threshold bound (so it practically never fires), recording its
   statistic after every value. A detector that restarts after a detection is a renewal process,
   so the first run length under threshold ``h`` is the first passage time ``T_h`` of that path
   above ``h`` (the path is identical up to the first alarm whatever the threshold).
2. ``ARL(h)`` is estimated with the censoring-aware (exponential maximum-likelihood / renewal)
   estimator ``sum_i min(T_h,i, L) / #{i: T_h,i <= L}``: total time at risk over alarms.
3. ``h`` is found by bisection (:func:`detectors.calibration.bisection.bisect`) on this
   estimate, without re-running the detector.
4. The chosen threshold is verified by running the detector for real (restarting after each
   detection) on ``verify_length`` fresh bootstrap values; the measured false-alarm rate is
   reported beside the estimate.

Contract for the detector built by ``make_detector(threshold)``: a :class:`DriftDetector` whose
``statistics`` hold ``"statistic"`` (and optionally ``"ready"``: 0 while no detection is
possible) and which fires exactly when it is ready and ``statistic > threshold``, with the
threshold affecting nothing else; after a detection it restarts. Its statistic path comes from
:func:`detectors.calibration.paths.statistic_path` (vectorised through the detector's kernel
when it has one).

Run lengths far from exponential (e.g. a sigma re-estimated from a short warm-up after every
restart on skewed data: many short runs, a few very long ones) bias the censored estimate low,
so while more than ``max_censored`` of the streams are censored at the solution the censored
streams are extended (doubled) and ``h`` is solved again.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.threshold import calibrate_page_hinkley
>>> reference = np.random.default_rng(0).normal(size=5000)
>>> result = calibrate_page_hinkley(reference, 1000, delta=0.25, n_streams=100,
...                                 random_state=1)
>>> 5.0 < result.threshold < 30.0 and result.n_alarms >= 90
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
    arl_at,
    moving_block_bootstrap,
)
from driftline.detectors.page_hinkley import PageHinkley

__all__ = ["CalibrationResult", "calibrate_bank", "calibrate_page_hinkley", "calibrate_threshold"]


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate_threshold`.

    ``estimated_arl0`` is the censoring-aware estimate at ``threshold`` from ``n_alarms`` first
    passages among ``n_streams`` streams; ``measured_*`` come from the verification run.
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


class _Stream:
    """One bootstrapped stream's detector and the records of its statistic path."""

    def __init__(self, detector: DriftDetector) -> None:
        self.detector = detector
        self.records = FirstPassages()

    def extend(self, values: np.ndarray) -> None:
        self.records.extend(statistic_path(self.detector, values))


def _arl(streams: list[_Stream], h: float) -> tuple[float, int, int]:
    arl, alarms = arl_at([s.records for s in streams], h)
    return arl, alarms, len(streams) - alarms


def calibrate_threshold(
    make_detector: Callable[[float], DriftDetector],
    reference: Any,
    target_arl0: float,
    *,
    threshold_bounds: tuple[float, float] = (0.0, 1000.0),
    n_streams: int = 200,
    stream_length: int | None = None,
    block_size: int = 1,
    verify_length: int | None = None,
    max_censored: float = 0.01,
    max_extensions: int = 6,
    xtol: float = 1e-6,
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
        Desired mean run length between false alarms (> 1).
    threshold_bounds
        ``(low, high)`` searched by bisection; paths are recorded with ``high``.
    n_streams, stream_length
        Bootstrapped streams for the estimate; ``stream_length`` defaults to ``3 * target_arl0``
        (about 95 % of the streams alarm, so the estimate rests on ~``n_streams`` run lengths).
    block_size
        Moving-block bootstrap block length (1 = iid resampling).
    verify_length
        Fresh values for the verification run; default ``20 * target_arl0`` (about 20 alarms
        expected) and 0 to skip it.
    max_censored, max_extensions
        While more than ``max_censored`` of the streams are censored at the solution, the
        censored streams are doubled in length and the threshold solved again (at most
        ``max_extensions`` times).
    xtol
        Bisection stops when the bracket is narrower than ``xtol * (high - low)``.
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
    max_censored = check_number("max_censored", max_censored, low=0.0, high=1.0)
    max_extensions = check_int("max_extensions", max_extensions, low=0)
    tol = check_number("xtol", xtol, low=0.0, low_inclusive=False)
    assert tol is not None and max_censored is not None
    rng = np.random.default_rng(random_state)

    streams = [_Stream(make_detector(high)) for _ in range(n_streams)]
    for stream in streams:
        stream.extend(moving_block_bootstrap(ref, length, block_size, rng))

    def solve() -> float:
        if _arl(streams, high)[0] < target:
            raise ValueError(
                f"even threshold_bounds[1]={high} gives an estimated ARL0 of "
                f"{_arl(streams, high)[0]:.1f} < target_arl0={target}; raise the upper bound"
            )
        if _arl(streams, low)[0] >= target:
            return low
        return bisect(lambda h: _arl(streams, h)[0] >= target, high, low,
                      xtol=tol * (high - low))

    # Run lengths far from exponential (e.g. a sigma re-estimated after each restart on skewed
    # data) make the censored estimate biased low; extending the censored streams fixes that.
    hi = solve()
    for _ in range(max_extensions):
        censored = [s for s in streams if s.records.first_passage(hi) > s.records.length]
        if len(censored) <= max_censored * n_streams:
            break
        for stream in censored:
            stream.extend(moving_block_bootstrap(ref, stream.records.length, block_size, rng))
        hi = solve()
    estimate, n_alarms, n_censored = _arl(streams, hi)
    if n_alarms < 30:
        warnings.warn(
            f"ARL0 estimate rests on only {n_alarms} alarms; increase n_streams or "
            "stream_length for a reliable threshold", RuntimeWarning, stacklevel=2,
        )
    verify_alarms = 0
    if verify:
        detector = make_detector(hi)
        verify_alarms = len(detector.update_many(moving_block_bootstrap(
            ref, verify, block_size, rng)))
    return CalibrationResult(
        threshold=hi, target_arl0=target, estimated_arl0=estimate, n_alarms=n_alarms,
        n_streams=n_streams, n_censored=n_censored, stream_length=length,
        samples_simulated=sum(st.records.length for st in streams),
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
