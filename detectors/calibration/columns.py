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
  own bootstrap resample of the column (a double bootstrap: one resample per simulated
  deployment, whose false alarms over the horizon are counted, so that the expected *rate* over
  resamples meets the target); without that, thresholds come out too low. A constant column
  gets an infinite threshold.
* ``"tail_extrapolation"`` (the same detectors, ARL0s beyond simulation): the same double
  bootstrap, simulated up to ``simulated_arl0`` (option, default 20,000) and extrapolated along
  the fitted tail (:func:`detectors.calibration.tail.extrapolate_threshold`).
* ``"cusum"`` (a pinned two-sided CUSUM with parameters ``delta``, ``direction`` and no
  forgetting: Page-Hinkley): Siegmund's closed form at any ARL0
  (:mod:`detectors.calibration.cusum`), with the tilting root of the column's standardised
  empirical law and its overshoot fitted by simulation (option ``law: "empirical"``, default) or
  the normal form (``law: "normal"``), and the expected rate averaged over the sampling error
  of the pinned mean and std (option ``reference_uncertainty``, default true).
* ``"ks_family"`` (significance levels of KS tests): the bank is Bonferroni-corrected across the
  columns at one family level (:func:`detectors.calibration.ks_family.ks_family_alpha`; option
  ``calibration``: ``"bound"`` or ``"bootstrap"``, ``stride`` for the latter).
* ``"chi_square"`` (levels of chi-square tests of category codes): each column gets its own
  level at ``k * target_arl0`` (:func:`detectors.calibration.chi_square.chi_square_alphas`;
  option ``calibration``: ``"bootstrap"``, the default, or ``"bound"``); the reference columns
  are samples of codes.
* ``"ks_tail"`` (the same bank, any ARL0): the family level from the exact KS tail of each
  column and the effective number of tests of a sliding window
  (:mod:`detectors.calibration.ks_tail`).

A detector declares its default method (``alarm.method``) and the others it supports
(``alarm.methods``); ``options["method"]`` picks one of them (the default method simulates,
which is out of reach at the 10^8-10^10 rows of a budget in time: pick a closed form or an
extrapolation there).

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
from driftline.detectors.calibration.chi_square import chi_square_alphas
from driftline.detectors.calibration.cusum import CusumModel, StandardisedLaw
from driftline.detectors.calibration.cusum_overshoot import fit_overshoot
from driftline.detectors.calibration.ks_family import ks_family_alpha
from driftline.detectors.calibration.ks_tail import ks_tail_alpha
from driftline.detectors.calibration.tail import extrapolate_threshold
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
             params: Mapping[str, Any], **gate: Any) -> DetectorBank:
        """The bank over ``reference``'s columns with these alarm values; ``gate``:
        ``min_effect`` / ``effect_window`` of :class:`detectors.bank.DetectorBank`."""
        per_column = detector.reference_params(np.asarray(reference, dtype=np.float64))

        def build(j: int, **extra: Any) -> DriftDetector:
            taken = {k: v.take(j, axis=-1) if isinstance(v, np.ndarray) else v
                     for k, v in per_column.items()}
            return detector(**params, **taken, **extra)

        if self.correction is None:
            return DetectorBank(names, [build(j, **{self.alarm: v})
                                        for j, v in enumerate(self.values)], **gate)
        level = self.values[0]
        # the bank resets its columns itself (see detectors.bank)
        own = {"reset_on_drift": False} if "reset_on_drift" in detector.param_names() else {}
        return DetectorBank(names, [build(j, **{self.alarm: level}, **own)
                                    for j in range(len(names))],
                            correction=self.correction, alpha=level, reset_on_drift=True,
                            **gate)


Deployment = Callable[[np.random.Generator], Callable[[float], DriftDetector]]
#: a column's calibration: (column, its generator, the detector pinned to it, a deployment
#: drawing its own resample of it, the column's target ARL0) -> alarm value
ColumnSolver = Callable[[np.ndarray, np.random.Generator, Callable[[float], DriftDetector],
                         Deployment, float], float]
#: the most values a simulation method may draw (beyond: a closed form or an extrapolation)
MAX_SIMULATED = 2_000_000_000


def _per_column(request: ColumnRequest, method: str, solve: ColumnSolver) -> list[float]:
    """``solve`` on each column at ``k * target_arl0`` (Bonferroni split), cached; a constant
    column gets an infinite threshold (any change is drift, nothing to calibrate)."""
    cls, ref, alarm = request.detector, request.reference, request.detector.alarm
    k = ref.shape[1]
    per_column = float(request.target_arl0) * k
    key = cache_key(ref, cls.name, per_column, sorted(request.params.items()),
                    request.n_streams, request.seed, method, sorted(request.options.items()))
    if key not in _CACHE:
        seeds = np.random.SeedSequence(request.seed).spawn(k)
        values = []
        for j in range(k):
            column = ref[:, j]
            if float(np.std(column)) == 0.0:
                values.append(math.inf)
                continue
            pinned = cls.reference_params(column)

            def deployment(draw: np.random.Generator, column: np.ndarray = column,
                           pinned: dict[str, Any] = pinned) -> Callable[[float], DriftDetector]:
                sample = column[draw.integers(0, len(column), len(column))]
                own = cls.reference_params(sample, fallback=pinned)
                return lambda value: cls(**request.params, **own, **{alarm.name: value})

            def at(value: float, pinned: dict[str, Any] = pinned) -> DriftDetector:
                return cls(**request.params, **pinned, **{alarm.name: value})

            values.append(float(solve(column, np.random.default_rng(seeds[j]), at, deployment,
                                      per_column)))
        _CACHE[key] = values
    return list(_CACHE[key])


