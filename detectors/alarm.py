"""The alarm parameter a detector declares: which argument sets its false-alarm rate, and how.

The calibration package (:mod:`detectors.calibration`) reads it to pick the calibration method
(``method``, a name in :data:`detectors.calibration.METHODS`), the search range and its
direction; the executor reads it to know which argument a calibration sets.

Examples
--------
>>> from driftline.detectors.alarm import AlarmParameter
>>> alarm = AlarmParameter("drift_threshold", fewer_alarms="higher", bounds=(2.0, 4.5),
...                        warning="warning_threshold", method="fresh_streams")
>>> alarm.conservative
4.5
>>> alarm.apply({"warning_threshold": 3.0}, 2.5, {"warning_threshold": 2.0})
{'warning_threshold': 2.5, 'drift_threshold': 2.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AlarmParameter"]


@dataclass(frozen=True)
class AlarmParameter:
    """The constructor argument that sets a detector's false-alarm rate.

    Attributes
    ----------
    name
        The argument (e.g. ``"threshold"``, ``"alpha"``).
    fewer_alarms
        ``"higher"`` when raising the value lowers the false-alarm rate (a threshold),
        ``"lower"`` when lowering it does (a significance level).
    bounds
        Range searched by calibration, ``(low, high)``; in log10 units when ``log_scale``.
    log_scale
        Search ``bounds`` on a log10 scale.
    warning
        The warning-level argument, kept on the sensitive side of the alarm value (``None``
        for detectors without a warning level).
    method
        Default calibration method (a name in :data:`detectors.calibration.METHODS`).
    methods
        Further calibration methods the detector supports (e.g. a closed form or a tail
        extrapolation for ARL0s too large to simulate); a caller picks one by name.
    iterations, alarms
        Budget of the ``"fresh_streams"`` method: bisection steps, and alarms expected at the
        target over the calibration streams (the measured rate is good to ~1/sqrt of it).
    per_value_level
        The value bounds the probability of a false alarm per value (a significance level
        tested at every value or less often, e.g. ADWIN's ``delta``): ``1 / target`` then
        guarantees an ARL0 of at least ``target`` (union bound), what ``"fresh_streams"``
        uses for targets beyond simulation.
    """

    name: str
    fewer_alarms: Literal["higher", "lower"]
    bounds: tuple[float, float]
    log_scale: bool = False
    warning: str | None = None
    method: str = "statistic_path"
    methods: tuple[str, ...] = ()
    iterations: int = 20
    alarms: int = 30
    per_value_level: bool = False

    def __post_init__(self) -> None:
        if self.fewer_alarms not in ("higher", "lower"):
            raise ValueError(f"fewer_alarms must be 'higher' or 'lower', got {self.fewer_alarms!r}")
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"bounds must satisfy low < high, got {self.bounds!r}")

    @property
    def increasing(self) -> bool:
        """Whether a larger value means fewer false alarms."""
        return self.fewer_alarms == "higher"

    def value(self, u: float) -> float:
        """The parameter value at search coordinate ``u`` (``10 ** u`` on a log scale)."""
        return 10.0 ** u if self.log_scale else u

    @property
    def conservative(self) -> float:
        """The end of ``bounds`` with the fewest false alarms, in parameter units."""
        return self.value(self.bounds[1] if self.increasing else self.bounds[0])

    def apply(self, params: Mapping[str, Any], value: float,
              defaults: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with the alarm at ``value``; the warning level (from ``params`` or
        ``defaults``) moves with it when it would otherwise be less sensitive than the alarm."""
        out = dict(params)
        out[self.name] = value
        if self.warning is not None:
            current = float(params.get(self.warning, defaults[self.warning]))
            out[self.warning] = min(current, value) if self.increasing else max(current, value)
        return out
