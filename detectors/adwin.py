"""ADWIN: adaptive windowing with the exponential-histogram compression of ADWIN2.

The window ``W`` holds the recent values, compressed into buckets of sizes ``2**i`` (at most
``max_buckets`` per size; two full buckets merge into one of the next size, keeping the exact
sum and sum of squared deviations). Every ``clock`` values, once ``W`` has more than
``grace_period`` values, each split of ``W`` at a bucket boundary into an older ``W0`` and a
newer ``W1`` (both with at least ``min_window_length`` values) is tested:

    |mean(W0) - mean(W1)| > eps_cut = sqrt(2 / m * var(W) * ln(2 / d)) + 2 / (3 m) * ln(2 / d)

with ``m = 1 / (1 / n0 + 1 / n1)``, ``d = delta / ln(n)`` and ``var(W)`` the population
variance of the window (the Bernstein form of the paper's bound). While a split fails the test
the oldest bucket is dropped; the update that dropped any signals drift. As in the paper the
detector then goes on with the shrunk window (river 0.26's ``drift.ADWIN`` instead restarts from
an empty window after a detection and uses its own variant of the bound, so detection indices
differ; the tests compare behaviour: delay after a rate increase, false alarms when stationary).

Input kinds
-----------
The bound assumes values in [0, 1]. ``kind="binary"``: 0/1 errors (other values raise
``ValueError`` naming them). ``kind="real"``: each value is clipped to ``bounds=(low, high)``
and mapped linearly onto [0, 1] (so R = high - low); statistics are in that scale.

References
----------
A. Bifet, R. Gavaldà, "Learning from time-changing data with adaptive windowing", Proceedings
of the 2007 SIAM International Conference on Data Mining, 443-448.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.adwin import ADWIN
>>> rng = np.random.default_rng(4)
>>> errors = np.concatenate([rng.random(3000) < 0.1, rng.random(1000) < 0.4]).astype(float)
>>> adwin = ADWIN()
>>> [int(i) for i in adwin.update_many(errors)]   # each shrink of the window is a detection
[3071, 3103, 3135, 3167, 3199]
>>> round(adwin.statistics["mean"], 2)            # the window holds mostly the new regime
0.38
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from driftline.detectors._bounded import check_bounds, scale
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import DriftDetector, check_int, check_probability
from driftline.detectors.inputs import BINARY, REAL

__all__ = ["ADWIN"]


class ADWIN(DriftDetector):
    """ADWIN2 (see module docstring).

    Parameters
    ----------
    delta
        Confidence of the cut test, in (0, 1).
    clock
        Test for a cut every ``clock`` values (>= 1).
    max_buckets
        Buckets kept per size before two merge (>= 2).
    min_window_length
        Minimum length of each sub-window in a tested split (>= 1).
    grace_period
        No test while the window has at most this many values (>= 0).
    kind
        ``"binary"`` or ``"real"``.
    bounds
        ``(low, high)`` range of real-valued errors (``kind="real"``); values are clipped to it.
    on_nonfinite
        ``"raise"`` or ``"skip"`` (see :class:`detectors.base.DriftDetector`).
    """

    name = "adwin"
    alarm = AlarmParameter("delta", fewer_alarms="lower", bounds=(-2.5, math.log10(0.5)),
                           log_scale=True, method="fresh_streams", iterations=4, alarms=5,
                           per_value_level=True)
    input_kinds = (BINARY, REAL)
    test_params = ({"clock": 8}, {"kind": "real", "bounds": (-4.0, 4.0), "delta": 0.01})

    def __init__(
        self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
        min_window_length: int = 5, grace_period: int = 10, *, kind: str = "binary",
        bounds: tuple[float, float] = (0.0, 1.0), on_nonfinite: str = "raise",
    ) -> None:
        self.delta = check_probability("delta", delta)
        self.clock = check_int("clock", clock, low=1)
        self.max_buckets = check_int("max_buckets", max_buckets, low=2)
        self.min_window_length = check_int("min_window_length", min_window_length, low=1)
        self.grace_period = check_int("grace_period", grace_period, low=0)
        self.kind = self.check_kind(kind)
        self.bounds = check_bounds(bounds)
        super().__init__(on_nonfinite)

    def _reset_state(self) -> None:
        # _levels[i]: buckets of 2**i values, oldest first, each [sum, sum of squared deviations]
        self._levels: list[list[list[float]]] = [[]]
        self._width = 0
        self._total = 0.0
        self._m2 = 0.0
        self._tick = 0
        self._ratio = 0.0

    # -- window maintenance -----------------------------------------------------------------
    def _insert(self, x: float) -> None:
        self._width += 1
        if self._width > 1:
            d = x - self._total / (self._width - 1)
            self._m2 += (self._width - 1) * d * d / self._width
        self._total += x
        self._levels[0].append([x, 0.0])
        level = 0
        while len(self._levels[level]) > self.max_buckets:
            (u1, v1), (u2, v2) = self._levels[level][0], self._levels[level][1]
            del self._levels[level][:2]
            size = float(2**level)
            d = u1 / size - u2 / size
            merged = [u1 + u2, v1 + v2 + size * size * d * d / (2 * size)]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(merged)
            level += 1

    def _drop_oldest(self) -> None:
        level = len(self._levels) - 1
        u, v = self._levels[level].pop(0)
        size = 2**level
        rest = self._width - size
        if rest > 0:
            d = u / size - (self._total - u) / rest
            self._m2 -= v + size * rest * d * d / self._width
        else:
            self._m2 = 0.0
        self._width = rest
        self._total -= u
        self._m2 = max(self._m2, 0.0)
        while len(self._levels) > 1 and not self._levels[-1]:
            self._levels.pop()

    def _find_cut(self) -> bool:
        """Scan the splits from the oldest boundary; return whether one passes the test."""
        n0, u0 = 0, 0.0
        width, total = self._width, self._total
        var = self._m2 / width
        log_term = math.log(2.0 * math.log(width) / self.delta)
        best = 0.0
        for level in range(len(self._levels) - 1, -1, -1):
            size = 2**level
            for u, _ in self._levels[level]:
                n0 += size
                u0 += u
                n1 = width - n0
                if n1 < self.min_window_length:
                    self._ratio = best
                    return False
                if n0 < self.min_window_length:
                    continue
                m = 1.0 / (1.0 / n0 + 1.0 / n1)
                eps = math.sqrt(2.0 / m * var * log_term) + 2.0 / (3.0 * m) * log_term
                ratio = abs(u0 / n0 - (total - u0) / n1) / eps
                best = max(best, ratio)
                if ratio > 1.0:
                    self._ratio = best
                    return True
        self._ratio = best
        return False

    def _update_one(self, x: float) -> None:
        if self.kind == "real":
            x = scale(x, self.bounds)
        self._insert(x)
        self._tick += 1
        self._drift = False
        if self._tick % self.clock == 0 and self._width > self.grace_period:
            while self._width > 1 and self._find_cut():
                self._drop_oldest()
                self._drift = True

    # -- reporting and state ----------------------------------------------------------------
    def _statistics(self) -> dict[str, float]:
        mean = self._total / self._width if self._width else float("nan")
        return {
            "statistic": self._ratio, "threshold": 1.0, "mean": mean, "error_rate": mean,
            "width": float(self._width),
            "variance": self._m2 / self._width if self._width else float("nan"),
        }

    def _get_state(self) -> dict[str, Any]:
        return {"levels": [[list(b) for b in row] for row in self._levels],
                "width": self._width, "total": self._total, "m2": self._m2,
                "tick": self._tick, "ratio": self._ratio}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._levels = [[[float(u), float(v)] for u, v in row] for row in state["levels"]]
        self._width, self._total = int(state["width"]), float(state["total"])
        self._m2, self._tick = float(state["m2"]), int(state["tick"])
        self._ratio = float(state["ratio"])
