"""Start-up calibration of the pipeline's Page-Hinkley thresholds and error detectors to a target
ARL0.

Each column's threshold comes from :func:`detectors.calibration.calibrate_threshold`: streams are
bootstrapped from the column's reference sample and, because production compares against a
*fixed* reference whose mean and standard deviation are themselves estimates, every simulated
stream's detector is pinned to the mean and standard deviation of its own bootstrap resample of
the reference (a double bootstrap). Without that, thresholds come out too low: the simulated
streams would match the pinned mean exactly, which real traffic never does.

A bank of ``k`` columns gets a family target: each column is calibrated to ``k * target_arl0``,
so the expected number of false alarms of the bank is that of one detector at ``target_arl0``
(Bonferroni split of the false-alarm rate).

Results are cached in memory per process (keyed by the reference bytes and the parameters) and
travel with the pipeline's ``state_dict``, so a restored pipeline does not recalibrate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors.calibration import calibrate_threshold
from driftline.detectors.calibration_horizon import calibrate_parameter
from driftline.detectors.page_hinkley import PageHinkley

__all__ = ["ERROR_PARAMETERS", "ErrorParameter", "calibrate_error_detector",
           "calibrate_page_hinkley_columns", "error_detector_params"]

_log = logging.getLogger("driftline.calibrate")
_CACHE: dict[str, list[float]] = {}
_ERROR_CACHE: dict[str, dict[str, Any]] = {}


def _key(reference: np.ndarray, *parts: object) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(reference, dtype=np.float64).tobytes())
    digest.update(json.dumps([repr(p) for p in parts]).encode())
    return digest.hexdigest()


def calibrate_page_hinkley_columns(
    reference: np.ndarray,
    target_arl0: float,
    *,
    delta: float,
    min_instances: int,
    n_streams: int,
    seed: int,
    names: Sequence[str] | None = None,
) -> list[float]:
    """Per-column Page-Hinkley thresholds (sigma units) for a bank over ``reference`` columns.

    ``reference`` is ``(n_ref, k)``; each column is calibrated to ``k * target_arl0``. Streams
    are ``1.5 * k * target_arl0`` values long (about 78 % alarm); censored streams enter the
    renewal estimate as exposure.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {ref.shape}")
    k = ref.shape[1]
    per_column = float(target_arl0) * k
    key = _key(ref, per_column, delta, min_instances, n_streams, seed)
    if key in _CACHE:
        return list(_CACHE[key])
    seeds = np.random.SeedSequence(seed).spawn(k)
    thresholds = []
    for j in range(k):
        column = ref[:, j]
        rng = np.random.default_rng(seeds[j])
        if float(np.std(column)) == 0.0:
            # a constant reference column: any change is drift, nothing to calibrate
            thresholds.append(math.inf)
            continue
        resample_rng = np.random.default_rng(rng.integers(2**63))

        def make(threshold: float, column: np.ndarray = column,
                 resample_rng: np.random.Generator = resample_rng) -> PageHinkley:
            sample = column[resample_rng.integers(0, len(column), len(column))]
            std = float(np.std(sample, ddof=1))
            return PageHinkley(delta=delta, threshold=threshold, direction="both",
                               reference_mean=float(np.mean(sample)),
                               reference_std=std if std > 0 else float(np.std(column, ddof=1)),
                               min_instances=min_instances)

        result = calibrate_threshold(
            make, column, per_column, threshold_bounds=(0.0, 2000.0), n_streams=n_streams,
            stream_length=max(100, int(1.5 * per_column)), verify_length=0, max_censored=1.0,
            max_extensions=0, xtol=1e-4, random_state=rng)
        thresholds.append(float(result.threshold))
    _CACHE[key] = list(thresholds)
    return thresholds


# -- error-rate detectors ----------------------------------------------------------------------
# The DDM family and ADWIN watch the 0/1 errors of labelled events. In control those errors are
# Bernoulli draws at the reference error rate, so each detector's alarm parameter is set with
# :func:`detectors.calibration_horizon.calibrate_parameter` on fresh Bernoulli streams of
# ``target_arl0`` values (a fresh detector per stream and after every alarm: DDM and EDDM alarm
# mostly soon after a (re)start, which a long-run ARL0 estimate would miss).

_BERNOULLI_SIZE = 100_000


@dataclass(frozen=True)
class ErrorParameter:
    """How one error detector is calibrated: which parameter, over which range.

    ``bounds`` are in log10 units when ``log_scale``; ``increasing`` says whether a larger value
    means fewer alarms; ``iterations`` bisection steps resolve the range about as finely as
    the statistical error of the measured rate allows; ``alarms`` are expected at the target
    over the calibration streams (the measured rate is good to ~1/sqrt of it). Each bisection
    step runs ``alarms * target_arl0`` values: DDM and EDDM are cheap (and EDDM's alarms
    cluster, so it needs more), HDDM_A and ADWIN cost ~2 us a value in pure Python and get
    fewer, to keep the start-up to seconds.
    """

    name: str
    bounds: tuple[float, float]
    increasing: bool
    log_scale: bool
    iterations: int
    alarms: int

    @property
    def conservative(self) -> float:
        """The end of ``bounds`` with the fewest alarms (in parameter units)."""
        end = self.bounds[1] if self.increasing else self.bounds[0]
        return 10.0 ** end if self.log_scale else end


