"""The one protocol every driftline detector follows.

A detector consumes a stream one value at a time (:meth:`DriftDetector.update`) or a batch at a
time (:meth:`DriftDetector.update_many`, vectorised where the algorithm allows, always the same
result as the loop), exposes ``drift_detected`` / ``warning_detected`` after each step, a flat
``statistics`` dict of floats, and a JSON-able ``state_dict`` from which a fresh instance continues
bit-for-bit like the original.

Constructor conventions follow scikit-learn: ``__init__`` stores and validates its parameters
(errors name the parameter), ``get_params`` returns them, all running state lives in ``_state``
helpers restored by ``load_state_dict``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "DriftDetector",
    "NonFiniteInputError",
    "check_choice",
    "check_int",
    "check_number",
    "check_probability",
]

NONFINITE_POLICIES = ("raise", "skip")


class NonFiniteInputError(ValueError):
    """Raised when a detector with ``on_nonfinite="raise"`` receives NaN or ±inf."""


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_none: bool = False,
) -> float | None:
    """Validate a real parameter and return it as ``float``; the error names the parameter."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}, got {value!r}")
    return value


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer parameter; the error names the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}: {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    """Validate a probability in (0, 1) (or [0, 1] with ``open_interval=False``)."""
    result = check_number(
        name, value, low=0.0, high=1.0, low_inclusive=not open_interval,
        high_inclusive=not open_interval,
    )
    assert result is not None
    return result


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Validate a string parameter against its allowed values."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


class DriftDetector(abc.ABC):
    """Base class of the univariate and multivariate detectors.

    Subclasses implement ``_update_one``, ``_statistics``, ``_reset_state``, ``_get_state`` and
    ``_set_state``; they may override ``_update_batch`` with a vectorised version that must give
    exactly the same detections and final state as the loop.

    Non-finite input follows ``on_nonfinite``: ``"raise"`` (default) raises
    :class:`NonFiniteInputError` before any state changes; ``"skip"`` ignores the value and counts
    it in ``statistics["n_skipped"]``.
    """

    #: registry name, used by :func:`detectors.make_detector` and ``state_dict()["detector"]``
    name: ClassVar[str] = ""
    #: True for detectors whose input is a vector (one row of features) rather than a scalar
    multivariate: ClassVar[bool] = False

    def __init__(self, *, on_nonfinite: str = "raise") -> None:
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES)
        self._drift = False
        self._warning = False
        self._n_seen = 0
        self._n_skipped = 0
        self._n_detections = 0

    # -- parameters ---------------------------------------------------------------------------
    @abc.abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-able), enough to rebuild an identical fresh detector."""

    # -- protocol -----------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """Whether the last update signalled drift."""
        return self._drift

    @property
    def warning_detected(self) -> bool:
        """Whether the last update is in the warning zone (False for detectors without one)."""
        return self._warning

    @property
    def n_seen(self) -> int:
        """Number of values consumed (skipped non-finite values not included)."""
        return self._n_seen

    def update(self, x: Any) -> bool:
        """Consume one value (a vector for multivariate detectors); return ``drift_detected``."""
        value = self._coerce_one(x)
        if value is None:
            self._drift = False
            self._warning = False
            return False
        self._n_seen += 1
        self._update_one(value)
        if self._drift:
            self._n_detections += 1
        return self._drift

    def update_many(self, xs: Any) -> np.ndarray:
        """Consume a batch in order; return the positions (into ``xs``) where drift fired.

        Equivalent to calling :meth:`update` on each element, including the final state and
        ``drift_detected`` / ``warning_detected`` of the last element.
        """
        values, positions = self._coerce_many(xs)
        if len(values) == 0:
            return np.empty(0, dtype=np.int64)
        fired = np.asarray(self._update_batch(values), dtype=np.int64)
        self._n_seen += len(values)
        self._n_detections += len(fired)
        return positions[fired]

    @property
    def statistics(self) -> dict[str, float]:
        """Flat dict of floats: at least ``statistic``, ``threshold``, ``n_seen``."""
        stats = {
            "n_seen": float(self._n_seen),
            "n_skipped": float(self._n_skipped),
            "n_detections": float(self._n_detections),
            "drift": float(self._drift),
            "warning": float(self._warning),
        }
        stats.update({k: float(v) for k, v in self._statistics().items()})
        return stats

    def reset(self) -> None:
        """Forget everything seen; parameters (and pinned references) are kept."""
        self._drift = False
        self._warning = False
        self._n_seen = 0
        self._n_skipped = 0
        self._n_detections = 0
        self._reset_state()

    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot: detector name, parameters and running state."""
        return {
            "detector": self.name,
            "params": self.get_params(),
            "counters": {
                "drift": self._drift,
                "warning": self._warning,
                "n_seen": self._n_seen,
                "n_skipped": self._n_skipped,
                "n_detections": self._n_detections,
            },
            "state": self._get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the detector then continues bit-for-bit."""
        if state.get("detector") != self.name:
            raise ValueError(
                f"state_dict is for detector {state.get('detector')!r}, not {self.name!r}"
            )
        if state.get("params") != self.get_params():
            raise ValueError(
                f"state_dict parameters {state.get('params')!r} differ from this detector's "
                f"{self.get_params()!r}; build the detector with from_state_dict() instead"
            )
        counters = state["counters"]
        self._drift = bool(counters["drift"])
        self._warning = bool(counters["warning"])
        self._n_seen = int(counters["n_seen"])
        self._n_skipped = int(counters["n_skipped"])
        self._n_detections = int(counters["n_detections"])
        self._set_state(state["state"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DriftDetector:
        """Build a detector from its ``state_dict`` (parameters and running state)."""
        detector = cls(**state["params"])
        detector.load_state_dict(state)
        return detector

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                           if not isinstance(v, list))
        return f"{type(self).__name__}({params})"

    # -- input handling -----------------------------------------------------------------------
    def _coerce_one(self, x: Any) -> Any:
        if self.multivariate:
            vec = np.asarray(x, dtype=np.float64)
            if vec.ndim != 1:
                raise ValueError(
                    f"{type(self).__name__}.update expects a 1-D vector, got shape {vec.shape}"
                )
            ok = bool(np.isfinite(vec).all())
        else:
            if isinstance(x, bool | np.bool_):
                x = int(x)
            if not isinstance(x, int | float | np.integer | np.floating):
                raise TypeError(f"{type(self).__name__}.update expects a real number, got "
                                f"{type(x).__name__}: {x!r}")
            vec = float(x)
            ok = math.isfinite(vec)
        if ok:
            return vec
        if self.on_nonfinite == "raise":
            raise NonFiniteInputError(
                f"{type(self).__name__} received a non-finite value {x!r}; pass "
                "on_nonfinite='skip' to ignore such values"
            )
        self._n_skipped += 1
        return None

    def _coerce_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(xs, dtype=np.float64)
        expected_ndim = 2 if self.multivariate else 1
        if arr.ndim != expected_ndim:
            raise ValueError(
                f"{type(self).__name__}.update_many expects a {expected_ndim}-D array, got shape "
                f"{arr.shape}"
            )
        finite = np.isfinite(arr) if arr.ndim == 1 else np.isfinite(arr).all(axis=1)
        positions = np.arange(len(arr), dtype=np.int64)
        if finite.all():
            return arr, positions
        if self.on_nonfinite == "raise":
            bad = int(np.flatnonzero(~finite)[0])
            raise NonFiniteInputError(
                f"{type(self).__name__} received a non-finite value at position {bad}; pass "
                "on_nonfinite='skip' to ignore such values"
            )
        self._n_skipped += int((~finite).sum())
        return arr[finite], positions[finite]

    # -- subclass hooks -----------------------------------------------------------------------
    @abc.abstractmethod
    def _update_one(self, x: Any) -> None:
        """Consume one validated value and set ``self._drift`` / ``self._warning``."""

    def _update_batch(self, values: np.ndarray) -> list[int] | np.ndarray:
        """Consume validated values; return indices into ``values`` where drift fired."""
        fired: list[int] = []
        for i, value in enumerate(values):
            self._update_one(value if self.multivariate else float(value))
            if self._drift:
                fired.append(i)
        return fired

    @abc.abstractmethod
    def _statistics(self) -> dict[str, float]:
        """Detector-specific statistics: must include ``statistic`` and ``threshold``."""

    @abc.abstractmethod
    def _reset_state(self) -> None:
        """Reset the running state (called by ``reset`` and typically by ``__init__``)."""

    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """JSON-able running state (floats round-trip exactly through JSON)."""

    @abc.abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore the running state produced by ``_get_state``."""
