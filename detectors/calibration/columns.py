"""Calibrating a bank of columns (one detector per column) to a family target ARL0.

The method is the one the detector class declares (``cls.alarm.method``), looked up in
:data:`METHODS`; a new method (a closed form, a tail extrapolation, ...) is one function
registered there. Methods take a :class:`ColumnRequest` and return a :class:`ColumnCalibration`
from which :meth:`ColumnCalibration.bank` builds the bank:

* ``"statistic_path"`` (thresholds on a statistic): each of the ``k`` columns gets its own
  threshold at ``k * target_arl0`` (Bonferroni split of the false-alarm rate) with
  :func:`detectors.calibration.threshold.calibrate_threshold`. Production compares against a
  *fixed* reference whose moments are themselves estimates, so every simulated stream's detector
  takes its reference parameters (:meth:`detectors.base.DriftDetector.reference_params`) from its
  own bootstrap resample of the column (a double bootstrap); without that, thresholds come out
  too low. A constant column gets an infinite threshold.
* ``"ks_family"`` (significance levels of KS tests): the bank is Bonferroni-corrected across the
  columns at one family level (:func:`detectors.calibration.ks_family.ks_family_alpha`; option
  ``calibration``: ``"bound"`` or ``"bootstrap"``, ``stride`` for the latter).

Results are cached per process and travel as JSON (:meth:`ColumnCalibration.to_json`), so a
restored pipeline does not recalibrate.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.columns import ColumnRequest, calibrate_columns
>>> from driftline.detectors.incremental_ks import IncrementalKS
>>> reference = np.random.default_rng(0).normal(size=(300, 2))
>>> result = calibrate_columns(ColumnRequest(IncrementalKS, reference, 20_000.0,
...                                          {"window_size": 100}, n_streams=2, seed=0))
>>> result.to_json()
{'alarm': 'alpha', 'values': [5e-05], 'correction': 'bonferroni'}
>>> result.bank(IncrementalKS, ["a", "b"], reference, {"window_size": 100}).correction
'bonferroni'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import DriftDetector
from driftline.detectors.calibration.cache import cache_key
from driftline.detectors.calibration.ks_family import ks_family_alpha
from driftline.detectors.calibration.threshold import calibrate_threshold

__all__ = ["METHODS", "ColumnCalibration", "ColumnRequest", "calibrate_columns"]

_CACHE: dict[str, list[float]] = {}


@dataclass(frozen=True)
class ColumnRequest:
    """What to calibrate: detector class, reference columns ``(n_ref, k)``, the bank's target,
    the fixed constructor parameters, the simulation budget and method-specific options."""

    detector: type[DriftDetector]
    reference: np.ndarray
    target_arl0: float
    params: Mapping[str, Any]
    n_streams: int
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnCalibration:
    """Alarm values of a bank: one per column, or (with ``correction``) one family level."""

    alarm: str
    values: list[float]
    correction: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"alarm": self.alarm, "values": list(self.values), "correction": self.correction}

    @classmethod
    def from_json(cls, data: Any) -> ColumnCalibration:
        """Parse :meth:`to_json` output; ``ValueError`` for anything else (e.g. an older
        format, so that callers recalibrate)."""
        if not isinstance(data, Mapping) or set(data) != {"alarm", "values", "correction"}:
            raise ValueError(f"not a column calibration: {data!r}")
        return cls(str(data["alarm"]), [float(v) for v in data["values"]], data["correction"])

    def bank(self, detector: type[DriftDetector], names: Sequence[str], reference: np.ndarray,
             params: Mapping[str, Any]) -> DetectorBank:
        """The bank over ``reference``'s columns with these alarm values."""
        per_column = detector.reference_params(np.asarray(reference, dtype=np.float64))

        def build(j: int, **extra: Any) -> DriftDetector:
            taken = {k: v.take(j, axis=-1) if isinstance(v, np.ndarray) else v
                     for k, v in per_column.items()}
            return detector(**params, **taken, **extra)

        if self.correction is None:
            return DetectorBank(names, [build(j, **{self.alarm: v})
                                        for j, v in enumerate(self.values)])
        level = self.values[0]
        # the bank resets its columns itself (see detectors.bank)
        own = {"reset_on_drift": False} if "reset_on_drift" in detector.param_names() else {}
        return DetectorBank(names, [build(j, **{self.alarm: level}, **own)
                                    for j in range(len(names))],
                            correction=self.correction, alpha=level, reset_on_drift=True)


def _statistic_path(request: ColumnRequest) -> ColumnCalibration:
    cls, ref, alarm = request.detector, request.reference, request.detector.alarm
    k = ref.shape[1]
    per_column = float(request.target_arl0) * k
    key = cache_key(ref, cls.name, per_column, sorted(request.params.items()),
                    request.n_streams, request.seed)
    if key not in _CACHE:
        seeds = np.random.SeedSequence(request.seed).spawn(k)
        thresholds = []
        for j in range(k):
            column = ref[:, j]
            rng = np.random.default_rng(seeds[j])
            if float(np.std(column)) == 0.0:
                # a constant reference column: any change is drift, nothing to calibrate
                thresholds.append(math.inf)
                continue
            pinned = cls.reference_params(column)

            def deployment(draw: np.random.Generator, column: np.ndarray = column,
                           pinned: dict[str, Any] = pinned) -> Callable[[float], DriftDetector]:
                sample = column[draw.integers(0, len(column), len(column))]
                own = cls.reference_params(sample, fallback=pinned)
                return lambda threshold: cls(**request.params, **own,
                                             **{alarm.name: threshold})

            result = calibrate_threshold(
                lambda h, pinned=pinned: cls(**request.params, **pinned, **{alarm.name: h}),
                column, per_column, threshold_bounds=alarm.bounds,
                n_streams=request.n_streams, stream_length=max(100, int(1.5 * per_column)),
                verify_length=0, xtol=1e-4, deployment=deployment, random_state=rng)
            thresholds.append(float(result.threshold))
        _CACHE[key] = thresholds
    return ColumnCalibration(alarm.name, list(_CACHE[key]))


def _ks_family(request: ColumnRequest) -> ColumnCalibration:
    options = request.options
    level = ks_family_alpha(request.reference, int(request.params["window_size"]),
                            request.target_arl0, str(options.get("calibration", "bound")),
                            n_streams=request.n_streams, stride=int(options.get("stride", 1)),
                            seed=request.seed)
    return ColumnCalibration(request.detector.alarm.name, [level], "bonferroni")


#: column calibration methods by the name detectors declare in ``alarm.method``
METHODS: dict[str, Callable[[ColumnRequest], ColumnCalibration]] = {
    "statistic_path": _statistic_path,
    "ks_family": _ks_family,
}


def calibrate_columns(request: ColumnRequest) -> ColumnCalibration:
    """Calibrate ``request.detector`` on the columns of ``request.reference`` by its method."""
    method = request.detector.alarm.method
    if method not in METHODS:
        raise ValueError(f"{request.detector.__name__} declares the calibration method "
                         f"{method!r}, which calibrates no bank of columns; known: "
                         f"{sorted(METHODS)}")
    reference = np.asarray(request.reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {reference.shape}")
    return METHODS[method](ColumnRequest(request.detector, reference, request.target_arl0,
                                         dict(request.params), request.n_streams, request.seed,
                                         dict(request.options)))
