"""Vectorised DDM kernel of :class:`detectors.ddm.DDM` and :class:`detectors.ddm_bank.DDMBank`.

The state of ``m`` independent DDM tests lives in arrays of length ``m``. Between two detections
a test is a closed form of cumulative sums (running sums with ``np.cumsum``, the running minimum
of ``p + s`` with ``np.minimum.accumulate``), so a stretch of rows is advanced at once and cut at
the first detection; the test then restarts at the next row. Every array operation is the same
IEEE operation as the per-value update of :class:`detectors.ddm.DDM`, so the two paths agree
bit for bit.

Passes over ``(rows, tests)`` arrays: tests that restarted at different rows share one pass,
each masked before its own start row (zero inputs, which leave its fresh sums at ``0.0``, and
no arming). Binary tests go through :func:`detectors.ddm_pass.binary_pass` (every test exact,
in shared work arrays); for real-valued tests a cheap bound screens out the tests that cannot
fire in a pass (see :func:`_screen`), and only the others get the running minimum and its
arg-position row by row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors._workspace import shared_workspace
from driftline.detectors.bank_base import sorted_hits

__all__ = ["DDMParams", "DDMState", "advance", "estimate"]

#: values per vectorised pass (rows x tests)
CHUNK_VALUES = 32768
#: the pass that follows a detection covers at least FIRST_SPAN rows and up to RESTART_CELLS
#: values; its length doubles while no detection cuts a pass short
FIRST_SPAN = 128
RESTART_CELLS = 4096
#: rows per block of the screening bound (see :func:`_screen`)
SCREEN_ROWS = 32
#: relative slack of the screening bound, far above the rounding of ``p + d * s``
SCREEN_SLACK = 1e-9


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
    from driftline.detectors.ddm_pass import binary_pass  # it builds on this module's state

    n_rows, m = x.shape
    chunk = max(FIRST_SPAN, CHUNK_VALUES // max(1, m))
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    for start in range(0, n_rows, chunk):
        end = min(n_rows, start + chunk)
        pos = np.full(m, start, dtype=np.int64)
        span = end - start
        while True:
            waiting = pos < end
            if not waiting.any():
                break
            p = int(pos[waiting].min())
            stop = min(end, p + span)
            cols = np.flatnonzero(pos < stop)
            if st.pending[cols].any():
                restart = np.zeros(m, dtype=bool)
                restart[cols] = st.pending[cols]
                st.restart(restart)
            n_low = int(st.n[cols].min())
            if (params.real and m > 1 and len(cols) == m and n_low < params.warm_start
                    and (pos == p).all()):
                # every test warms up from here: end the pass where all are armed, so that the
                # next one can be screened
                stop = min(stop, p + params.warm_start - n_low)
            step = _advance_pass if params.real else binary_pass
            pos[cols] += step(params, st, x, p, stop, cols, pos[cols] - p, rows_out, cols_out)
            if (pos[cols] < stop).any():
                span = max(FIRST_SPAN, RESTART_CELLS // int(np.count_nonzero(pos < end)))
            else:
                span = min(2 * span, end - start)
    return sorted_hits(rows_out, cols_out)


def _advance_pass(
    params: DDMParams, st: DDMState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, rows_out: list[np.ndarray], cols_out: list[np.ndarray],
) -> np.ndarray:
    """Advance tests ``cols`` over rows ``[p + offset, stop)``; return the rows consumed by each.

    A test with ``offset > 0`` starts at row ``p + offset`` (its earlier rows are masked).
    """
    n_steps = stop - p
    every = len(cols) == len(st.n)
    xc = x[p:stop] if every else x[p:stop][:, cols]
    steps = np.arange(1, n_steps + 1)
    shifted = bool(offset.any())
    started = steps[:, None] > offset if shifted else None
    n0 = st.n[cols]
    work = shared_workspace()
    if shifted or not (n0 == n0[0]).all():
        counts = (n0 + (steps[:, None] - offset)).astype(np.float64)
    else:
        counts = (n0[0] + steps).astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if params.real:
            fresh = n0 == 0
            st.shift[cols[fresh]] = xc[offset[fresh], np.flatnonzero(fresh)]
            d = xc - st.shift[cols]
            if shifted:
                d = np.where(started, d, 0.0)
            s1 = d.copy()
            s1[0] += st.s1[cols]
            np.cumsum(s1, axis=0, out=s1)
            s2 = d * d
            s2[0] += st.s2[cols]
            np.cumsum(s2, axis=0, out=s2)
            prob, std = estimate(True, st.shift[cols], s1, s2, counts)
        else:
            shape = xc.shape
            s1 = work.get("s1", *shape)
            if shifted:
                np.multiply(xc, started, out=s1)
            else:
                np.copyto(s1, xc)
            s1[0] += st.s1[cols]
            np.cumsum(s1, axis=0, out=s1)
            s2 = s1
            # in place, the same operations as estimate(): sqrt(p * (1 - p) / n)
            prob = np.divide(s1, counts, out=work.get("prob", *shape))
            std = np.subtract(1.0, prob, out=work.get("std", *shape))
            std *= prob
            std /= counts
            np.sqrt(std, out=std)
    ps = np.add(prob, std, out=work.get("ps", *prob.shape))
    # tests armed on every row of the pass (rows before a test's own start are never armed)
    steady = (offset == 0) & (n0 >= params.warm_start)
    k = np.arange(len(cols))
    if steady.any() and n_steps >= 2 * SCREEN_ROWS and params.drift_threshold >= 1.0:
        with np.errstate(invalid="ignore"):
            maybe = _screen(params, st, cols, ps, std)
        maybe[~steady] = True
        sub = np.flatnonzero(maybe)
    else:
        sub = k
    last = np.full(len(cols), n_steps - 1)
    if len(sub) < len(cols):
        quiet = np.ones(len(cols), dtype=bool)
        quiet[sub] = False
        _quiet_end(params, st, cols, quiet, prob, std, ps)
    if len(sub):
        last[sub] = _exact(params, st, cols[sub], sub, p, counts, started, prob, std, ps,
                           bool(steady[sub].all()), rows_out, cols_out)
    pick = last, k
    st.n[cols] = n0 + last + 1 - offset
    st.s1[cols] = s1[pick]
    if params.real:
        st.s2[cols] = s2[pick]
    st.stat[cols] = ps[pick]
    return last + 1 - offset


def _screen(
    params: DDMParams, st: DDMState, cols: np.ndarray, ps: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Mask of the tests that may fire in this pass (meaningful for tests armed on every row).

    At a row ``t`` the drift level is ``p_min + d s_min = ps_min(t) + (d - 1) s_min`` where
    ``ps_min(t)`` is the running minimum of ``p + s`` and ``s_min`` one of the ``s`` seen so far
    (or the stored one): within a block of ``SCREEN_ROWS`` rows it is at least the minimum of
    ``p + s`` and of ``s`` up to the block's end. A test whose largest ``p + s`` in every block
    stays below that bound (with a relative slack for rounding) cannot fire.
    """
    starts = np.arange(0, len(ps), SCREEN_ROWS)
    low_ps = np.minimum.accumulate(np.minimum.reduceat(ps, starts, axis=0), axis=0)
    np.minimum(low_ps, st.ps_min[cols], out=low_ps)
    low_s = np.minimum.accumulate(np.minimum.reduceat(std, starts, axis=0), axis=0)
    stored = np.isfinite(st.ps_min[cols])
    np.minimum(low_s, np.where(stored, st.s_min[cols], np.inf), out=low_s)
    bound = low_s * (params.drift_threshold - 1.0)
    bound += low_ps
    bound -= SCREEN_SLACK * (np.abs(low_ps) + params.drift_threshold * low_s)
    high = np.maximum.reduceat(ps, starts, axis=0)
    # NaN bounds (tests not armed throughout) compare False; the caller overrides those
    return (high >= bound).any(axis=0)


