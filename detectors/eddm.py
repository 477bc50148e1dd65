"""Early Drift Detection Method (EDDM): the distance between consecutive errors.

Each error (value 1) records its distance (in values) to the previous error; the running mean
``p'`` and standard deviation ``s'`` (``ddof=1``) of these distances give ``p' + 2 s'``, whose
maximum is tracked once more than ``warm_start`` values were seen. When more than ``warm_start``
errors were seen and ``level = (p' + 2 s') / max(p' + 2 s')`` is

* below ``beta``: drift (the detector restarts at the next value);
* below ``alpha``: warning (cleared when the level is back at or above ``alpha``).

The state changes only on errors, as in ``river.drift.binary.EDDM``, whose definition
(including the first distance measured from the start of the window and the running statistics'
arithmetic) this module reproduces: detections coincide on 0/1 streams.

Only ``kind="binary"`` exists: the method is defined on the spacing of discrete error events,
and thresholding real-valued errors into events is a modelling choice left to the caller.

References
----------
M. Baena-García, J. del Campo-Ávila, R. Fidalgo, A. Bifet, R. Gavaldà, R. Morales-Bueno,
"Early drift detection method", 4th Int. Workshop on Knowledge Discovery from Data Streams, 2006.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.eddm import EDDM
>>> rng = np.random.default_rng(1)
>>> errors = np.concatenate([rng.random(3000) < 0.05, rng.random(2000) < 0.4]).astype(float)
>>> eddm = EDDM(alpha=0.8, beta=0.75)
>>> [int(i) for i in eddm.update_many(errors) if i >= 3000][:1]
[3008]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import DriftDetector, check_int, check_probability
from driftline.detectors.inputs import BINARY

__all__ = ["EDDM"]


class EDDM(DriftDetector):
    """Early Drift Detection Method (see module docstring).

    Parameters
    ----------
    warm_start
        Values, and errors, required before detections are possible (>= 1).
    alpha
        Warning level of ``(p' + 2 s') / max``, in (0, 1); >= ``beta``.
    beta
        Drift level, in (0, 1).
    kind
        Only ``"binary"`` (0/1 errors).
    on_nonfinite
        ``"raise"`` or ``"skip"`` (see :class:`detectors.base.DriftDetector`).
    """

    name = "eddm"
    # EDDM's alarms cluster right after each (re)start: calibrated on fresh streams
    alarm = AlarmParameter("beta", fewer_alarms="lower", bounds=(0.5, 0.95), warning="alpha",
                           method="fresh_streams", iterations=6, alarms=16)
    input_kinds = (BINARY,)
    test_params = ({}, {"warm_start": 50, "alpha": 0.8, "beta": 0.75})

    def __init__(
        self, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9, *,
        kind: str = "binary", on_nonfinite: str = "raise",
    ) -> None:
        self.warm_start = check_int("warm_start", warm_start, low=1)
        self.alpha = check_probability("alpha", alpha)
        self.beta = check_probability("beta", beta)
        if self.alpha < self.beta:
            raise ValueError(f"alpha must be >= beta ({self.beta}), got {self.alpha}")
        self.kind = self.check_kind(kind)
        super().__init__(on_nonfinite)

    def _reset_state(self) -> None:
        self._n = 0
        self._last_error = 0
        self._n_errors = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._max = -1.0
        self._level = math.nan
        self._pending = False

    def _update_one(self, x: float) -> None:
        if self._pending:
            self._reset_state()
            self._warning = False
        self._drift = False
        self._n += 1
        if x != 1.0:
            return
        self._n_errors += 1
        distance = float(self._n - self._last_error)
        mean_old = self._mean
        self._mean += (1.0 / self._n_errors) * (distance - self._mean)
        self._m2 += (distance - mean_old) * (distance - self._mean)
        if self._n > self.warm_start:
            std = (self._m2 / (self._n_errors - 1) if self._n_errors > 1 else 0.0) ** 0.5
            p2s = self._mean + 2 * std
            if p2s > self._max:
                self._max = p2s
            elif self._n_errors > self.warm_start:
                self._level = p2s / self._max
                if self._level < self.beta:
                    self._drift = True
                elif self._level < self.alpha:
                    self._warning = True
                else:
                    self._warning = False
        self._last_error = self._n
        self._pending = self._drift

    def _statistics(self) -> dict[str, float]:
        std = (self._m2 / (self._n_errors - 1)) ** 0.5 if self._n_errors > 1 else 0.0
        mean = self._mean if self._n_errors else float("nan")
        return {
            "statistic": self._level, "threshold": self.beta,
            "warning_threshold": self.alpha, "mean_distance": mean, "std_distance": std,
            "max_p2s": self._max if self._max >= 0 else float("nan"),
            "error_rate": self._n_errors / self._n if self._n else float("nan"),
            "n_errors": float(self._n_errors), "n_window": float(self._n),
        }

    def _get_state(self) -> dict[str, Any]:
        return {"n": self._n, "last_error": self._last_error, "n_errors": self._n_errors,
                "mean": self._mean, "m2": self._m2, "max": self._max,
                "level": None if math.isnan(self._level) else self._level,
                "pending": self._pending}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._n, self._last_error = int(state["n"]), int(state["last_error"])
        self._n_errors = int(state["n_errors"])
        self._mean, self._m2, self._max = state["mean"], state["m2"], state["max"]
        self._level = math.nan if state["level"] is None else state["level"]
        self._pending = bool(state["pending"])
