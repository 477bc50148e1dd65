"""Vectorised DDM kernel of :class:`detectors.ddm.DDM` and :class:`detectors.ddm_bank.DDMBank`.

The state of ``m`` independent DDM tests lives in arrays of length ``m``. Between two detections
a test is a closed form of cumulative sums (running sums with ``np.cumsum``, the running minimum
of ``p + s`` with ``np.minimum.accumulate``), so a stretch of rows is advanced at once and cut at
the first detection; the test then restarts at the next row. Every array operation is the same
IEEE operation as the per-value update of :class:`detectors.ddm.DDM`, so the two paths agree
bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DDMParams", "DDMState", "advance", "estimate"]

#: rows first tried after a restart; doubled while no detection cuts the stretch short
FIRST_SPAN = 256
#: values per vectorised stretch (rows x tests)
CHUNK_VALUES = 16384


@dataclass(frozen=True)
class DDMParams:
    """Validated DDM parameters."""

    warm_start: int
    warning_threshold: float
    drift_threshold: float
    real: bool


class DDMState:
    """Running state of ``m`` DDM tests (arrays of length ``m``)."""

    FLOATS = ("shift", "s1", "s2", "p_min", "s_min", "ps_min", "stat")
    INTS = ("n",)
    BOOLS = ("pending", "drift", "warning")

    def __init__(self, m: int) -> None:
        self.n = np.zeros(m, dtype=np.int64)
        for key in self.FLOATS:
            setattr(self, key, np.zeros(m))
        self.ps_min[:] = math.inf
        for key in self.BOOLS:
            setattr(self, key, np.zeros(m, dtype=bool))

    def restart(self, mask: np.ndarray) -> None:
        for key in ("shift", "s1", "s2", "p_min", "s_min", "stat"):
            getattr(self, key)[mask] = 0.0
        self.ps_min[mask] = math.inf
        self.n[mask] = 0
        self.pending[mask] = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.FLOATS:
            out[key] = [None if math.isinf(v) else v for v in getattr(self, key).tolist()]
        for key in self.INTS + self.BOOLS:
            out[key] = getattr(self, key).tolist()
        return out

    def from_json(self, data: dict[str, Any]) -> None:
        for key in self.FLOATS:
            setattr(self, key, np.asarray([math.inf if v is None else v for v in data[key]],
                                          dtype=np.float64))
        self.n = np.asarray(data["n"], dtype=np.int64)
        for key in self.BOOLS:
            setattr(self, key, np.asarray(data[key], dtype=bool))


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


def advance(params: DDMParams, st: DDMState, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consume rows ``x`` (shape ``(L, m)``); return detections as (rows, tests), row-major."""
    n_rows, m = x.shape
    chunk = max(FIRST_SPAN, CHUNK_VALUES // max(1, m))
    span = np.where(st.pending, FIRST_SPAN, chunk)
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    # Stretches are aligned on chunk boundaries so that all tests are advanced together again
    # after one of them restarts; within a chunk a restarted test advances by doubling spans
    # (work computed past a detection is thrown away).
    for start in range(0, n_rows, chunk):
        end = min(n_rows, start + chunk)
        pos = np.full(m, start, dtype=np.int64)
        while True:
            waiting = pos < end
            if not waiting.any():
                break
            p = int(pos[waiting].min())
            cols = np.flatnonzero(pos == p)
            stop = min(end, p + int(span[cols].min()))
            lengths = _advance_group(params, st, x, p, stop, cols, rows_out, cols_out)
            pos[cols] = p + lengths
            cut = lengths < stop - p
            span[cols[cut]] = FIRST_SPAN
            span[cols[~cut]] = np.minimum(2 * span[cols[~cut]], chunk)
    if not rows_out:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    rows = np.concatenate(rows_out).astype(np.int64)
    tests = np.concatenate(cols_out).astype(np.int64)
    order = np.lexsort((tests, rows))
    return rows[order], tests[order]


def _advance_group(
    params: DDMParams, st: DDMState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    rows_out: list[np.ndarray], cols_out: list[np.ndarray],
) -> np.ndarray:
    """Advance tests ``cols`` (all at row ``p``) over ``[p, stop)``; return rows consumed each."""
    restart = np.zeros(len(st.n), dtype=bool)
    restart[cols] = st.pending[cols]
    if restart.any():
        st.restart(restart)
    every = len(cols) == len(st.n)
    xc = x[p:stop].copy() if every else x[p:stop][:, cols]  # a fresh array either way
    n_steps = stop - p
    n0 = st.n[cols]
    steps = np.arange(1, n_steps + 1)
    if (n0 == n0[0]).all():
        counts = (n0[0] + steps).astype(np.float64)[:, None]
    else:
        counts = (n0[None, :] + steps[:, None]).astype(np.float64)
    if params.real:
        fresh = n0 == 0
        st.shift[cols[fresh]] = xc[0, fresh]
        d = xc - st.shift[cols]
        s1 = d.copy()
        s1[0] += st.s1[cols]
        np.cumsum(s1, axis=0, out=s1)
        s2 = d * d
        s2[0] += st.s2[cols]
        np.cumsum(s2, axis=0, out=s2)
    else:
        s1 = xc
        s1[0] += st.s1[cols]
        np.cumsum(s1, axis=0, out=s1)
        s2 = s1
    if params.real:
        prob, std = estimate(True, st.shift[cols], s1, s2, counts)
    else:
        # in place, the same operations as estimate(): sqrt(p * (1 - p) / n)
        prob = s1 / counts
        std = 1.0 - prob
        std *= prob
        std /= counts
        np.sqrt(std, out=std)
    ps = prob + std
    all_armed = bool((n0 >= params.warm_start).all())
    armed = np.broadcast_to(counts > params.warm_start, ps.shape)
    cand = ps.copy() if all_armed else np.where(armed, ps, np.inf)
    cand[0] = np.minimum(cand[0], st.ps_min[cols])
    run_min = np.minimum.accumulate(cand, axis=0)
    # DDM updates (p_min, s_min) whenever ps <= the running minimum so far, i.e. where ps equals
    # the new running minimum: (p_min, s_min) come from the last such row
    is_update = ps == run_min
    if not all_armed:
        is_update &= armed
    idx = np.where(is_update, np.arange(n_steps)[:, None], -1)
    last = np.maximum.accumulate(idx, axis=0)
    k = np.arange(len(cols))
    have = last >= 0
    safe = np.maximum(last, 0)
    # p + d * s at the update row is bit-identical to p_min + d * s_min computed later
    thr = std * params.drift_threshold
    thr += prob
    thr = np.where(have, np.take_along_axis(thr, safe, axis=0),
                   st.p_min[cols] + params.drift_threshold * st.s_min[cols])
    fire = ps > thr
    if not all_armed:
        fire &= armed
    lengths = np.full(len(cols), n_steps)
    fired = fire.any(axis=0)
    if fired.any():
        lengths[fired] = np.argmax(fire[:, fired], axis=0) + 1
        hit = np.flatnonzero(fired)
        rows_out.append(lengths[hit] - 1 + p)
        cols_out.append(cols[hit])
    last_row = lengths - 1
    pick = last_row, k
    st.n[cols] = n0 + lengths
    st.s1[cols] = s1[pick]
    if params.real:
        st.s2[cols] = s2[pick]
    st.stat[cols] = ps[pick]
    at = safe[pick]
    p_min = np.where(have[pick], prob[at, k], st.p_min[cols])
    s_min = np.where(have[pick], std[at, k], st.s_min[cols])
    st.p_min[cols] = p_min
    st.s_min[cols] = s_min
    min_at = run_min[pick]
    st.ps_min[cols] = min_at
    was_armed = armed[pick]
    st.drift[cols] = fire[pick]
    st.pending[cols] = fire[pick]
    # warning keeps its previous value until the test is armed (as in the scalar update)
    warning = ps[pick] > p_min + params.warning_threshold * s_min
    st.warning[cols] = np.where(was_armed, warning & ~fire[pick], st.warning[cols])
    return lengths
