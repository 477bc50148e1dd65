"""detectors.calibration.horizon: parameters calibrated on alarm counts of fresh streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from driftline.detectors.calibration import calibrate_parameter, false_alarms
from driftline.detectors.ddm import DDM
from driftline.detectors.eddm import EDDM

# -- calibrate_parameter: false-alarm rate on fresh streams of a given horizon ----------------
# DDM and EDDM alarm mostly soon after a (re)start, so their alarm rate on streams of a few
# thousand values is far above 1 / ARL0 of one long run; calibrate_parameter measures the rate
# the way a comparison on such streams counts it. Tolerance: the calibration rests on ~30 alarms
# (relative s.e. ~18 %) and the independent check below on ~180 (~7.5 %); a factor 1.7 either way
# is ~3 standard errors, while the miscalibration this guards against was a factor 20-70.
HORIZON_TARGET = 2000.0
HORIZON = 1000


def _errors(n: int, seed: int, rate: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(float)


def _fresh_stream_rate(make: Callable[[], Any], n_streams: int, seed: int) -> float:
    alarms = sum(false_alarms(make, _errors(HORIZON, seed * 10_000 + i))
                 for i in range(n_streams))
    return alarms / (n_streams * HORIZON)


@pytest.mark.parametrize(("make", "bounds", "increasing"), [
    (lambda v: EDDM(alpha=0.99, beta=v), (0.05, 0.98), False),
    (lambda v: DDM(drift_threshold=v, warning_threshold=1.0), (2.5, 15.0), True),
])
def test_parameter_calibration_holds_on_independent_fresh_streams(
    make: Callable[[float], Any], bounds: tuple[float, float], increasing: bool
) -> None:
    result = calibrate_parameter(make, _errors(20_000, 1), HORIZON_TARGET, bounds=bounds,
                                 increasing=increasing, horizon=HORIZON, iterations=10,
                                 random_state=3)
    assert not result.at_bound and result.n_streams == 60
    rate = _fresh_stream_rate(lambda: make(result.value), 360, seed=7)
    assert 1 / 1.7 < rate * HORIZON_TARGET < 1.7, (rate, result)
    assert 1 / 1.7 < result.measured_rate * HORIZON_TARGET < 2.0, result


def test_long_run_arl_understates_fresh_stream_alarms_of_eddm() -> None:
    # the failure calibrate_parameter exists for: a beta giving ARL0 ~ 2000 on one long run
    # raises several times more alarms per value on fresh 1000-value streams
    long_run = _errors(200_000, 5)
    beta = 0.9
    long_rate = false_alarms(lambda: EDDM(alpha=0.99, beta=beta), long_run) / len(long_run)
    fresh_rate = _fresh_stream_rate(lambda: EDDM(alpha=0.99, beta=beta), 200, seed=11)
    assert fresh_rate > 1.5 * long_rate


def test_parameter_calibration_raises_when_the_target_is_out_of_reach() -> None:
    # DDM alarms at the first error whatever its threshold when its warm-up saw none
    # (probability 0.9 ** 31 ~ 4 % per start): about 80 alarms per million values
    with pytest.raises(ValueError, match="cannot reach target_arl0=1e\\+06"):
        calibrate_parameter(lambda v: DDM(drift_threshold=v), _errors(20_000, 2), 1e6,
                            bounds=(3.0, 15.0), horizon=500, n_streams=200, random_state=0)


def test_parameter_calibration_validation() -> None:
    ref = _errors(1000, 0)
    with pytest.raises(ValueError, match="bounds"):
        calibrate_parameter(lambda v: DDM(drift_threshold=v), ref, 100.0, bounds=(5.0, 2.0),
                            horizon=100)
    with pytest.raises(ValueError, match="horizon"):
        calibrate_parameter(lambda v: DDM(drift_threshold=v), ref, 100.0, bounds=(2.0, 5.0),
                            horizon=1)
    with pytest.raises(ValueError, match="target_arl0"):
        calibrate_parameter(lambda v: DDM(drift_threshold=v), ref, 0.5, bounds=(2.0, 5.0),
                            horizon=100)
