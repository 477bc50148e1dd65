"""The one protocol every driftline detector follows, and what a detector declares.

A detector consumes a stream one value at a time (:meth:`DriftDetector.update`) or a batch at a
time (:meth:`DriftDetector.update_many`, always the same result as the loop), exposes
``drift_detected`` / ``warning_detected`` after each step, a flat ``statistics`` dict of floats,
and a JSON-able ``state_dict`` from which a fresh instance continues bit-for-bit like the
original.

Constructor conventions follow scikit-learn: ``__init__`` stores each parameter under its own
name and validates it (errors name the parameter), then calls ``super().__init__(on_nonfinite)``,
which starts the running state; ``get_params`` is derived from the constructor's signature.

Declarations (class attributes, read by the banks, the calibration package, the executor and the
protocol test ``tests/detectors/test_protocol.py``):

* ``name`` — the registry name (:data:`detectors.REGISTRY`);
* ``alarm`` — the :class:`detectors.alarm.AlarmParameter`: which argument sets the false-alarm
  rate, which way, and how it is calibrated;
* ``input_kinds`` — the :mod:`detectors.inputs` kinds accepted (several: the ``kind`` parameter
  selects one by name);
* ``needs_reference`` — whether the constructor takes a ``reference`` sample;
* ``test_params`` — parameter sets the protocol test runs (each one exercises a path);
* ``kernel`` — an optional vectorised :class:`detectors._kernels.protocol.Kernel`;
* ``effect_name`` — what :meth:`DriftDetector.effect_size` measures (``None``: no effect size),
  the practical size of a change that banks can require before reporting it
  (:mod:`detectors.effect_gate`).

Examples
--------
>>> from driftline.detectors.page_hinkley import PageHinkley
>>> detector = PageHinkley(delta=0.2, threshold=8.0, reference_mean=0.0, reference_std=1.0)
>>> detector.get_params()["threshold"], PageHinkley.alarm.name, PageHinkley.input_kinds[0].name
(8.0, 'threshold', 'real')
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.inputs import REAL, InputKind, NonFiniteInputError

if TYPE_CHECKING:
    from driftline.detectors._kernels.protocol import Kernel

__all__ = [
    "DriftDetector",
    "NonFiniteInputError",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_probability",
    "check_sample",
]

NONFINITE_POLICIES = ("raise", "skip")
_UNSET: Any = object()


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


def check_bool(name: str, value: Any) -> bool:
    """Validate a flag (``bool`` or ``numpy.bool_``); the error names the parameter."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}: {value!r}")
    return bool(value)


def check_sample(name: str, values: Any, ndim: int = 1, min_rows: int = 1) -> np.ndarray:
    """A finite float sample of ``ndim`` dimensions and ``min_rows`` rows; errors name it."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(values).__name__}") \
            from None
    if arr.ndim != ndim or len(arr) < min_rows or (ndim == 2 and arr.shape[1] < 1):
        raise ValueError(f"{name} must be a {ndim}-D sample of at least {min_rows} rows, got "
                         f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values")
    return arr


@functools.cache
def _signature(cls: type) -> tuple[inspect.Parameter, ...]:
    params = inspect.signature(cls.__init__).parameters.values()
    return tuple(p for p in params if p.name != "self"
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


@functools.cache
def _param_names(cls: type) -> tuple[str, ...]:
    return tuple(p.name for p in _signature(cls))


def _plain(value: Any) -> Any:
    """A tuple parameter in its JSON form (a list); other values as they are."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


