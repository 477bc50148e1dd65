"""Alarm parameters of the error-rate detectors, calibrated to a target ARL0 in labelled events.

The detectors that declare the ``"fresh_streams"`` method (the DDM family and ADWIN) watch the
0/1 errors of labelled events. In control those errors are Bernoulli draws at the reference
error rate, so each detector's declared alarm parameter
(:attr:`detectors.base.DriftDetector.alarm`: its range, direction, scale and budget) is set with
:func:`detectors.calibration.horizon.calibrate_parameter` on fresh Bernoulli streams of
``target_arl0`` values: a fresh detector per stream and after every alarm, since DDM and EDDM
alarm mostly soon after a (re)start, which a long-run ARL0 estimate would miss. Results are
cached per process.

Targets needing more than :data:`MAX_SIMULATED` simulated values (the 10^8-10^10 labelled events
of a budget in time, :mod:`executor.alarm_budget`) are not simulated: a detector whose alarm
parameter is a level per value (``alarm.per_value_level``: ADWIN's ``delta``, HDDM_A's
``drift_confidence``) takes ``1 / target_arl0``, which bounds its false-alarm rate (union bound;
measured far more conservative); the others (DDM, EDDM) their most conservative value, with a
warning.

Examples
--------
>>> from driftline.detectors.calibration.errors import calibrate_error_detector
>>> result = calibrate_error_detector("ddm", 0.25, 500.0, seed=1)
>>> result["status"], 2.0 < result["params"]["drift_threshold"] < 4.5
('calibrated', True)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from driftline.detectors import detector_class
from driftline.detectors.calibration.cache import cache_key
from driftline.detectors.calibration.horizon import calibrate_parameter

__all__ = ["calibrate_error_detector"]

_log = logging.getLogger("driftline.calibrate")
_CACHE: dict[str, dict[str, Any]] = {}
#: size of the Bernoulli reference the error streams are resampled from
BERNOULLI_SIZE = 100_000
#: most Bernoulli values a calibration may simulate (~1-3 minutes); a target needing more (the
#: 10^8-10^10 labelled events of a budget in time) is out of reach: the most conservative value
MAX_SIMULATED = 50_000_000


def calibrate_error_detector(
    name: str, error_rate: float, target_arl0: float, *, params: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Calibrated constructor arguments of error detector ``name`` for ``target_arl0``.

    Returns ``{"params", "status", "measured_arl0", "message"}``: ``status`` is
    ``"calibrated"``, ``"bound"`` (a target beyond :data:`MAX_SIMULATED` simulated values for a
    detector whose alarm parameter is a level per value: ``1 / target_arl0``, the union
    bound), ``"at_bound"`` (even the most sensitive value of the range alarms less often than
    the target: that value is used), ``"fallback"`` (even the most conservative value alarms
    more often: that value is used and ``message`` says so) or ``"no_errors"``
    (``error_rate`` 0: an error-free stream never alarms, the most sensitive value is used).
    """
    if not (math.isfinite(error_rate) and 0.0 <= error_rate <= 1.0):
        raise ValueError(f"error_rate must lie in [0, 1], got {error_rate!r}")
    cls = detector_class(name)
    alarm = cls.alarm
    if alarm.method != "fresh_streams":
        raise ValueError(f"detector {name!r} is not calibrated on fresh error streams (its "
                         f"alarm parameter {alarm.name!r} uses the {alarm.method!r} method)")
    base = dict(params or {})
    ones = round(error_rate * BERNOULLI_SIZE)
    reference = np.zeros(BERNOULLI_SIZE)
    reference[:ones] = 1.0
    key = cache_key(reference, "errors", name, target_arl0, sorted(base.items()), seed, alarm)
    if key in _CACHE:
        return dict(_CACHE[key])
    if ones == 0:
        # a stream without errors never alarms: every value meets the target, so the most
        # sensitive one is used (a data-quality flag the reference never showed)
        sensitive = alarm.value(alarm.bounds[0] if alarm.increasing else alarm.bounds[1])
        out = {"params": cls.with_alarm(base, sensitive), "status": "no_errors",
               "measured_arl0": None, "message": ""}
        _CACHE[key] = dict(out)
        return out

    horizon = max(100, math.ceil(target_arl0))
    n_streams = max(1, math.ceil(alarm.alarms * target_arl0 / horizon))
    simulated = horizon * n_streams * alarm.iterations
    try:
        if simulated > MAX_SIMULATED:
            raise ValueError(f"it would simulate {simulated:.3g} values, more than "
                             f"{MAX_SIMULATED:.3g}")
        result = calibrate_parameter(
            lambda u: cls(**cls.with_alarm(base, alarm.value(u))), reference, target_arl0,
            bounds=alarm.bounds, increasing=alarm.increasing, horizon=horizon,
            n_streams=n_streams, iterations=alarm.iterations, random_state=seed)
    except ValueError as exc:
        if alarm.per_value_level and simulated > MAX_SIMULATED:
            # a level per value: 1/target bounds the false-alarm rate (union bound)
            value = 1.0 / target_arl0
            out = {"params": cls.with_alarm(base, value), "status": "bound",
                   "measured_arl0": None, "message": ""}
            _log.info("error detector %s: %s=%.3g = 1/target_arl0 (union bound; simulating "
                      "%.3g values is out of reach)", name, alarm.name, value, simulated)
            _CACHE[key] = dict(out)
            return out
        value = alarm.conservative
        message = (f"error detector {name}: target_arl0={target_arl0:g} is out of reach at "
                   f"error rate {error_rate:.4f}; using its most conservative "
                   f"{alarm.name}={value:g} ({exc})")
        _log.warning(message)
        out = {"params": cls.with_alarm(base, value), "status": "fallback",
               "measured_arl0": None, "message": message}
    else:
        value = alarm.value(result.value)
        measured = 1.0 / result.measured_rate if result.measured_rate > 0 else math.inf
        status, message = "calibrated", ""
        if result.at_bound:
            status = "at_bound"
            message = (f"error detector {name}: even its most sensitive {alarm.name}={value:g} "
                       f"alarms less often than target_arl0={target_arl0:g} at error rate "
                       f"{error_rate:.4f}; using that value")
            _log.warning(message)
        out = {"params": cls.with_alarm(base, value), "status": status,
               "measured_arl0": measured if math.isfinite(measured) else None,
               "message": message}
    _CACHE[key] = dict(out)
    return out
