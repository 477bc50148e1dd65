"""Array state of ``n`` Page-Hinkley tests and the parameters the kernel needs.

The fields are those of :class:`detectors.page_hinkley.PageHinkley`'s JSON state, one array
entry per test: ``n`` values since the restart, their ``sum`` (for the running mean), ``sigma``
(NaN while the warm-up estimates it; its values wait in ``buf`` / ``count``), the cumulative sums
``up`` / ``down`` with their running extrema and the statistic of each side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FLOATS", "PHConfig", "PHState", "warmup_std"]

#: float fields, stored as they are in the JSON state
FLOATS = ("sum", "up", "up_min", "down", "down_max", "stat_up", "stat_down")


def warmup_std(values: Any) -> float:
    """Sample standard deviation (ddof=1) of the warm-up values; 1.0 if they are constant."""
    std = float(np.std(np.ascontiguousarray(values, dtype=np.float64), ddof=1))
    return std if std > 0.0 else 1.0


@dataclass(frozen=True)
class PHConfig:
    """Parameters of ``n`` tests: per-test threshold and pinned references, the rest shared."""

    delta: float
    thresholds: np.ndarray
    ref_mean: np.ndarray  # NaN where the running mean is used
    ref_std: np.ndarray  # NaN where sigma is estimated from the warm-up
    warmup: int
    direction: str
    min_instances: int
    reset_on_drift: bool


class PHState:
    """Running state of ``n`` Page-Hinkley tests (arrays of length ``n``)."""

    def __init__(self, config: PHConfig) -> None:
        n = len(config.thresholds)
        self.n = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.buf = np.zeros((config.warmup, n))
        self.sigma = config.ref_std.copy()
        for key in FLOATS:
            setattr(self, key, np.zeros(n))
        self.pending = np.zeros(n, dtype=bool)
        self.drift = np.zeros(n, dtype=bool)
        self.warning = np.zeros(n, dtype=bool)

    def restart(self, config: PHConfig, mask: np.ndarray) -> None:
        """Restart the tests in ``mask``: sums, counts, running mean and (if estimated) sigma."""
        for key in FLOATS:
            getattr(self, key)[mask] = 0.0
        self.n[mask] = 0
        self.count[mask] = 0
        self.sigma[mask] = config.ref_std[mask]
        self.pending[mask] = False

    @classmethod
    def pack(cls, config: PHConfig, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> PHState:
        st = cls(config)
        for key in FLOATS:
            setattr(st, key, np.array([s[key] for s in states], dtype=np.float64))
        st.n = np.array([s["n"] for s in states], dtype=np.int64)
        st.sigma = np.array([math.nan if s["sigma"] is None else s["sigma"] for s in states],
                            dtype=np.float64)
        st.pending = np.array([s["pending"] for s in states], dtype=bool)
        st.drift = np.array(drift, dtype=bool)
        st.warning = np.array(warning, dtype=bool)
        for j, s in enumerate(states):
            values = s["warmup_values"]
            st.count[j] = len(values)
            st.buf[: len(values), j] = values
        return st

    def unpack(self) -> list[dict[str, Any]]:
        columns = {key: getattr(self, key).tolist() for key in FLOATS}
        sigma = self.sigma.tolist()
        n, pending = self.n.tolist(), self.pending.tolist()
        out = []
        for j in range(len(n)):
            warming = math.isnan(sigma[j])
            state = {"n": n[j], "sigma": None if warming else sigma[j],
                     "warmup_values": self.buf[: self.count[j], j].tolist() if warming else []}
            state.update({key: columns[key][j] for key in FLOATS})
            state["pending"] = pending[j]
            out.append(state)
        return out