class DriftDetector(abc.ABC):
    """Base class of the detectors (see the module docstring).

    Subclasses implement ``_update_one``, ``_statistics``, ``_reset_state``, ``_get_state`` and
    ``_set_state``; a declared ``kernel`` (or an override of ``_update_batch``) vectorises
    ``update_many``, which must give exactly the detections and final state of the loop.

    Non-finite input follows ``on_nonfinite``: ``"raise"`` (default) raises
    :class:`NonFiniteInputError` before any state changes; ``"skip"`` ignores the value and counts
    it in ``statistics["n_skipped"]``.
    """

    name: ClassVar[str] = ""
    alarm: ClassVar[AlarmParameter]
    input_kinds: ClassVar[tuple[InputKind, ...]] = (REAL,)
    needs_reference: ClassVar[bool] = False
    test_params: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    kernel: ClassVar[Kernel | None] = None
    effect_name: ClassVar[str | None] = None

    def __init__(self, on_nonfinite: str = "raise") -> None:
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES)
        kinds = self.input_kinds
        self._input = kinds[0] if len(kinds) == 1 else next(
            k for k in kinds if k.name == self.kind)
        self._kernel_config: Any = _UNSET
        self.reset()

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The constructor's parameters, in order."""
        return _param_names(cls)

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """The constructor's defaults (parameters without one are left out)."""
        return {p.name: p.default for p in _signature(cls) if p.default is not p.empty}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-able), enough to rebuild an identical fresh detector."""
        params = {name: getattr(self, name) for name in _param_names(type(self))}
        for name, value in params.items():
            if isinstance(value, tuple):
                params[name] = _plain(value)
        return params

    @classmethod
    def check_kind(cls, kind: Any) -> str:
        """Validate a ``kind`` parameter against the declared input kinds."""
        return check_choice("kind", kind, [k.name for k in cls.input_kinds])

    @classmethod
    def reference_params(cls, reference: np.ndarray,
                         fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Constructor parameters taken from an in-control ``reference`` sample.

        For a 2-D ``reference`` (rows, columns) the last axis of each value runs over the
        columns. ``fallback`` holds the values to use where ``reference`` cannot determine a
        parameter (e.g. a resample without spread). Default: ``reference`` itself when the
        detector needs one, nothing otherwise.
        """
        return {"reference": reference} if cls.needs_reference else {}

    def effect_size(self, window: np.ndarray) -> float:
        """The practical size (``effect_name``) of the change ``window``, the feature's most
        recent values, shows against this detector's reference."""
        raise NotImplementedError(f"{type(self).__name__} declares no effect size")

    @classmethod
    def with_alarm(cls, params: Mapping[str, Any], value: float) -> dict[str, Any]:
        """``params`` with the alarm parameter at ``value`` (see
        :meth:`detectors.alarm.AlarmParameter.apply`)."""
        return cls.alarm.apply(params, value, cls.param_defaults())

    # -- protocol -----------------------------------------------------------------------------
    @property
    def input_kind(self) -> InputKind:
        """The kind of input this detector consumes."""
        return self._input

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
        """Number of values consumed since the last reset (skipped non-finite values not
        included); while it is 0 the running state is the initial one."""
        return self._n_seen

    @property
    def n_skipped(self) -> int:
        """Number of non-finite values skipped since the last reset."""
        return self._n_skipped

    def update(self, x: Any) -> bool:
        """Consume one value (a vector for vector inputs); return ``drift_detected``."""
        value, finite = self._input.coerce_one(type(self).__name__, x)
        if not finite:
            self._raise_nonfinite(f"a non-finite value {x!r}")
            self._n_skipped += 1
            self._drift = self._warning = False
            return False
        self._input.check_one(type(self).__name__, value)
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
        values, positions, last_skipped = self._coerce_many(xs)
        fired = np.empty(0, dtype=np.int64)
        if len(values):
            fired = np.asarray(self._update_batch(values), dtype=np.int64)
            self._n_seen += len(values)
            self._n_detections += len(fired)
        if last_skipped:  # as update() leaves them after a skipped value
            self._drift = self._warning = False
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
        self._drift = self._warning = False
        self._n_seen = self._n_skipped = self._n_detections = 0
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

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the detector then continues bit-for-bit."""
        if state.get("detector") != self.name:
            raise ValueError(
                f"state_dict is for detector {state.get('detector')!r}, not {self.name!r}"
            )
        if state.get("params") != self.get_params():
            raise ValueError(
                f"state_dict parameters differ from this detector's ({self!r}); build the "
                "detector with from_state_dict() instead"
            )
        counters = state["counters"]
        self._drift = bool(counters["drift"])
        self._warning = bool(counters["warning"])
        self._n_seen = int(counters["n_seen"])
        self._n_skipped = int(counters["n_skipped"])
        self._n_detections = int(counters["n_detections"])
        self._set_state(state["state"])

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> DriftDetector:
        """Build a detector from its ``state_dict`` (parameters and running state)."""
        detector = cls(**state["params"])
        detector.load_state_dict(state)
        return detector

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                           if not isinstance(v, list))
        return f"{type(self).__name__}({params})"

    # -- input handling -----------------------------------------------------------------------
    def _raise_nonfinite(self, what: str) -> None:
        if self.on_nonfinite == "raise":
            raise NonFiniteInputError(f"{type(self).__name__} received {what}; pass "
                                      "on_nonfinite='skip' to ignore such values")

    def _coerce_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """Validated finite values, their positions in ``xs``, whether the last was skipped."""
        owner = type(self).__name__
        arr = self._input.coerce_many(owner, xs)
        finite = self._input.finite_mask(arr)
        positions = np.arange(len(arr), dtype=np.int64)
        if finite.all():
            self._input.check(owner, arr)
            return arr, positions, False
        self._raise_nonfinite(f"a non-finite value at position {int(np.argmin(finite))}")
        self._input.check(owner, arr[finite])
        self._n_skipped += int((~finite).sum())
        return arr[finite], positions[finite], not finite[-1]

    # -- batches ------------------------------------------------------------------------------
    def _update_batch(self, values: np.ndarray) -> list[int] | np.ndarray:
        """Consume validated values; return indices into ``values`` where drift fired.

        Through the declared kernel when it has an exact path for this detector, else the loop.
        """
        kernel = type(self).kernel
        if self._kernel_config is _UNSET:
            self._kernel_config = None if kernel is None else kernel.configure([self])
        config = self._kernel_config
        if kernel is None or config is None:
            return self._update_loop(values)
        state = kernel.pack(config, [self._get_state()], np.array([self._drift]),
                            np.array([self._warning]))
        rows, _ = kernel.advance(config, state, values[:, None])
        self._set_state(kernel.unpack(config, state)[0])
        self._drift, self._warning = bool(state.drift[0]), bool(state.warning[0])
        return rows

    def _update_loop(self, values: np.ndarray) -> list[int]:
        fired: list[int] = []
        scalar = self._input.value_ndim == 0
        for i, value in enumerate(values.tolist() if scalar else values):
            self._update_one(value)
            if self._drift:
                fired.append(i)
        return fired

    # -- subclass hooks -----------------------------------------------------------------------
    @abc.abstractmethod
    def _update_one(self, x: Any) -> None:
        """Consume one validated value and set ``self._drift`` / ``self._warning``."""

    @abc.abstractmethod
    def _statistics(self) -> dict[str, float]:
        """Detector-specific statistics: must include ``statistic`` and ``threshold``."""

    @abc.abstractmethod
    def _reset_state(self) -> None:
        """Reset the running state (called by ``reset`` and by ``__init__``)."""

    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """JSON-able running state (floats round-trip exactly through JSON)."""

    @abc.abstractmethod
    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Restore the running state produced by ``_get_state``."""
