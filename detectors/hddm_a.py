"""HDDM_A: drift detection with Hoeffding bounds on moving averages (A-test).

With ``z`` the mean of all values since the last restart and ``x_min`` (``x_max``) a frozen
copy of ``z`` taken where ``mean + eps(n)`` was smallest (``mean - eps(n)`` largest),
``eps(n) = sqrt(ln(1 / drift_confidence) / (2 n))``, the increase test fires at confidence
``c`` when

    z - x_min >= sqrt(m / 2 * ln(2 / c)),    m = (n_z - n_min) / (n_min * n_z)

(Hoeffding's inequality for the difference of two means of [0, 1] values). Drift is the test at
``drift_confidence``, warning the test at ``warning_confidence``; with ``two_sided=True`` the
decrease test (``x_max - z``) is applied too. After a drift the detector restarts at the next
value. This is the definition (after MOA) of ``river.drift.binary.HDDMA``, whose detections this
module reproduces on 0/1 streams, including its running-mean arithmetic.

Input kinds
-----------
``kind="binary"``: 0/1 errors (other values raise ``ValueError`` naming them).
``kind="real"``: real-valued errors; Hoeffding's bound needs bounded values, so each value is
clipped to ``bounds=(low, high)`` and mapped linearly onto [0, 1] (the range R = high - low);
pick ``high`` as a high quantile of the reference errors. Statistics are in that [0, 1] scale.

References
----------
I. Frías-Blanco, J. del Campo-Ávila, G. Ramos-Jiménez, R. Morales-Bueno, A. Ortiz-Díaz,
Y. Caballero-Mota, "Online and non-parametric drift detection methods based on Hoeffding's
bounds", IEEE Transactions on Knowledge and Data Engineering 27(3) (2015) 810-823.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.hddm_a import HDDMA
>>> rng = np.random.default_rng(2)
>>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(1000) < 0.4]).astype(float)
>>> [int(i) for i in HDDMA().update_many(errors)]
[2140]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from driftline.detectors._bounded import check_bounds, scale
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import DriftDetector, check_bool, check_probability
from driftline.detectors.inputs import BINARY, REAL

__all__ = ["HDDMA"]


class HDDMA(DriftDetector):
    """HDDM with the A-test (see module docstring).

    Parameters
    ----------
    drift_confidence
        Significance of the drift test, in (0, 1).
    warning_confidence
        Significance of the warning test, in (0, 1); >= ``drift_confidence``.
    two_sided
        Also detect decreases of the mean.
    kind
        ``"binary"`` or ``"real"``.
    bounds
        ``(low, high)`` range of real-valued errors (``kind="real"``); values are clipped to it.
    on_nonfinite
        ``"raise"`` or ``"skip"`` (see :class:`detectors.base.DriftDetector`).
    """

    name = "hddm_a"
    alarm = AlarmParameter("drift_confidence", fewer_alarms="lower", bounds=(-4.5, -1.0),
                           log_scale=True, warning="warning_confidence", method="fresh_streams",
                           iterations=4, alarms=5, per_value_level=True)
    input_kinds = (BINARY, REAL)
    test_params = ({}, {"two_sided": True},
                   {"kind": "real", "bounds": (-4.0, 4.0), "drift_confidence": 0.004})

    def __init__(
        self, drift_confidence: float = 0.001, warning_confidence: float = 0.005,
        two_sided: bool = False, *, kind: str = "binary",
        bounds: tuple[float, float] = (0.0, 1.0), on_nonfinite: str = "raise",
    ) -> None:
        self.drift_confidence = check_probability("drift_confidence", drift_confidence)
        self.warning_confidence = check_probability("warning_confidence", warning_confidence)
        if self.warning_confidence < self.drift_confidence:
            raise ValueError(f"warning_confidence must be >= drift_confidence "
                             f"({self.drift_confidence}), got {self.warning_confidence}")
        self.two_sided = check_bool("two_sided", two_sided)
        self.kind = self.check_kind(kind)
        self.bounds = check_bounds(bounds)
        super().__init__(on_nonfinite)

    def _reset_state(self) -> None:
        # (n, mean) of the whole window, of the cut for increases and of the cut for decreases
        self._z = [0, 0.0]
        self._lo = [0, 0.0]
        self._hi = [0, 0.0]
        self._pending = False

    @staticmethod
    def _bound(n: int, log_term: float) -> float:
        return math.sqrt(1.0 / (2 * n) * log_term)

    @staticmethod
    def _gap_bound(n_cut: int, n_z: int, confidence: float) -> float:
        m = (n_z - n_cut) / n_cut * (1.0 / n_z)
        return math.sqrt(m / 2 * math.log(2.0 / confidence))

    def _update_one(self, x: float) -> None:
        if self._pending:
            self._reset_state()
        if self.kind == "real":
            x = scale(x, self.bounds)
        z = self._z
        z[0] += 1
        z[1] += (1.0 / z[0]) * (x - z[1])
        if self._lo[0] == 0:
            self._lo = list(z)
        if self._hi[0] == 0:
            self._hi = list(z)
        log_term = math.log(1.0 / self.drift_confidence)
        eps_z = self._bound(z[0], log_term)
        if self._lo[1] + self._bound(self._lo[0], log_term) >= z[1] + eps_z:
            self._lo = list(z)
        if self._hi[1] - self._bound(self._hi[0], log_term) <= z[1] - eps_z:
            self._hi = list(z)
        self._drift = self._warning = False
        if self._increase(self.drift_confidence):
            self._drift = True
        elif self._increase(self.warning_confidence):
            self._warning = True
        if self.two_sided:
            if self._decrease(self.drift_confidence):
                self._drift = True
            elif self._decrease(self.warning_confidence):
                self._warning = True
        self._pending = self._drift

    def _increase(self, confidence: float) -> bool:
        n_cut, mean_cut = self._lo
        if n_cut == self._z[0]:
            return False
        return self._z[1] - mean_cut >= self._gap_bound(n_cut, self._z[0], confidence)

    def _decrease(self, confidence: float) -> bool:
        n_cut, mean_cut = self._hi
        if n_cut == self._z[0]:
            return False
        return mean_cut - self._z[1] >= self._gap_bound(n_cut, self._z[0], confidence)

    def _statistics(self) -> dict[str, float]:
        nan = float("nan")
        n_z, mean = self._z
        stats = {"statistic": nan, "threshold": nan, "warning_threshold": nan,
                 "mean": mean if n_z else nan, "error_rate": mean if n_z else nan,
                 "n_window": float(n_z), "cut_mean": self._lo[1] if n_z else nan}
        if n_z and self._lo[0] < n_z:
            stats["statistic"] = mean - self._lo[1]
            stats["threshold"] = self._gap_bound(self._lo[0], n_z, self.drift_confidence)
            stats["warning_threshold"] = self._gap_bound(self._lo[0], n_z,
                                                         self.warning_confidence)
        return stats

    def _get_state(self) -> dict[str, Any]:
        return {"z": list(self._z), "lo": list(self._lo), "hi": list(self._hi),
                "pending": self._pending}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._z = [int(state["z"][0]), float(state["z"][1])]
        self._lo = [int(state["lo"][0]), float(state["lo"][1])]
        self._hi = [int(state["hi"][0]), float(state["hi"][1])]
        self._pending = bool(state["pending"])
