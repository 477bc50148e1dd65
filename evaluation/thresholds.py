"""Calibrate every detector of a comparison to the same in-control false-alarm rate (ARL0).

The comparison's side of :mod:`detectors.calibration`: it maps a
:class:`evaluation.config.DetectorConfig` (parameter, range, scale) onto the package's
procedures, both run on a reference sample drawn from the stream's pre-change distribution:

* driftline detectors whose configured parameter is their declared alarm parameter with the
  ``"statistic_path"`` method (they fire exactly when ``statistic > threshold``) use
  :func:`detectors.calibration.calibrate_threshold`: first passages of the statistic path on
  bootstrapped streams chained into the false alarms of a restarting detector over a horizon
  (the calibration's stream length), bisection without re-running the detector;
* every other detector (river's, scikit-multiflow's, driftline's with a significance level such
  as ``alpha``) uses :func:`calibrate_by_run_length`: ``run_length_factor * target_arl0`` iid
  bootstrap reference values, cut into independent streams of ``stream_length`` values (default
  ``3 * target_arl0``, the pre-change length of the default scenarios), are drawn once (common
  random numbers, so the measured run length is a step function of the parameter, not noise);
  the detector runs over each stream from a fresh start with a restart after every alarm, and
  the parameter is bisected (on a log scale for significance levels) until the measured
  ARL0 = values / alarms reaches the target on the conservative side
  (:func:`detectors.calibration.search_alarm_rate`). Fresh starts matter: the
  DDM family alarms often soon after a start and then, once its running minimum settles, rarely,
  so one long stream measures a much lower false-alarm rate than the evaluation's finite
  pre-change segments show. When even the most alarm-prone end of ``threshold_bounds`` stays
  above the target (e.g. ADWIN, whose ``delta`` cannot go past 1), that end is used and
  ``at_bound`` is set: the detector is then compared at a *lower* false-alarm rate than the
  others. With ~``run_length_factor`` alarms expected, the measured ARL0 has a relative standard
  error of about ``1 / sqrt(run_length_factor)`` (more for heavy-tailed run lengths).

Example
-------
>>> import numpy as np
>>> from driftline.evaluation.adapters import build_factory
>>> from driftline.evaluation.config import DetectorConfig
>>> from driftline.evaluation.thresholds import calibrate_by_run_length
>>> spec = DetectorConfig(name="PageHinkley", library="river", threshold_param="threshold",
...                       threshold_bounds=[1.0, 500.0])
>>> reference = np.random.default_rng(0).normal(size=5000)
>>> out = calibrate_by_run_length(build_factory(spec), reference, 200.0, spec, n_values=4000)
>>> out.measured_arl0 >= 200.0
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from driftline.detectors import detector_class
from driftline.detectors.calibration import (
    OutOfReachError,
    calibrate_threshold,
    moving_block_bootstrap,
    search_alarm_rate,
)
from driftline.evaluation.adapters import DriftlineDetector, StreamDetector, run_with_restarts
from driftline.evaluation.config import CalibrationConfig, DetectorConfig

__all__ = ["Calibration", "calibrate_by_run_length", "calibrate_detector"]


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold, how it was found and the ARL0 measured at it."""

    threshold: float
    method: str
    target_arl0: float
    measured_arl0: float
    n_values: int
    at_bound: bool = False


def _to_param(u: float, spec: DetectorConfig) -> float:
    value = 10.0 ** u if spec.threshold_scale == "log" else u
    return float(round(value)) if spec.threshold_integer else value


def _from_param(value: float, spec: DetectorConfig) -> float:
    return math.log10(value) if spec.threshold_scale == "log" else value


def calibrate_by_run_length(
    factory: Callable[[float | None], StreamDetector], reference: np.ndarray, target_arl0: float,
    spec: DetectorConfig, *, n_values: int | None = None, iterations: int = 14, seed: int = 0,
    stream_length: int | None = None,
) -> Calibration:
    """Bisect ``spec.threshold_param`` until the measured ARL0 reaches ``target_arl0``.

    ``n_values`` bootstrap values (default ``20 * target_arl0``) are split into streams of
    ``stream_length`` values (``None``: one stream), each run from a fresh detector.
    Raises ``ValueError`` (naming the parameter) when even the most conservative bound alarms
    more often than the target.
    """
    n = int(n_values if n_values is not None else 20 * target_arl0)
    values = moving_block_bootstrap(np.asarray(reference, dtype=np.float64), n, 1,
                                    np.random.default_rng(seed))
    step = n if stream_length is None else max(1, int(stream_length))
    streams = [values[i : i + step] for i in range(0, n, step)]

    def alarms(u: float) -> int:
        param = _to_param(u, spec)
        return sum(len(run_with_restarts(lambda: factory(param), s)) for s in streams)

    def arl(count: int) -> float:
        return n / count if count else math.inf

    low, high = (_from_param(b, spec) for b in spec.threshold_bounds)
    safe, risky = (high, low) if spec.threshold_increasing else (low, high)
    try:
        found = search_alarm_rate(alarms, lambda count: arl(count) >= target_arl0, safe, risky,
                                  iterations)
    except OutOfReachError as exc:
        raise ValueError(
            f"{spec.label}: {spec.threshold_param}={_to_param(safe, spec)} (the conservative end "
            f"of threshold_bounds) gives a measured ARL0 of {arl(exc.alarms):.1f} < {target_arl0}"
        ) from None
    safe, best_arl, at_bound = found.value, arl(found.alarms), found.at_bound
    return Calibration(threshold=_to_param(safe, spec), method="bisection on measured run length",
                       target_arl0=target_arl0, measured_arl0=best_arl, n_values=n,
                       at_bound=at_bound)


def _by_statistic_path(spec: DetectorConfig) -> bool:
    alarm = detector_class(spec.name).alarm
    return spec.threshold_param == alarm.name and alarm.method == "statistic_path"


def calibrate_detector(
    spec: DetectorConfig, factory: Callable[[float | None], StreamDetector],
    reference: np.ndarray, target_arl0: float, config: CalibrationConfig,
) -> Calibration:
    """Calibrate one detector with the procedure that fits it (module docstring)."""
    if spec.library == "driftline" and _by_statistic_path(spec):
        probe = factory(None)
        if isinstance(probe, DriftlineDetector) and "statistic" in probe.detector.statistics:
            def make(threshold: float) -> object:
                wrapped = factory(threshold)
                assert isinstance(wrapped, DriftlineDetector)
                return wrapped.detector
            result = calibrate_threshold(
                make, reference, target_arl0,  # type: ignore[arg-type]
                threshold_bounds=(spec.threshold_bounds[0], spec.threshold_bounds[1]),
                n_streams=config.n_streams, random_state=config.seed,
                verify_length=int(config.run_length_factor * target_arl0),
            )
            return Calibration(threshold=result.threshold,
                               method="driftline.detectors.calibration.calibrate_threshold",
                               target_arl0=target_arl0, measured_arl0=result.measured_arl0,
                               n_values=result.samples_simulated,
                               at_bound=result.threshold <= spec.threshold_bounds[0])
    factor = spec.run_length_factor or config.run_length_factor
    return calibrate_by_run_length(
        factory, reference, target_arl0, spec,
        n_values=int(factor * target_arl0), iterations=config.iterations,
        seed=config.seed, stream_length=config.stream_length or int(3 * target_arl0),
    )
