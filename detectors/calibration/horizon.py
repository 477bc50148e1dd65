"""Calibrate any detector parameter to a false-alarm rate on fresh stationary streams.

:func:`detectors.calibration.calibrate_threshold` counts the false alarms over a horizon of a
detector whose statistic is compared with a threshold, from the statistic paths of a detector
that cannot fire. Detectors such as DDM and EDDM have no such statistic and need fresh runs:
their false alarms cluster right after a
(re)start, when the running minimum of ``p + s`` (DDM) or maximum of the mean distance (EDDM)
rests on few values and can sit far below its long-run level; a run that survives that phase
then lasts very long. Their long-run ARL0 can reach 10,000 while a fresh detector raises ~20
alarms per 10,000 values on streams of a few thousand values, which is how detectors are
compared on scenarios whose pre-change segment is that short.

:func:`calibrate_parameter` therefore measures what such a comparison counts: the number of
false alarms per value on independent bootstrapped streams of ``horizon`` values, each started
with a fresh detector that is also replaced after every alarm. The same streams serve every
candidate value (common random numbers, so the measured rate is a step function of the
parameter rather than noise), the parameter is bisected (:func:`search_alarm_rate`, also used by
the evaluation's run-length calibration) until the rate is at most
``1 / target_arl0`` on the conservative side, and the result is checked on as many fresh,
independent streams. When even the most conservative end of ``bounds`` alarms more often than
the target, the detector cannot reach it (DDM, for example, alarms at the first error whatever
its threshold when its warm-up saw no error) and a ``ValueError`` says so instead of returning
a threshold that would not hold.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.ddm import DDM
>>> from driftline.detectors.calibration.horizon import calibrate_parameter
>>> errors = (np.random.default_rng(0).random(20_000) < 0.1).astype(float)
>>> result = calibrate_parameter(lambda d: DDM(drift_threshold=d), errors, 2000.0,
...                              bounds=(2.0, 15.0), horizon=1000, random_state=0)
>>> 2.0 < result.value < 15.0
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors.base import check_int, check_number
from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.run_length import (
    BatchDetector,
    false_alarms,
    moving_block_bootstrap,
)

__all__ = ["HorizonCalibration", "OutOfReachError", "RateSearch", "calibrate_parameter",
           "search_alarm_rate"]

#: alarms expected at the target over the calibration streams (relative s.e. ~1/sqrt of it)
EXPECTED_ALARMS = 30


class OutOfReachError(ValueError):
    """Even the conservative end of a parameter range alarms more often than the target."""

    def __init__(self, value: float, alarms: int) -> None:
        super().__init__(f"the conservative value {value:g} raises {alarms} alarms")
        self.value, self.alarms = value, alarms


@dataclass(frozen=True)
class RateSearch:
    """Outcome of :func:`search_alarm_rate`: the value, its alarm count, whether the whole
    range meets the target (the sensitive end is then returned)."""

    value: float
    alarms: int
    at_bound: bool


def search_alarm_rate(count: Callable[[float], int], accept: Callable[[int], bool],
                      safe: float, risky: float, iterations: int) -> RateSearch:
    r"""The value between ``safe`` and ``risky`` closest to ``risky`` whose alarm count
    (``count(value)`` over fixed streams) the target ``accept``\ s, by bisection.

    Raises :class:`OutOfReachError` when ``safe`` is not accepted; returns ``risky`` (``at_bound``)
    when it is.
    """
    safe_alarms = count(safe)
    if not accept(safe_alarms):
        raise OutOfReachError(safe, safe_alarms)
    risky_alarms = count(risky)
    if accept(risky_alarms):
        return RateSearch(risky, risky_alarms, True)
    found = {"alarms": safe_alarms}

    def ok(value: float) -> bool:
        alarms = count(value)
        if accept(alarms):
            found["alarms"] = alarms
            return True
        return False

    value = bisect(ok, safe, risky, iterations=iterations)
    return RateSearch(value, found["alarms"], False)


@dataclass(frozen=True)
class HorizonCalibration:
    """Outcome of :func:`calibrate_parameter` (rates are false alarms per value)."""

    value: float
    target_arl0: float
    horizon: int
    n_streams: int
    calibration_rate: float
    measured_rate: float
    measured_alarms: int
    at_bound: bool

    @property
    def measured_per_10k(self) -> float:
        """False alarms per 10,000 values on the independent verification streams."""
        return self.measured_rate * 1e4


def calibrate_parameter(
    make_detector: Callable[[float], BatchDetector],
    reference: Any,
    target_arl0: float,
    *,
    bounds: tuple[float, float],
    increasing: bool = True,
    horizon: int,
    n_streams: int | None = None,
    block_size: int = 1,
    iterations: int = 20,
    random_state: int | np.random.Generator | None = None,
) -> HorizonCalibration:
    """Parameter value whose false-alarm rate on fresh ``horizon``-value streams is ``1/ARL0``.

    Parameters
    ----------
    make_detector
        Builds a fresh detector for a parameter value.
    reference
        1-D in-control sample the streams are bootstrapped from.
    target_arl0
        Target: at most one false alarm per ``target_arl0`` values (> 1).
    bounds
        ``(low, high)`` range of the parameter, bisected linearly (pass log10 values and map
        them in ``make_detector`` for a log scale).
    increasing
        Whether a larger value means fewer alarms (a threshold) or more (a significance level).
    horizon
        Length of each stream, e.g. the pre-change length of the scenarios compared.
    n_streams
        Streams for the calibration and as many again for the verification; default enough
        for ~30 alarms at the target.
    block_size
        Moving-block bootstrap block length (1 = iid resampling).
    iterations
        Bisection steps.
    random_state
        Seed or generator of the bootstrap.

    Raises
    ------
    ValueError
        If the most conservative end of ``bounds`` alarms more often than the target: the
        detector cannot reach it within that range.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 1 or len(ref) < 2 or not np.isfinite(ref).all():
        raise ValueError("reference must be a 1-D array of at least 2 finite values")
    target = check_number("target_arl0", target_arl0, low=1.0, low_inclusive=False)
    assert target is not None
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    horizon = check_int("horizon", horizon, low=2)
    default_streams = max(10, math.ceil(EXPECTED_ALARMS * target / horizon))
    n = check_int("n_streams", n_streams if n_streams is not None else default_streams, low=1)
    block_size = check_int("block_size", block_size, low=1, high=len(ref))
    iterations = check_int("iterations", iterations, low=1)
    rng = np.random.default_rng(random_state)
    calib = [moving_block_bootstrap(ref, horizon, block_size, rng) for _ in range(n)]
    fresh = [moving_block_bootstrap(ref, horizon, block_size, rng) for _ in range(n)]
    total = n * horizon

    def count(value: float) -> int:
        return sum(false_alarms(lambda: make_detector(value), s) for s in calib)

    goal = 1.0 / target
    safe, risky = (bounds[1], bounds[0]) if increasing else (bounds[0], bounds[1])
    try:
        found = search_alarm_rate(count, lambda alarms: alarms / total <= goal, safe, risky,
                                  iterations)
    except OutOfReachError as exc:
        raise ValueError(
            f"the detector cannot reach target_arl0={target:g} on streams of {horizon} values: "
            f"even at the most conservative parameter value {safe:g} it raises "
            f"{exc.alarms / total * 1e4:.2f} false alarms per 10,000 values (target "
            f"{goal * 1e4:.2f}); widen the parameter range or lower the target"
        ) from None
    alarms = sum(false_alarms(lambda: make_detector(found.value), s) for s in fresh)
    return HorizonCalibration(
        value=found.value, target_arl0=target, horizon=horizon, n_streams=n,
        calibration_rate=found.alarms / total, measured_rate=alarms / total,
        measured_alarms=alarms, at_bound=found.at_bound,
    )