def _quiet_end(
    params: DDMParams, st: DDMState, cols: np.ndarray, quiet: np.ndarray, prob: np.ndarray,
    std: np.ndarray, ps: np.ndarray,
) -> None:
    """End-of-pass state of tests ``cols[quiet]`` that were armed throughout and did not fire.

    Reductions run over every column (cheaper than copying the quiet ones out); only the quiet
    tests' state is written.
    """
    with np.errstate(invalid="ignore"):
        _quiet_values(params, st, cols, quiet, prob, std, ps)


def _quiet_values(
    params: DDMParams, st: DDMState, cols: np.ndarray, quiet: np.ndarray, prob: np.ndarray,
    std: np.ndarray, ps: np.ndarray,
) -> None:
    low = ps.min(axis=0)
    # DDM takes (p_min, s_min) from the last row where p + s reached the running minimum: the
    # first minimum of the reversed rows
    at = len(ps) - 1 - np.argmin(ps[::-1], axis=0)
    k = np.arange(len(cols))
    updated = low <= st.ps_min[cols]
    p_min = np.where(updated, prob[at, k], st.p_min[cols])
    s_min = np.where(updated, std[at, k], st.s_min[cols])
    dest = cols[quiet]
    st.p_min[dest] = p_min[quiet]
    st.s_min[dest] = s_min[quiet]
    st.ps_min[dest] = np.minimum(low, st.ps_min[cols])[quiet]
    st.drift[dest] = False
    st.pending[dest] = False
    warning = ps[-1] > p_min + params.warning_threshold * s_min
    st.warning[dest] = warning[quiet]


