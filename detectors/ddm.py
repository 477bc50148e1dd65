"""Drift Detection Method (DDM) on a stream of model errors.

After each value the detector estimates the error rate ``p_i`` and its standard error ``s_i``
from the values since the last restart, and keeps ``(p_min, s_min)`` taken where ``p_i + s_i``
was smallest (ties: the latest). Once more than ``warm_start`` values were seen:

* warning when ``p_i + s_i > p_min + warning_threshold * s_min``;
* drift when ``p_i + s_i > p_min + drift_threshold * s_min`` (the warning is then cleared).

After a drift the detector restarts at the next value (that value is the first of the new
window), exactly like ``river.drift.binary.DDM``, whose detections this module reproduces on
0/1 streams.

Input kinds
-----------
``kind="binary"``: 0/1 errors (any other value raises ``ValueError`` naming it);
``p_i = k / n``, ``s_i = sqrt(p_i (1 - p_i) / n)`` (Bernoulli).

``kind="real"``: real-valued errors (absolute or squared error, ...) under a normal
approximation of the mean: ``p_i`` is the running mean of the values and
``s_i = sqrt(v_i / n)`` with ``v_i`` their running population variance (computed from sums of
``x - x_first``, ``x_first`` the first value since the restart). On 0/1 values ``v_i`` equals
``p_i (1 - p_i)``, so both kinds agree there.

:meth:`DDM.update_many` runs the vectorised kernel (:mod:`detectors._kernels.ddm`: cumulative
sums and a running minimum between detections), equal bit for bit to the per-value loop.

References
----------
J. Gama, P. Medas, G. Castillo, P. Rodrigues, "Learning with drift detection", SBIA 2004,
LNCS 3171, 286-295.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.ddm import DDM
>>> rng = np.random.default_rng(7)
>>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(1000) < 0.4]).astype(float)
>>> ddm = DDM()
>>> hits = ddm.update_many(errors)
>>> bool(len(hits)) and 2000 <= int(hits[0]) < 2200
True
>>> ddm.statistics["error_rate"] > 0.3
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from driftline.detectors._kernels.ddm import KERNEL
from driftline.detectors._kernels.ddm_state import estimate
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import DriftDetector, check_int, check_number
from driftline.detectors.inputs import BINARY, REAL

__all__ = ["DDM"]


class DDM(DriftDetector):
    """Drift Detection Method of Gama et al. (see module docstring).

    Parameters
    ----------
    warm_start
        Values since the last restart before warnings and detections are possible (>= 1).
    warning_threshold
        Warning level, in standard errors above ``p_min`` (default 2).
    drift_threshold
        Drift level, in standard errors above ``p_min`` (default 3; >= ``warning_threshold``).
    kind
        ``"binary"`` (0/1 errors) or ``"real"`` (real-valued errors, normal approximation).
    on_nonfinite
        ``"raise"`` or ``"skip"`` (see :class:`detectors.base.DriftDetector`).
    """

    name = "ddm"
    # a DDM calibrated on one long run alarms mostly right after each (re)start: fresh streams
    alarm = AlarmParameter("drift_threshold", fewer_alarms="higher", bounds=(2.0, 4.5),
                           warning="warning_threshold", method="fresh_streams", iterations=6,
                           alarms=8)
    input_kinds = (BINARY, REAL)
    test_params = ({}, {"kind": "real"},
                   {"warm_start": 100, "warning_threshold": 1.5, "drift_threshold": 2.5})
    kernel = KERNEL

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0,
        drift_threshold: float = 3.0, *, kind: str = "binary", on_nonfinite: str = "raise",
    ) -> None:
        self.warm_start = check_int("warm_start", warm_start, low=1)
        self.warning_threshold = check_number("warning_threshold", warning_threshold, low=0.0)
        self.drift_threshold = check_number("drift_threshold", drift_threshold,
                                            low=self.warning_threshold)
        self.kind = self.check_kind(kind)
        super().__init__(on_nonfinite)

    # Per-value updates run on Python floats (numpy scalars are slow); the kernel does the same
    # IEEE operations on arrays.
    _FIELDS = ("n", "shift", "s1", "s2", "p_min", "s_min", "ps_min", "stat", "pending")

    def _reset_state(self) -> None:
        self._n = 0
        self._shift = self._s1 = self._s2 = self._p_min = self._s_min = self._stat = 0.0
        self._ps_min = math.inf
        self._pending = False

    def _update_one(self, x: float) -> None:
        if self._pending:
            self._reset_state()
        self._n = n = self._n + 1
        if self.kind == "real":
            if n == 1:
                self._shift = x
            d = x - self._shift
            self._s1 += d
            self._s2 += d * d
            mean_d = self._s1 / n
            var = max(self._s2 / n - mean_d * mean_d, 0.0)
            p, s = self._shift + mean_d, math.sqrt(var / n)
        else:
            self._s1 += x
            p = self._s1 / n
            s = math.sqrt(p * (1.0 - p) / n)
        ps = p + s
        self._stat = ps
        drift = False
        if n > self.warm_start:
            if ps <= self._ps_min:
                self._p_min, self._s_min, self._ps_min = p, s, ps
            self._warning = ps > self._p_min + self.warning_threshold * self._s_min
            drift = ps > self._p_min + self.drift_threshold * self._s_min
            if drift:
                self._warning = False
        self._drift = self._pending = drift

    def _statistics(self) -> dict[str, float]:
        n = self._n
        armed = n > self.warm_start
        nan = math.nan
        p, s = estimate(self.kind == "real", self._shift, self._s1, self._s2, float(n)) if n \
            else (nan, nan)
        p_min, s_min = self._p_min, self._s_min
        return {
            "statistic": self._stat if n else nan,
            "threshold": p_min + self.drift_threshold * s_min if armed else nan,
            "warning_threshold": p_min + self.warning_threshold * s_min if armed else nan,
            "error_rate": float(p), "std": float(s),
            "p_min": p_min if armed else nan, "s_min": s_min if armed else nan,
            "n_window": float(n),
        }

    def _get_state(self) -> dict[str, Any]:
        state = {key: getattr(self, f"_{key}") for key in self._FIELDS}
        state["ps_min"] = None if math.isinf(self._ps_min) else self._ps_min
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        for key in self._FIELDS:
            setattr(self, f"_{key}", state[key])
        self._ps_min = math.inf if state["ps_min"] is None else state["ps_min"]