ERROR_PARAMETERS: dict[str, ErrorParameter] = {
    "ddm": ErrorParameter("drift_threshold", (2.0, 4.5), True, False, 6, 8),
    "eddm": ErrorParameter("beta", (0.5, 0.95), False, False, 6, 16),
    "hddm_a": ErrorParameter("drift_confidence", (-4.5, -1.0), False, True, 4, 5),
    "adwin": ErrorParameter("delta", (-2.5, math.log10(0.5)), False, True, 4, 5),
}


def error_detector_params(name: str, value: float, params: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of error detector ``name`` with its alarm parameter at ``value``;
    the warning level of ``params`` (or the default) is moved so it stays valid."""
    out = dict(params)
    if name == "ddm":
        out["drift_threshold"] = value
        out["warning_threshold"] = min(float(params.get("warning_threshold", 2.0)), value)
    elif name == "eddm":
        out["beta"] = value
        out["alpha"] = max(float(params.get("alpha", 0.95)), value)
    elif name == "hddm_a":
        out["drift_confidence"] = value
        out["warning_confidence"] = max(float(params.get("warning_confidence", 0.005)), value)
    elif name == "adwin":
        out["delta"] = value
    else:
        raise ValueError(f"no calibration for error detector {name!r}")
    return out


class _UntilFirstAlarm:
    """``update_many`` that stops at the first alarm (in growing sub-chunks).

    :func:`detectors.calibration_horizon.false_alarms` keeps only the first alarm of a chunk
    and restarts there; without this, a frequently alarming candidate would process 4096
    values per alarm.
    """

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def update_many(self, values: np.ndarray) -> np.ndarray:
        pos, step = 0, 64
        while pos < len(values):
            fired = np.asarray(self.detector.update_many(values[pos : pos + step]))
            if len(fired):
                return fired[:1] + pos
            pos += step
            step = min(2 * step, 4096)
        return np.empty(0, dtype=np.int64)


def calibrate_error_detector(
    name: str, error_rate: float, target_arl0: float, *, params: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Calibrated constructor arguments of error detector ``name`` for ``target_arl0``.

    Returns ``{"params", "status", "measured_arl0", "message"}``: ``status`` is
    ``"calibrated"``, ``"at_bound"`` (even the most sensitive value of the range alarms less
    often than the target: that value is used) or ``"fallback"`` (even the most conservative
    value alarms more often: that value is used and ``message`` says so).
    """
    from driftline.detectors import make_detector

    if not (math.isfinite(error_rate) and 0.0 <= error_rate <= 1.0):
        raise ValueError(f"error_rate must lie in [0, 1], got {error_rate!r}")
    spec = ERROR_PARAMETERS.get(name)
    if spec is None:
        raise ValueError(f"no calibration for error detector {name!r}; "
                         f"known: {sorted(ERROR_PARAMETERS)}")
    base = dict(params or {})
    ones = round(error_rate * _BERNOULLI_SIZE)
    reference = np.zeros(_BERNOULLI_SIZE)
    reference[:ones] = 1.0
    key = _key(reference, "errors", name, target_arl0, sorted(base.items()), seed,
               spec)
    if key in _ERROR_CACHE:
        return dict(_ERROR_CACHE[key])

    def convert(v: float) -> float:
        return 10.0 ** v if spec.log_scale else v

    def make(v: float) -> _UntilFirstAlarm:
        return _UntilFirstAlarm(make_detector(name, **error_detector_params(name, convert(v),
                                                                           base)))

    horizon = max(100, math.ceil(target_arl0))
    n_streams = max(1, math.ceil(spec.alarms * target_arl0 / horizon))
    try:
        result = calibrate_parameter(
            make, reference, target_arl0, bounds=spec.bounds, increasing=spec.increasing,
            horizon=horizon, n_streams=n_streams, iterations=spec.iterations,
            random_state=seed)
    except ValueError as exc:
        value = spec.conservative
        message = (f"error detector {name}: target_arl0={target_arl0:g} is out of reach at "
                   f"error rate {error_rate:.4f}; using its most conservative "
                   f"{spec.name}={value:g} ({exc})")
        _log.warning(message)
        out = {"params": error_detector_params(name, value, base), "status": "fallback",
               "measured_arl0": None, "message": message}
    else:
        value = convert(result.value)
        measured = 1.0 / result.measured_rate if result.measured_rate > 0 else math.inf
        status, message = "calibrated", ""
        if result.at_bound:
            status = "at_bound"
            message = (f"error detector {name}: even its most sensitive {spec.name}={value:g} "
                       f"alarms less often than target_arl0={target_arl0:g} at error rate "
                       f"{error_rate:.4f}; using that value")
            _log.warning(message)
        out = {"params": error_detector_params(name, value, base), "status": status,
               "measured_arl0": measured if math.isfinite(measured) else None,
               "message": message}
    _ERROR_CACHE[key] = dict(out)
    return out