def first_fires(fire: np.ndarray, offset: int, columns: np.ndarray,
                rows_out: list[np.ndarray], cols_out: list[np.ndarray]) -> np.ndarray:
    """Row of each column's first drift in ``fire`` (``(steps, columns)``), else its last row;
    the drifts are appended to ``rows_out`` (shifted by ``offset``) and ``cols_out``."""
    last = np.full(fire.shape[1], fire.shape[0] - 1)
    fired = fire.any(axis=0)
    if fired.any():
        last[fired] = np.argmax(fire[:, fired], axis=0)
        hit = np.flatnonzero(fired)
        rows_out.append(last[hit] + offset)
        cols_out.append(columns[hit])
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


def _exact(
    params: DDMParams, st: DDMState, dest: np.ndarray, sub: np.ndarray, p: int,
    counts: np.ndarray, started: np.ndarray | None, prob: np.ndarray, std: np.ndarray,
    ps: np.ndarray, all_armed: bool, rows_out: list[np.ndarray], cols_out: list[np.ndarray],
) -> np.ndarray:
    """Row-by-row running minimum for tests ``dest`` (columns ``sub``); return their last rows.

    Updates every field of their state except ``n``, ``s1``, ``s2`` and ``stat``.
    """
    if len(sub) < ps.shape[1]:
        prob, std, ps = prob[:, sub], std[:, sub], ps[:, sub]
        if counts.shape[1] > 1:
            counts = counts[:, sub]
        if started is not None:
            started = started[:, sub]
    n_steps = len(ps)
    armed = counts > params.warm_start
    armed = np.broadcast_to(armed, ps.shape) if started is None else armed & started
    cand = ps.copy()
    if not all_armed:
        cand[~armed] = np.inf
    cand[0] = np.minimum(cand[0], st.ps_min[dest])
    run_min = np.minimum.accumulate(cand, axis=0)
    # DDM updates (p_min, s_min) whenever ps <= the running minimum so far, i.e. where ps equals
    # the new running minimum: (p_min, s_min) come from the last such row
    is_update = ps == run_min
    if not all_armed:
        is_update &= armed
    # row (1-based) of the last update so far, 0 before the first one in this pass
    since = is_update * np.arange(1, n_steps + 1)[:, None]
    np.maximum.accumulate(since, axis=0, out=since)
    n_sub = len(sub)
    k = np.arange(n_sub)
    # p + d * s at each row (row 0: the stored level), bit-identical to p_min + d * s_min;
    # the drift level of a row is the one at its last update, gathered from the flat array
    levels = np.empty((n_steps + 1, n_sub))
    levels[0] = st.p_min[dest] + params.drift_threshold * st.s_min[dest]
    np.multiply(std, params.drift_threshold, out=levels[1:])
    levels[1:] += prob
    flat = since * n_sub
    flat += k
    thr = levels.ravel().take(flat)
    with np.errstate(invalid="ignore"):
        fire = ps > thr
    if not all_armed:
        fire &= armed
    last = first_fires(fire, p, dest, rows_out, cols_out)
    pick = last, k
    p_min, s_min, drift = store_minima(st, dest, since[pick], pick, prob, std, run_min, fire)
    # warning keeps its previous value until the test is armed (as in the scalar update)
    with np.errstate(invalid="ignore"):
        warning = ps[pick] > p_min + params.warning_threshold * s_min
    st.warning[dest] = np.where(armed[pick], warning & ~drift, st.warning[dest])
    return last
