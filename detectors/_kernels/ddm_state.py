"""Array state of ``m`` DDM tests, their parameters, and helpers shared by the DDM passes.

The fields are those of :class:`detectors.ddm.DDM`'s JSON state, one array entry per test:
``n`` values since the restart, the running sums ``s1`` / ``s2`` (of ``x - shift`` for real
errors), the pair ``(p_min, s_min)`` where ``p + s`` was smallest (``ps_min``; +inf before the
first armed value, ``None`` in JSON), the last ``p + s`` (``stat``) and ``pending`` (fired on
the last value: restarts on the next).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors._kernels.scheduler import Hits

__all__ = ["DDMConfig", "DDMState", "estimate", "first_fires", "store_minima"]

FLOATS = ("shift", "s1", "s2", "p_min", "s_min", "ps_min", "stat")


@dataclass(frozen=True)
class DDMConfig:
    """Parameters shared by the tests of a DDM kernel."""

    warm_start: int
    warning_threshold: float
    drift_threshold: float
    real: bool


class DDMState:
    """Running state of ``m`` DDM tests (arrays of length ``m``)."""

    def __init__(self, m: int) -> None:
        self.n = np.zeros(m, dtype=np.int64)
        for key in FLOATS:
            setattr(self, key, np.zeros(m))
        self.ps_min[:] = math.inf
        self.pending = np.zeros(m, dtype=bool)
        self.drift = np.zeros(m, dtype=bool)
        self.warning = np.zeros(m, dtype=bool)

    def restart(self, mask: np.ndarray) -> None:
        for key in ("shift", "s1", "s2", "p_min", "s_min", "stat"):
            getattr(self, key)[mask] = 0.0
        self.ps_min[mask] = math.inf
        self.n[mask] = 0
        self.pending[mask] = False

    @classmethod
    def pack(cls, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> DDMState:
        st = cls(len(states))
        for key in FLOATS:
            setattr(st, key, np.array([math.inf if s[key] is None else s[key] for s in states],
                                      dtype=np.float64))
        st.n = np.array([s["n"] for s in states], dtype=np.int64)
        st.pending = np.array([s["pending"] for s in states], dtype=bool)
        st.drift = np.array(drift, dtype=bool)
        st.warning = np.array(warning, dtype=bool)
        return st

    def unpack(self) -> list[dict[str, Any]]:
        columns = {key: getattr(self, key).tolist() for key in FLOATS}
        n, pending = self.n.tolist(), self.pending.tolist()
        out = []
        for j in range(len(n)):
            state: dict[str, Any] = {"n": n[j]}
            state.update({key: None if math.isinf(columns[key][j]) else columns[key][j]
                          for key in FLOATS})
            state["pending"] = pending[j]
            out.append(state)
        return out


def estimate(real: bool, shift: Any, s1: Any, s2: Any, n: Any) -> tuple[Any, Any]:
    """Error-rate estimate ``p`` and its standard error ``s`` from the running sums.

    Binary: ``p = k / n``, ``s = sqrt(p (1 - p) / n)`` (Bernoulli). Real: ``p`` is the mean of
    the values and ``s = sqrt(v / n)`` with ``v`` the population variance of the values, from
    sums of ``x - shift`` (``shift`` = first value since the restart) to limit cancellation.
    On 0/1 data ``v = p (1 - p)``, so the real variant reduces to the binary one.
    """
    if not real:
        p = s1 / n
        return p, np.sqrt(p * (1.0 - p) / n)
    mean_d = s1 / n
    var = np.maximum(s2 / n - mean_d * mean_d, 0.0)
    return shift + mean_d, np.sqrt(var / n)


def first_fires(fire: np.ndarray, offset: int, columns: np.ndarray, hits: Hits) -> np.ndarray:
    """Row of each column's first drift in ``fire`` (``(steps, columns)``), else its last row;
    the drifts go to ``hits`` (rows shifted by ``offset``)."""
    last = np.full(fire.shape[1], fire.shape[0] - 1)
    fired = fire.any(axis=0)
    if fired.any():
        last[fired] = np.argmax(fire[:, fired], axis=0)
        hit = np.flatnonzero(fired)
        hits.add(last[hit] + offset, columns[hit])
    return last


def store_minima(st: DDMState, dest: Any, since: np.ndarray, pick: tuple[np.ndarray, ...],
                 prob: np.ndarray, std: np.ndarray, run_min: np.ndarray,
                 fire: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Store ``(p_min, s_min)`` of each column's last update before its stopping row ``pick``
    (``since``: that update's 1-based row, 0 for none in this pass: the stored pair stays), the
    running minimum of ``p + s`` and the drift flag; returns ``(p_min, s_min, drift)``."""
    have = since > 0
    at = np.maximum(since - 1, 0)
    column = pick[1]
    p_min = np.where(have, prob[at, column], st.p_min[dest])
    s_min = np.where(have, std[at, column], st.s_min[dest])
    st.p_min[dest] = p_min
    st.s_min[dest] = s_min
    st.ps_min[dest] = run_min[pick]
    drift = fire[pick]
    st.drift[dest] = drift
    st.pending[dest] = drift
    return p_min, s_min, drift
