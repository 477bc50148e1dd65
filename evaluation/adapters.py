"""One interface over driftline, river and scikit-multiflow detectors for the evaluation runner.

Every detector is wrapped as a :class:`StreamDetector`: ``update_many(values)`` returns the
positions where drift fired and ``statistic()`` / ``threshold()`` read the current test statistic
(NaN when the library does not expose one). The runner restarts a fresh detector after every
detection (:func:`run_with_restarts`), so each library starts from the same clean state after an
alarm whatever its own post-drift behaviour.

:func:`build_factory` turns a :class:`evaluation.config.DetectorConfig` and a reference sample
into a ``factory(threshold)`` that builds a fresh wrapped detector with the threshold parameter
(``threshold_param``) set to ``threshold`` (``None``: the configured value or the library
default). scikit-multiflow is optional (it does not ``pip install`` on Python 3.11;
:mod:`evaluation.install_skmultiflow` builds it): when it does not import, :func:`build_factory`
raises :class:`DetectorUnavailableError` saying so and how to install it, and the runner reports
the detector as skipped. :func:`library_version` says which reference libraries are here.

Example
-------
>>> import numpy as np
>>> from driftline.evaluation.adapters import RiverDetector, run_with_restarts
>>> from river.drift import PageHinkley
>>> values = np.r_[np.zeros(500), np.full(500, 5.0)]
>>> run_with_restarts(lambda: RiverDetector(PageHinkley(threshold=20.0)), values)[:1]
[504]
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from driftline.detectors import detector_class, make_detector
from driftline.detectors.base import DriftDetector
from driftline.evaluation.baselines import AlwaysFire
from driftline.evaluation.config import DetectorConfig

__all__ = [
    "DetectorUnavailableError",
    "DriftlineDetector",
    "RiverDetector",
    "SkmultiflowDetector",
    "StreamDetector",
    "build_factory",
    "library_version",
    "reference_params",
    "run_with_restarts",
]

#: river class paths by the names used in configs
RIVER_CLASSES: dict[str, str] = {
    "PageHinkley": "river.drift:PageHinkley",
    "KSWIN": "river.drift:KSWIN",
    "ADWIN": "river.drift:ADWIN",
    "DDM": "river.drift.binary:DDM",
    "EDDM": "river.drift.binary:EDDM",
    "HDDMA": "river.drift.binary:HDDMA",
    "HDDM_A": "river.drift.binary:HDDMA",
}

#: scikit-multiflow's drift detectors (classes of ``skmultiflow.drift_detection``)
SKMULTIFLOW_CLASSES: tuple[str, ...] = (
    "PageHinkley", "ADWIN", "DDM", "EDDM", "HDDM_A", "HDDM_W", "KSWIN")

#: how to get scikit-multiflow, quoted when it is missing or broken
SKMULTIFLOW_INSTALL = ("`make skmultiflow` (= python -m driftline.evaluation.install_skmultiflow; "
                       "docs/skmultiflow.md)")


#: values fed to a fresh detector in its first ``update_many`` call (see run_with_restarts)
_FIRST_CHUNK = 32


class DetectorUnavailableError(RuntimeError):
    """A configured detector cannot be built here (library missing, unknown name)."""


class StreamDetector(Protocol):
    """What the runner needs from a detector."""

    def update_many(self, values: np.ndarray) -> np.ndarray: ...

    def statistic(self) -> float: ...

    def threshold(self) -> float: ...


class DriftlineDetector:
    """A :class:`detectors.base.DriftDetector` behind the :class:`StreamDetector` interface."""

    def __init__(self, detector: DriftDetector | AlwaysFire) -> None:
        self.detector = detector

    def update_many(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector.update_many(values), dtype=np.int64)

    def statistic(self) -> float:
        stats = self.detector.statistics
        return float(stats.get("statistic", math.nan)) if stats.get("ready", 1.0) else math.nan

    def threshold(self) -> float:
        return float(self.detector.statistics.get("threshold", math.nan))


class RiverDetector:
    """A river detector fed value by value (``update(x)``, then ``drift_detected``).

    river exposes no common test statistic, so :meth:`statistic` is NaN.
    """

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def update_many(self, values: np.ndarray) -> np.ndarray:
        fired: list[int] = []
        det = self.detector
        for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
            det.update(x)
            if det.drift_detected:
                fired.append(i)
        return np.asarray(fired, dtype=np.int64)

    def statistic(self) -> float:
        return math.nan

    def threshold(self) -> float:
        return math.nan


class SkmultiflowDetector:
    """A scikit-multiflow detector fed value by value: ``add_element(x)``, then
    ``detected_change()`` exactly once per value (ADWIN runs its test inside that call).

    Its KSWIN draws from numpy's global random state. With ``seed`` the detector gets a state of
    its own, ``RandomState(seed)``, swapped in around each :meth:`update_many`: the detections
    are those of a detector created right after ``np.random.seed(seed)``, whatever else uses the
    global state (or the values a restart feeds twice, see :func:`run_with_restarts`).
    :meth:`statistic` is NaN, as for river.
    """

    def __init__(self, detector: Any, *, seed: int | None = None) -> None:
        self.detector = detector
        self._random_state = (None if seed is None
                              else np.random.RandomState(seed).get_state(legacy=False))

    def update_many(self, values: np.ndarray) -> np.ndarray:
        fired: list[int] = []
        det = self.detector
        outside = None
        if self._random_state is not None:
            outside = np.random.get_state(legacy=False)
            np.random.set_state(self._random_state)
        try:
            for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
                det.add_element(x)
                if det.detected_change():
                    fired.append(i)
        finally:
            if outside is not None:
                self._random_state = np.random.get_state(legacy=False)
                np.random.set_state(outside)
        return np.asarray(fired, dtype=np.int64)

    def statistic(self) -> float:
        return math.nan

    def threshold(self) -> float:
        return math.nan


def run_with_restarts(
    factory: Callable[[], StreamDetector], values: np.ndarray, *, chunk_size: int = 2048,
    trace: dict[str, list[float]] | None = None,
) -> list[int]:
    """Detections of ``factory()`` on ``values``, a fresh detector after each detection.

    Values go through ``update_many`` in chunks (from :data:`_FIRST_CHUNK` values after each
    restart, doubling up to ``chunk_size``); after a detection the stream resumes at the
    next value with a new detector. With ``trace`` (a dict of lists) the statistic and threshold
    after every value are appended to ``trace["statistic"]`` / ``trace["threshold"]``; that
    needs one call per value and is meant for figures only.
    """
    values = np.asarray(values, dtype=np.float64)
    detections: list[int] = []
    det = factory()
    if trace is not None:
        for i in range(len(values)):
            fired = len(det.update_many(values[i : i + 1])) > 0
            trace.setdefault("statistic", []).append(det.statistic())
            trace.setdefault("threshold", []).append(det.threshold())
            if fired:
                detections.append(i)
                det = factory()
        return detections
    # A chunk is processed whole even when the detector fires early in it, and the values after
    # the alarm are fed again to the fresh detector; starting small after each restart and
    # doubling bounds that wasted work by about the work done, even when alarms come every few
    # dozen values (low thresholds while calibrating, duplicates after a change).
    pos = 0
    size = min(_FIRST_CHUNK, chunk_size)
    while pos < len(values):
        chunk = values[pos : pos + size]
        fired = det.update_many(chunk)
        if len(fired) == 0:
            pos += len(chunk)
            size = min(2 * size, chunk_size)
            continue
        hit = pos + int(fired[0])
        detections.append(hit)
        pos = hit + 1
        det = factory()
        size = min(_FIRST_CHUNK, chunk_size)
    return detections


def reference_params(name: str, reference: np.ndarray, n_reference: int) -> dict[str, Any]:
    """Parameters a driftline detector takes from the pre-change reference sample (its declared
    :meth:`detectors.base.DriftDetector.reference_params`).

    A detector that keeps a reference sample (``incremental_ks``) gets its first
    ``n_reference`` values; one pinned to the reference's moments (``page_hinkley``) gets them
    from the whole sample.
    """
    cls = detector_class(name)
    return cls.reference_params(reference[:n_reference] if cls.needs_reference else reference)


def _import(target: str) -> Any:
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _skmultiflow_module() -> Any:
    """``skmultiflow.drift_detection``, or :class:`DetectorUnavailableError` saying why not."""
    try:
        return importlib.import_module("skmultiflow.drift_detection")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "skmultiflow":
            raise DetectorUnavailableError(
                f"scikit-multiflow is installed but its dependency {exc.name!r} is missing; "
                f"install them with {SKMULTIFLOW_INSTALL}") from None
        raise DetectorUnavailableError(
            "scikit-multiflow is not installed (it does not pip install on Python 3.11); build "
            f"and install it with {SKMULTIFLOW_INSTALL}") from None
    except Exception as exc:  # an unpatched build fails with AttributeError, TypeError, ...
        raise DetectorUnavailableError(
            f"scikit-multiflow is installed but does not import ({type(exc).__name__}: {exc}); "
            f"rebuild it with {SKMULTIFLOW_INSTALL}") from None


def library_version(library: str) -> str:
    """Version of the reference library ``library`` (``river`` or ``skmultiflow``).

    Raises :class:`DetectorUnavailableError` with the reason and the install hint when it does
    not import.
    """
    if library == "skmultiflow":
        _skmultiflow_module()
        return str(importlib.import_module("skmultiflow").__version__)
    if library == "river":
        try:
            return str(importlib.import_module("river").__version__)
        except ImportError as exc:
            raise DetectorUnavailableError(f"river is not installed ({exc})") from None
    raise ValueError(f"library: expected 'river' or 'skmultiflow', got {library!r}")


def _skmultiflow_factory(
    spec: DetectorConfig, with_threshold: Callable[[float | None], dict[str, Any]],
) -> Callable[[float | None], StreamDetector]:
    """Factory for a scikit-multiflow detector.

    Parameters go to the constructor; the upper-case class constants a class reads instead of
    taking arguments (EDDM's ``FDDM_OUTCONTROL`` / ``FDDM_WARNING``) are set on the instance;
    ``seed`` seeds the adapter's random state (:class:`SkmultiflowDetector`).
    """
    if spec.name not in SKMULTIFLOW_CLASSES:
        raise DetectorUnavailableError(f"{spec.label}: unknown skmultiflow detector "
                                       f"{spec.name!r}; known: {sorted(SKMULTIFLOW_CLASSES)}")
    try:
        cls = getattr(_skmultiflow_module(), spec.name)
    except DetectorUnavailableError as exc:
        raise DetectorUnavailableError(f"{spec.label}: {exc}; skipped") from None
    arguments = set(inspect.signature(cls).parameters)
    constants = {name for name in dir(cls) if name.isupper()}
    if spec.threshold_param is not None and spec.threshold_param not in arguments | constants:
        raise DetectorUnavailableError(
            f"{spec.label}: threshold_param {spec.threshold_param!r} is not a parameter of "
            f"skmultiflow {spec.name}; it takes {sorted(arguments)} and the class constants "
            f"{sorted(constants)}")

    def make(threshold: float | None) -> StreamDetector:
        params = with_threshold(threshold)
        seed = params.pop("seed", None)
        unknown = sorted(set(params) - arguments - constants)
        if unknown:
            raise ValueError(f"skmultiflow {spec.name} has no parameter {unknown}; it takes "
                             f"{sorted(arguments)} and the class constants {sorted(constants)}")
        detector = cls(**{k: v for k, v in params.items() if k in arguments})
        for name, value in params.items():
            if name not in arguments:
                setattr(detector, name, value)
        return SkmultiflowDetector(detector, seed=seed)

    try:
        make(None)
    except (ValueError, TypeError) as exc:
        raise DetectorUnavailableError(f"{spec.label}: {type(exc).__name__}: {exc}") from None
    return make


def build_factory(
    spec: DetectorConfig, reference: np.ndarray | None = None
) -> Callable[[float | None], StreamDetector]:
    """``factory(threshold)`` building a fresh wrapped detector for ``spec``.

    ``threshold=None`` keeps the configured parameters (library defaults for the rest).
    Raises :class:`DetectorUnavailableError` when the detector cannot be built here.
    """
    params = dict(spec.params)

    def with_threshold(threshold: float | None) -> dict[str, Any]:
        out = dict(params)
        if threshold is not None:
            if spec.threshold_param is None:
                raise ValueError(f"detector {spec.label!r} has no threshold_param to set")
            out[spec.threshold_param] = int(threshold) if spec.threshold_integer else threshold
        return out

    if spec.library == "baseline":
        def make_baseline(threshold: float | None) -> StreamDetector:
            return DriftlineDetector(AlwaysFire())
        return make_baseline

    if spec.library == "driftline":
        if spec.use_reference:
            if reference is None:
                raise ValueError(f"detector {spec.label!r} needs a reference sample")
            params.update(reference_params(spec.name, reference, spec.n_reference))
        try:
            make_detector(spec.name, **with_threshold(None))
        except (ImportError, ValueError, TypeError) as exc:
            raise DetectorUnavailableError(f"{spec.label}: {type(exc).__name__}: {exc}") from None

        def make_ours(threshold: float | None) -> StreamDetector:
            return DriftlineDetector(make_detector(spec.name, **with_threshold(threshold)))
        return make_ours

    if spec.library == "skmultiflow":
        return _skmultiflow_factory(spec, with_threshold)

    if spec.name not in RIVER_CLASSES:
        raise DetectorUnavailableError(f"{spec.label}: unknown river detector {spec.name!r}; "
                                       f"known: {sorted(RIVER_CLASSES)}")
    try:
        cls = _import(RIVER_CLASSES[spec.name])
    except ImportError as exc:
        raise DetectorUnavailableError(f"{spec.label}: river is not installed ({exc}); "
                                       "skipped") from None
    try:
        cls(**with_threshold(None))
    except (ValueError, TypeError) as exc:
        raise DetectorUnavailableError(f"{spec.label}: {type(exc).__name__}: {exc}") from None

    def make_river(threshold: float | None) -> StreamDetector:
        return RiverDetector(cls(**with_threshold(threshold)))
    return make_river
