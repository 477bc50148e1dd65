"""Pass of the DDM kernel over real-valued errors (binary errors: :mod:`.ddm_binary`).

Between two detections a test is a closed form of cumulative sums (running sums with
``np.cumsum``, the running minimum of ``p + s`` with ``np.minimum.accumulate``). A cheap bound
screens out the tests that cannot fire in a pass (:func:`_screen`); only the others get the
running minimum and its arg-position row by row (:func:`_exact`). Every array operation is the
same IEEE operation as the per-value update of :class:`detectors.ddm.DDM`, so results agree bit
for bit with the loop.
"""

from __future__ import annotations

import numpy as np

from driftline.detectors._kernels.ddm_state import (
    DDMConfig,
    DDMState,
    estimate,
    first_fires,
    store_minima,
)
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors._kernels.workspace import shared_workspace

__all__ = ["real_pass"]

#: rows per block of the screening bound (see :func:`_screen`)
SCREEN_ROWS = 32
#: relative slack of the screening bound, far above the rounding of ``p + d * s``
SCREEN_SLACK = 1e-9


def real_pass(
    config: DDMConfig, st: DDMState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, hits: Hits,
) -> np.ndarray:
    """Advance real-valued tests ``cols`` over rows ``[p + offset, stop)``; return the rows
    consumed by each.

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
    ps = np.add(prob, std, out=work.get("ps", *prob.shape))
    # tests armed on every row of the pass (rows before a test's own start are never armed)
    steady = (offset == 0) & (n0 >= config.warm_start)
    k = np.arange(len(cols))
    if steady.any() and n_steps >= 2 * SCREEN_ROWS and config.drift_threshold >= 1.0:
        with np.errstate(invalid="ignore"):
            maybe = _screen(config, st, cols, ps, std)
        maybe[~steady] = True
        sub = np.flatnonzero(maybe)
    else:
        sub = k
    last = np.full(len(cols), n_steps - 1)
    if len(sub) < len(cols):
        quiet = np.ones(len(cols), dtype=bool)
        quiet[sub] = False
        _quiet_end(config, st, cols, quiet, prob, std, ps)
    if len(sub):
        last[sub] = _exact(config, st, cols[sub], sub, p, counts, started, prob, std, ps,
                           bool(steady[sub].all()), hits)
    pick = last, k
    st.n[cols] = n0 + last + 1 - offset
    st.s1[cols] = s1[pick]
    st.s2[cols] = s2[pick]
    st.stat[cols] = ps[pick]
    return last + 1 - offset


def _screen(
    config: DDMConfig, st: DDMState, cols: np.ndarray, ps: np.ndarray, std: np.ndarray
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
    bound = low_s * (config.drift_threshold - 1.0)
    bound += low_ps
    bound -= SCREEN_SLACK * (np.abs(low_ps) + config.drift_threshold * low_s)
    high = np.maximum.reduceat(ps, starts, axis=0)
    # NaN bounds (tests not armed throughout) compare False; the caller overrides those
    return (high >= bound).any(axis=0)


def _quiet_end(
    config: DDMConfig, st: DDMState, cols: np.ndarray, quiet: np.ndarray, prob: np.ndarray,
    std: np.ndarray, ps: np.ndarray,
) -> None:
    """End-of-pass state of tests ``cols[quiet]`` that were armed throughout and did not fire.

    Reductions run over every column (cheaper than copying the quiet ones out); only the quiet
    tests' state is written.
    """
    with np.errstate(invalid="ignore"):
        _quiet_values(config, st, cols, quiet, prob, std, ps)


def _quiet_values(
    config: DDMConfig, st: DDMState, cols: np.ndarray, quiet: np.ndarray, prob: np.ndarray,
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
    warning = ps[-1] > p_min + config.warning_threshold * s_min
    st.warning[dest] = warning[quiet]


def _exact(
    config: DDMConfig, st: DDMState, dest: np.ndarray, sub: np.ndarray, p: int,
    counts: np.ndarray, started: np.ndarray | None, prob: np.ndarray, std: np.ndarray,
    ps: np.ndarray, all_armed: bool, hits: Hits,
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
    armed = counts > config.warm_start
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
    levels[0] = st.p_min[dest] + config.drift_threshold * st.s_min[dest]
    np.multiply(std, config.drift_threshold, out=levels[1:])
    levels[1:] += prob
    flat = since * n_sub
    flat += k
    thr = levels.ravel().take(flat)
    with np.errstate(invalid="ignore"):
        fire = ps > thr
    if not all_armed:
        fire &= armed
    last = first_fires(fire, p, dest, hits)
    pick = last, k
    p_min, s_min, drift = store_minima(st, dest, since[pick], pick, prob, std, run_min, fire)
    # warning keeps its previous value until the test is armed (as in the scalar update)
    with np.errstate(invalid="ignore"):
        warning = ps[pick] > p_min + config.warning_threshold * s_min
    st.warning[dest] = np.where(armed[pick], warning & ~drift, st.warning[dest])
    return last
