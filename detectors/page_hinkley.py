"""Page-Hinkley test for a change in the mean, in units of the reference standard deviation.

For each value ``x_t`` the standardised deviation ``d_t = (x_t - mu_t) / sigma`` feeds two
cumulative sums, one per side, each compared with its running extremum (``m_0 = 0`` included)::

    up_t   = alpha * up_{t-1}   + (d_t - delta)    up_min_t   = min(alpha * up_min_{t-1}, up_t)
    down_t = alpha * down_{t-1} + (d_t + delta)    down_max_t = max(alpha * down_max_{t-1}, down_t)
    PH_up = up_t - up_min_t                        PH_down = down_max_t - down_t

Drift is signalled when the active side(s) (``direction``) exceed ``threshold`` and at least
``min_instances`` values were seen since the last restart. ``PH_up`` equals the CUSUM
``max(0, alpha * PH_up + d - delta)``: the forgetting factor ``alpha`` discounts the sums *and*
their extremum (river discounts the sum only, so on a long quiet stretch its statistic drifts
and raises false alarms). ``mu_t`` is the pinned ``reference_mean`` or the running mean,
``sigma`` the pinned ``reference_std`` or the standard deviation of the first ``warmup`` values
(no detection before; ``statistics["ready"]`` says when the test is armed). ``delta`` and
``threshold`` are in units of sigma, so one setting (or a threshold calibrated with
:func:`detectors.calibration.calibrate_page_hinkley`) fits any feature scale. The test is
two-sided by default; after a detection (``reset_on_drift``) the sums restart at the next value,
a running mean and an estimated sigma with them.

``update_many`` runs the vectorised kernel (:mod:`detectors._kernels.page_hinkley`), equal bit
for bit to this loop; with forgetting it runs this loop.

References
----------
E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2) (1954) 100-115.
D. V. Hinkley, "Inference about the change-point from cumulative sum tests", Biometrika 58(3)
(1971) 509-523.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.page_hinkley import PageHinkley
>>> rng = np.random.default_rng(42)
>>> stream = np.concatenate([rng.normal(0.0, 2.0, 1000), rng.normal(3.0, 2.0, 500)])
>>> ph = PageHinkley(delta=0.1, threshold=25.0)
>>> ph.update_many(stream).tolist()           # the mean shifts by 1.5 sigma at 1000
[1008]
>>> ph.statistics["std"] > 1.5                 # sigma was estimated from the warm-up
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors._kernels.page_hinkley import KERNEL
from driftline.detectors._kernels.page_hinkley_state import warmup_std
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import (
    DriftDetector,
    check_bool,
    check_choice,
    check_int,
    check_number,
)

__all__ = ["PageHinkley"]

DIRECTIONS = ("up", "down", "both")


class PageHinkley(DriftDetector):
    """Two-sided Page-Hinkley test in units of sigma (see module docstring).

    Parameters
    ----------
    delta
        Allowance (magnitude of tolerated mean change), in units of sigma; >= 0.
    threshold
        Detection threshold lambda, in units of sigma; >= 0.
    direction
        ``"up"``, ``"down"`` or ``"both"`` (default).
    reference_mean, reference_std
        Optional pinned reference (e.g. from training data). Without ``reference_mean`` the
        running mean is used; without ``reference_std`` sigma is estimated from the first
        ``warmup`` values.
    warmup
        Values used to estimate sigma when ``reference_std`` is not given (>= 2).
    forgetting
        Factor alpha in (0, 1] applied to the cumulative sums and their extrema; 1 = none.
    reset_on_drift
        Restart the sums after a detection (default True).
    min_instances
        Values since the last restart before a detection is allowed.
    on_nonfinite
        ``"raise"`` or ``"skip"`` (see :class:`detectors.base.DriftDetector`).
    """

    name = "page_hinkley"
    alarm = AlarmParameter("threshold", fewer_alarms="higher", bounds=(0.0, 2000.0),
                           methods=("cusum", "tail_extrapolation"))
    test_params = (
        {"threshold": 6.0},
        {"threshold": 6.0, "forgetting": 0.99},
        {"threshold": 2.0, "forgetting": 0.3, "warmup": 5},
        {"threshold": 6.0, "reference_mean": 0.0, "reference_std": 1.0},
        {"threshold": 6.0, "reference_mean": 0.3, "forgetting": 0.995},
        {"threshold": 6.0, "reference_std": 1.5, "direction": "up"},
        {"threshold": 6.0, "direction": "down", "min_instances": 1, "warmup": 2},
        {"threshold": 6.0, "reset_on_drift": False, "reference_mean": 0.0, "reference_std": 1.0},
    )
    kernel = KERNEL
    effect_name = "standardised mean shift"

    def __init__(
        self, delta: float = 0.1, threshold: float = 25.0, direction: str = "both", *,
        reference_mean: float | None = None, reference_std: float | None = None,
        warmup: int = 30, forgetting: float = 1.0, reset_on_drift: bool = True,
        min_instances: int = 30, on_nonfinite: str = "raise",
    ) -> None:
        self.delta = check_number("delta", delta, low=0.0)
        self.threshold = check_number("threshold", threshold, low=0.0)
        self.direction = check_choice("direction", direction, DIRECTIONS)
        self.reference_mean = check_number("reference_mean", reference_mean, allow_none=True)
        self.reference_std = check_number("reference_std", reference_std, low=0.0,
                                          low_inclusive=False, allow_none=True)
        self.warmup = check_int("warmup", warmup, low=2)
        self.forgetting = check_number("forgetting", forgetting, low=0.0, high=1.0,
                                       low_inclusive=False)
        self.reset_on_drift = check_bool("reset_on_drift", reset_on_drift)
        self.min_instances = check_int("min_instances", min_instances, low=1)
        super().__init__(on_nonfinite)

    @classmethod
    def reference_params(cls, reference: np.ndarray,
                         fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The reference's mean and standard deviation (ddof=1) pinned; a reference without
        spread keeps ``fallback``'s standard deviation (default 1)."""
        std = np.std(reference, axis=0, ddof=1)
        std = np.where(std > 0, std, 1.0 if fallback is None else fallback["reference_std"])
        mean = np.mean(reference, axis=0)
        if np.ndim(reference) == 1:
            return {"reference_mean": float(mean), "reference_std": float(std)}
        return {"reference_mean": mean, "reference_std": std}

    def effect_size(self, window: np.ndarray) -> float:
        """``|mean(window) - reference_mean| / reference_std`` (pinned references needed)."""
        if self.reference_mean is None or self.reference_std is None:
            raise ValueError("PageHinkley's effect size needs reference_mean and reference_std")
        values = np.asarray(window, dtype=np.float64)
        if not len(values):
            return math.nan
        return abs(float(values.mean()) - self.reference_mean) / self.reference_std

    # -- running state ------------------------------------------------------------------------
    _FIELDS = ("n", "sum", "sigma", "up", "up_min", "down", "down_max", "stat_up", "stat_down",
               "pending")

    def _reset_state(self) -> None:
        self._sigma = self.reference_std
        self._restart()

    def _restart(self) -> None:
        self._n = 0
        self._sum = 0.0  # of the values since the restart, for the running mean
        self._up = self._up_min = self._down = self._down_max = 0.0
        self._stat_up = self._stat_down = 0.0
        if self.reference_std is None:
            self._sigma = None
        self._warmup_values: list[float] = []
        self._pending = False

    def _update_one(self, x: float) -> None:
        if self._pending:
            self._restart()
        self._n += 1
        if self.reference_mean is None:
            self._sum = self._sum + x
        self._drift = False
        if self._sigma is None:
            self._warmup_values.append(x)
            if len(self._warmup_values) == self.warmup:
                self._sigma = warmup_std(self._warmup_values)
                self._warmup_values = []
            return
        mean = self._sum / self._n if self.reference_mean is None else self.reference_mean
        deviation = (x - mean) / self._sigma
        alpha = self.forgetting
        self._up = alpha * self._up + (deviation - self.delta)
        self._up_min = min(alpha * self._up_min, self._up)
        self._down = alpha * self._down + (deviation + self.delta)
        self._down_max = max(alpha * self._down_max, self._down)
        self._stat_up = self._up - self._up_min
        self._stat_down = self._down_max - self._down
        self._drift = self._n >= self.min_instances and self._statistic() > self.threshold
        self._pending = self._drift and self.reset_on_drift

    def _statistic(self) -> float:
        if self.direction == "up":
            return self._stat_up
        if self.direction == "down":
            return self._stat_down
        return max(self._stat_up, self._stat_down)

    def _statistics(self) -> dict[str, float]:
        if self.reference_mean is not None:
            mean = self.reference_mean
        else:
            mean = self._sum / self._n if self._n else math.nan
        return {
            "statistic": self._statistic(), "statistic_up": self._stat_up,
            "statistic_down": self._stat_down, "threshold": self.threshold, "mean": mean,
            "std": math.nan if self._sigma is None else self._sigma,
            "ready": float(self._sigma is not None and self._n >= self.min_instances),
        }

    def _get_state(self) -> dict[str, Any]:
        state = {key: getattr(self, f"_{key}") for key in self._FIELDS}
        state["warmup_values"] = list(self._warmup_values)
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        for key in self._FIELDS:
            setattr(self, f"_{key}", state[key])
        self._warmup_values = list(state["warmup_values"])
