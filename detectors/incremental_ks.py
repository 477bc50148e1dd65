"""Incremental Kolmogorov-Smirnov test of a sliding window against a fixed reference sample.

Implements dos Reis, Flach, Matwin and Batista, "Fast unsupervised online drift detection using
incremental Kolmogorov-Smirnov test", KDD 2016. The reference sample (for example the
training-time profile of a feature) is fixed; the window holds the last ``window_size`` values.
:meth:`IncrementalKS.update` keeps the difference of the two empirical CDFs in a treap with lazy
range additions (:mod:`detectors._kernels.treap`), O(log n) per value;
:meth:`IncrementalKS.update_many` runs the kernel (:mod:`detectors._kernels.incremental_ks`), an
exact vectorised path over integer counts (:mod:`detectors._kernels.ks_path`). Both give,
once the window is full, exactly ``scipy.stats.ks_2samp(reference, window).statistic`` (ties
included), and the same detections and final state.

Drift is signalled when the window is full and the statistic exceeds the asymptotic critical
value ``c(alpha) * sqrt((m + n) / (m n))`` with ``c(alpha) = sqrt(-ln(alpha / 2) / 2)``; the
reported p-value is the asymptotic (Kolmogorov distribution) one.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.incremental_ks import IncrementalKS
>>> rng = np.random.default_rng(42)
>>> detector = IncrementalKS(reference=rng.normal(size=500), window_size=200, alpha=0.001)
>>> stream = np.r_[rng.normal(size=1000), rng.normal(loc=1.0, size=1000)]
>>> fired = detector.update_many(stream)
>>> bool(len(fired) > 0 and fired[0] >= 1000)
True
>>> round(detector.statistics["threshold"], 4)
0.1631
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors._kernels.incremental_ks import KERNEL
from driftline.detectors._kernels.treap import ECDFDiffTreap
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import (
    DriftDetector,
    check_bool,
    check_int,
    check_probability,
    check_sample,
)
from driftline.detectors.kolmogorov import ks_p_value, ks_threshold

__all__ = ["IncrementalKS"]


class IncrementalKS(DriftDetector):
    """Two-sample KS test of a sliding window against a fixed reference (see module docstring).

    Parameters
    ----------
    reference : array-like of float
        Reference sample, 1-D, finite, non-empty; kept for the detector's lifetime (also across
        :meth:`reset`).
    window_size : int
        Number of most recent values compared with the reference.
    alpha : float
        Significance level of each test, in (0, 1).
    reset_on_drift : bool
        Empty the window after a detection, so the next test needs ``window_size`` new values.
    seed : int
        Seed of the treap priorities (a hash of each key, so the tree shape is reproducible).
    on_nonfinite : {"raise", "skip"}
        Policy for NaN / inf input (see :class:`detectors.base.DriftDetector`).

    Notes
    -----
    ``statistics`` holds ``statistic`` (0 while the window fills; after a detection with
    ``reset_on_drift`` it keeps the value that fired until the next value arrives),
    ``threshold``, ``p_value`` (asymptotic, 1 while the window fills), ``window_fill`` (fraction
    of the window in use) and the base counters (``n_seen`` ...).

    ``state_dict`` stores the parameters (reference included) and the window values; the treap
    priorities are a hash of each key seeded by ``seed``, so the restored treap is the very same
    tree and no random-generator state needs saving.
    """

    name = "incremental_ks"
    alarm = AlarmParameter("alpha", fewer_alarms="lower", bounds=(-12.0, math.log10(0.5)),
                           log_scale=True, method="ks_family", methods=("ks_tail",))
    needs_reference = True
    test_params = ({"window_size": 40, "alpha": 0.01},
                   {"window_size": 40, "alpha": 0.05, "reset_on_drift": False},
                   {"window_size": 25, "alpha": 0.02, "seed": 3})
    kernel = KERNEL
    effect_name = "KS distance"

    def __init__(
        self,
        reference: Any,
        window_size: int = 500,
        alpha: float = 0.005,
        reset_on_drift: bool = True,
        seed: int = 0,
        on_nonfinite: str = "raise",
    ) -> None:
        self.reference: list[float] = check_sample("reference", reference).tolist()
        self.window_size = check_int("window_size", window_size, low=1)
        self.alpha = check_probability("alpha", alpha)
        self.reset_on_drift = check_bool("reset_on_drift", reset_on_drift)
        self.seed = check_int("seed", seed, low=0)
        super().__init__(on_nonfinite)

    @property
    def threshold(self) -> float:
        """Critical value of the statistic at level ``alpha`` (asymptotic)."""
        return ks_threshold(self.alpha, len(self.reference), self.window_size)

    @property
    def reference_sorted(self) -> np.ndarray:
        """The reference sample, sorted."""
        return np.sort(np.asarray(self.reference, dtype=np.float64))

    @property
    def window(self) -> list[float]:
        """Current window contents, oldest first."""
        return list(self._window)

    @property
    def p_value(self) -> float:
        """Asymptotic p-value of the current statistic (1.0 while the window fills)."""
        return float(ks_p_value(self._statistic, len(self.reference), self.window_size)[0])

    def effect_size(self, window: np.ndarray) -> float:
        """KS distance ``sup |F_window - F_reference|`` (what the test itself measures)."""
        values = np.sort(np.asarray(window, dtype=np.float64))
        if not len(values):
            return math.nan
        reference = self.reference_sorted
        points = np.concatenate([reference, values])
        gap = (np.searchsorted(values, points, side="right") / len(values)
               - np.searchsorted(reference, points, side="right") / len(reference))
        return float(np.abs(gap).max())

    # -- running state ------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._window: deque[float] = deque()
        self._statistic = 0.0
        self._tree: ECDFDiffTreap | None = None  # built on the first update()

    def _tree_for_window(self) -> ECDFDiffTreap:
        if self._tree is None:
            self._tree = ECDFDiffTreap(self.reference_sorted.tolist(), self.window_size,
                                       self.seed, self._window)
        return self._tree

    def _update_one(self, x: float) -> None:
        tree = self._tree_for_window()
        if len(self._window) == self.window_size:
            tree.change_window(self._window.popleft(), -1)
        self._window.append(x)
        tree.change_window(x, 1)
        self._warning = False
        if len(self._window) < self.window_size:
            self._statistic = 0.0
            self._drift = False
            return
        self._statistic = tree.statistic()
        self._drift = self._statistic > self.threshold
        if self._drift and self.reset_on_drift:
            self._window.clear()
            self._tree = None

    def _statistics(self) -> dict[str, float]:
        return {
            "statistic": self._statistic,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "window_fill": len(self._window) / self.window_size,
        }

    def _get_state(self) -> dict[str, Any]:
        return {"window": list(self._window), "statistic": self._statistic}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        window = [float(v) for v in state["window"]]
        if len(window) > self.window_size:
            raise ValueError(f"state window holds {len(window)} values, more than "
                             f"window_size={self.window_size}")
        self._window = deque(window)
        self._statistic = float(state["statistic"])
        self._tree = None