def _statistic_path(request: ColumnRequest) -> ColumnCalibration:
    alarm = request.detector.alarm
    per_column = request.target_arl0 * request.reference.shape[1]
    if 1.5 * per_column * request.n_streams > MAX_SIMULATED:
        raise ValueError(
            f"the statistic_path method would simulate ~{1.5 * per_column * request.n_streams:.2g}"
            f" values per column for target_arl0={request.target_arl0:g}; use one of the methods "
            f"{request.detector.__name__} declares for large targets: {list(alarm.methods)}")

    def solve(column: np.ndarray, rng: np.random.Generator, at: Callable[[float], Any],
              deployment: Deployment, target: float) -> float:
        return calibrate_threshold(
            at, column, target, threshold_bounds=alarm.bounds, n_streams=request.n_streams,
            stream_length=max(100, int(1.5 * target)), verify_length=0, xtol=1e-4,
            deployment=deployment, random_state=rng).threshold

    return ColumnCalibration(alarm.name, _per_column(request, "statistic_path", solve))


def _tail_extrapolation(request: ColumnRequest) -> ColumnCalibration:
    alarm = request.detector.alarm
    simulated = float(request.options.get("simulated_arl0", 20_000.0))

    def solve(column: np.ndarray, rng: np.random.Generator, at: Callable[[float], Any],
              deployment: Deployment, target: float) -> float:
        return extrapolate_threshold(
            at, column, target, threshold_bounds=alarm.bounds, simulated_arl0=simulated,
            n_streams=request.n_streams, deployment=deployment, random_state=rng).threshold

    return ColumnCalibration(alarm.name, _per_column(request, "tail_extrapolation", solve))


def _cusum(request: ColumnRequest) -> ColumnCalibration:
    cls, options = request.detector, request.options
    params = {**cls.param_defaults(), **request.params}
    missing = sorted({"delta", "direction"} - set(params))
    if missing or float(params.get("forgetting", 1.0)) != 1.0:
        raise ValueError(f"the cusum method needs a pinned CUSUM with parameters delta and "
                         f"direction and no forgetting; {cls.__name__} has {sorted(params)}")
    law_kind = str(options.get("law", "empirical"))
    if law_kind not in ("empirical", "normal"):
        raise ValueError(f"option law must be 'empirical' or 'normal', got {law_kind!r}")
    uncertain = bool(options.get("reference_uncertainty", True))
    delta, direction = float(params["delta"]), str(params["direction"])

    def solve(column: np.ndarray, rng: np.random.Generator, at: Callable[[float], Any],
              deployment: Deployment, target: float) -> float:
        law = StandardisedLaw.from_reference(column) if law_kind == "empirical" else None
        overshoot = (fit_overshoot(law, delta, seed=int(rng.integers(2**31)))
                     if law is not None else None)
        return CusumModel(delta, direction, law, len(column) if uncertain else None,
                          overshoot).threshold(target)

    return ColumnCalibration(cls.alarm.name, _per_column(request, "cusum", solve))


def _ks_family(request: ColumnRequest) -> ColumnCalibration:
    options = request.options
    level = ks_family_alpha(request.reference, int(request.params["window_size"]),
                            request.target_arl0, str(options.get("calibration", "bound")),
                            n_streams=request.n_streams, stride=int(options.get("stride", 1)),
                            seed=request.seed)
    return ColumnCalibration(request.detector.alarm.name, [level], "bonferroni")


def _chi_square(request: ColumnRequest) -> ColumnCalibration:
    cls = request.detector
    counts = cls.reference_params(request.reference)["reference"]
    levels = chi_square_alphas(counts, request.target_arl0,
                               {**cls.param_defaults(), **request.params},
                               str(request.options.get("calibration", "bootstrap")),
                               n_streams=request.n_streams, seed=request.seed)
    return ColumnCalibration(cls.alarm.name, levels)


def _ks_tail(request: ColumnRequest) -> ColumnCalibration:
    level = ks_tail_alpha(request.reference, int(request.params["window_size"]),
                          request.target_arl0)
    return ColumnCalibration(request.detector.alarm.name, [level], "bonferroni")


#: column calibration methods by the name detectors declare in ``alarm.method`` /
#: ``alarm.methods``
METHODS: dict[str, Callable[[ColumnRequest], ColumnCalibration]] = {
    "statistic_path": _statistic_path,
    "tail_extrapolation": _tail_extrapolation,
    "cusum": _cusum,
    "ks_family": _ks_family,
    "chi_square": _chi_square,
    "ks_tail": _ks_tail,
}


def calibrate_columns(request: ColumnRequest) -> ColumnCalibration:
    """Calibrate ``request.detector`` on the columns of ``request.reference`` by its declared
    method, or by ``request.options["method"]`` (one the detector declares in
    ``alarm.methods``)."""
    alarm = request.detector.alarm
    method = str(request.options.get("method", alarm.method))
    if method != alarm.method and method not in alarm.methods:
        raise ValueError(f"{request.detector.__name__} does not declare the calibration method "
                         f"{method!r}; it declares {[alarm.method, *alarm.methods]}")
    if method not in METHODS:
        raise ValueError(f"{request.detector.__name__} declares the calibration method "
                         f"{method!r}, which calibrates no bank of columns; known: "
                         f"{sorted(METHODS)}")
    reference = np.asarray(request.reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {reference.shape}")
    options = {k: v for k, v in request.options.items() if k != "method"}
    return METHODS[method](ColumnRequest(request.detector, reference, request.target_arl0,
                                         dict(request.params), request.n_streams, request.seed,
                                         options))
