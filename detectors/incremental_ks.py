"""Incremental Kolmogorov-Smirnov test of a sliding window against a fixed reference sample.

Implements dos Reis, Flach, Matwin and Batista, "Fast unsupervised online drift detection using
incremental Kolmogorov-Smirnov test", KDD 2016. The reference sample (for example the
training-time profile of a feature) is fixed; the window holds the last ``window_size`` values.
:meth:`IncrementalKS.update` keeps the difference of the two empirical CDFs in a treap with lazy
range additions (:mod:`detectors._treap`), O(log n) per value; :meth:`IncrementalKS.update_many`
uses an exact vectorised path over integer counts (:mod:`detectors._ks_path`). Both give,
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
from typing import Any

import numpy as np

from driftline.detectors._ks_path import ks_p_value, ks_path
from driftline.detectors._treap import ECDFDiffTreap
from driftline.detectors.base import DriftDetector, check_int, check_probability

__all__ = ["IncrementalKS", "ks_threshold"]


def ks_threshold(alpha: float, n_ref: int, n_win: int) -> float:
    """Asymptotic two-sample KS critical value ``sqrt(-ln(alpha / 2) / 2 * (m + n) / (m n))``."""
    c_alpha = math.sqrt(-math.log(alpha / 2.0) / 2.0)
    return c_alpha * math.sqrt((n_ref + n_win) / (n_ref * n_win))


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

    def __init__(
        self,
        reference: Any,
        window_size: int = 500,
        alpha: float = 0.005,
        reset_on_drift: bool = True,
        seed: int = 0,
        on_nonfinite: str = "raise",
    ) -> None:
        super().__init__(on_nonfinite=on_nonfinite)
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 1 or len(ref) == 0:
            raise ValueError(f"reference must be a non-empty 1-D sample, got shape {ref.shape}")
        if not np.isfinite(ref).all():
            raise ValueError("reference must contain only finite values")
        self.reference: list[float] = ref.tolist()
        self.window_size = check_int("window_size", window_size, low=1)
        self.alpha = check_probability("alpha", alpha)
        if not isinstance(reset_on_drift, bool | np.bool_):
            raise TypeError(f"reset_on_drift must be a bool, got {reset_on_drift!r}")
        self.reset_on_drift = bool(reset_on_drift)
        self.seed = check_int("seed", seed, low=0)
        self._ref_sorted = np.sort(ref)
        self._threshold = ks_threshold(self.alpha, len(ref), self.window_size)
        self._reset_state()

    def get_params(self) -> dict[str, Any]:
        return {
            "reference": list(self.reference),
            "window_size": self.window_size,
            "alpha": self.alpha,
            "reset_on_drift": self.reset_on_drift,
            "seed": self.seed,
            "on_nonfinite": self.on_nonfinite,
        }

    # -- state --------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._window: deque[float] = deque()
        self._statistic = 0.0
        # built lazily: update_many does not need it
        self._tree: ECDFDiffTreap | None = None

    def _get_state(self) -> dict[str, Any]:
        return {"window": list(self._window), "statistic": self._statistic}

    def _set_state(self, state: dict[str, Any]) -> None:
        window = [float(v) for v in state["window"]]
        if len(window) > self.window_size:
            raise ValueError(
                f"state window holds {len(window)} values, more than window_size="
                f"{self.window_size}"
            )
        self._window = deque(window)
        self._statistic = float(state["statistic"])
        self._tree = None

    @property
    def window(self) -> list[float]:
        """Current window contents, oldest first."""
        return list(self._window)

    def _tree_for_window(self) -> ECDFDiffTreap:
        if self._tree is None:
            self._tree = ECDFDiffTreap(
                self._ref_sorted.tolist(), self.window_size, self.seed, self._window
            )
        return self._tree

    # -- updates ------------------------------------------------------------------------------
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
        self._drift = self._statistic > self._threshold
        if self._drift and self.reset_on_drift:
            self._window.clear()
            self._tree = None

    def _update_batch(self, values: np.ndarray) -> np.ndarray:
        fired: list[np.ndarray] = []
        # statistics past a reset are wasted, so pieces restart short after each detection and
        # double while nothing fires
        max_piece = max(8 * self.window_size, 8192)
        piece = max_piece
        i, n = 0, len(values)
        self._warning = False
        while i < n:
            chunk = values[i : i + piece]
            window = np.fromiter(self._window, dtype=np.float64, count=len(self._window))
            stats = ks_path(self._ref_sorted, window, chunk, self.window_size)
            over = stats > self._threshold
            hits = np.flatnonzero(over)
            if self.reset_on_drift and len(hits):
                first = int(hits[0])
                fired.append(np.array([i + first]))
                self._statistic = float(stats[first])
                self._drift = True
                self._window.clear()
                i += first + 1
                piece = self.window_size + max(64, self.window_size // 4)
                continue
            fired.append(i + hits)
            last = stats[-1]
            self._statistic = 0.0 if math.isnan(last) else float(last)
            self._drift = bool(over[-1])
            self._window.extend(chunk[-self.window_size :].tolist())
            while len(self._window) > self.window_size:
                self._window.popleft()
            i += len(chunk)
            piece = min(2 * piece, max_piece)
        self._tree = None
        return np.concatenate(fired) if fired else np.empty(0, dtype=np.int64)

    def _advance_with_path(self, values: np.ndarray, stats: np.ndarray) -> None:
        """Consume finite ``values`` whose statistics :func:`ks_path` already gave.

        Same final state as ``update_many(values)``; only for ``reset_on_drift=False`` (used by
        :class:`detectors.incremental_ks_bank.IncrementalKSBank`).
        """
        if self.reset_on_drift:
            raise ValueError("_advance_with_path needs reset_on_drift=False")
        if len(values) == 0:
            return
        over = stats > self._threshold
        last = stats[-1]
        self._statistic = 0.0 if math.isnan(last) else float(last)
        self._drift = bool(over[-1])
        self._warning = False
        self._n_seen += len(values)
        self._n_detections += int(over.sum())
        self._window.extend(values[-self.window_size :].tolist())
        while len(self._window) > self.window_size:
            self._window.popleft()
        self._tree = None

    # -- statistics ---------------------------------------------------------------------------
    @property
    def p_value(self) -> float:
        """Asymptotic p-value of the current statistic (1.0 while the window fills)."""
        return float(ks_p_value(self._statistic, len(self.reference), self.window_size)[0])

    def _statistics(self) -> dict[str, float]:
        return {
            "statistic": self._statistic,
            "threshold": self._threshold,
            "p_value": self.p_value,
            "window_fill": len(self._window) / self.window_size,
        }
