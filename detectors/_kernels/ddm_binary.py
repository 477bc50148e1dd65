"""Pass of the DDM kernel over 0/1 errors: every test exact, in shared work arrays.

:func:`binary_pass` advances ``k`` tests of :mod:`detectors._kernels.ddm` over a stretch of 0/1
rows: error counts by ``np.cumsum``, ``p``, ``s`` and ``p + s`` elementwise, the running minimum
of ``p + s`` by ``np.minimum.accumulate`` and the row of its last update by
``np.maximum.accumulate``, which picks the drift level ``p_min + d * s_min`` in force at each
row. Each operation is the IEEE operation of the per-value update of :class:`detectors.ddm.DDM`,
so the results are bit for bit those of the loop. Scratch arrays come from the thread's shared
workspace: fresh arrays of a pass's size would be mapped and page-faulted anew every time.
"""

from __future__ import annotations

import math

import numpy as np

from driftline.detectors._kernels.ddm_state import DDMConfig, DDMState, first_fires, store_minima
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors._kernels.workspace import shared_workspace

__all__ = ["binary_pass"]


def binary_pass(
    config: DDMConfig, st: DDMState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, hits: Hits,
) -> np.ndarray:
    """Advance tests ``cols`` over 0/1 rows ``[p + offset, stop)``; return the rows consumed.

    Test ``k`` starts at row ``p + offset[k]``; its rows before are masked (no errors, never
    armed), which leaves its sums as they were.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _binary_pass(config, st, x, p, stop, cols, offset, hits)


def _binary_pass(
    config: DDMConfig, st: DDMState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, hits: Hits,
) -> np.ndarray:
    n_steps, k = stop - p, len(cols)
    work = shared_workspace()
    every = k == len(st.n)
    sel = slice(None) if every else cols  # a slice indexes the state faster than all columns
    xc = x[p:stop] if every else x[p:stop][:, cols]
    n0 = st.n[sel]
    shifted = bool(offset.any())
    steps = np.arange(1, n_steps + 1, dtype=np.float64)[:, None]
    if shifted or not (n0 == n0[0]).all():
        counts = np.add(steps, (n0 - offset).astype(np.float64), out=work.get("counts", n_steps, k))
    else:
        counts = steps + float(n0[0])
    s1 = work.get("s1", n_steps, k)
    started = steps > offset if shifted else None
    if started is not None:
        np.multiply(xc, started, out=s1)
    else:
        np.copyto(s1, xc)
    s1[0] += st.s1[sel]
    np.cumsum(s1, axis=0, out=s1)
    # the operations of DDM's update: p = k / n, s = sqrt(p (1 - p) / n)
    prob = np.divide(s1, counts, out=work.get("prob", n_steps, k))
    std = np.subtract(1.0, prob, out=work.get("std", n_steps, k))
    std *= prob
    std /= counts
    np.sqrt(std, out=std)
    ps = np.add(prob, std, out=work.get("ps", n_steps, k))
    all_armed = not shifted and int(n0.min()) >= config.warm_start
    run_min = work.get("run_min", n_steps, k)
    ps_min0 = st.ps_min[sel]
    if all_armed:
        armed = None
        # the stored minimum enters through row 0, restored afterwards (min is exact)
        ps_row0 = ps[0].copy()
        np.minimum(ps_row0, ps_min0, out=ps[0])
        np.minimum.accumulate(ps, axis=0, out=run_min)
        ps[0] = ps_row0
    else:
        armed = counts > config.warm_start
        if started is not None:
            armed &= started
        np.copyto(run_min, ps)
        np.copyto(run_min, math.inf, where=~armed)
        np.minimum(run_min[0], ps_min0, out=run_min[0])
        np.minimum.accumulate(run_min, axis=0, out=run_min)
    # DDM takes (p_min, s_min) where p + s <= the running minimum so far, i.e. where it equals
    # the new running minimum. ``flat`` indexes the drift level in force: row ``r + 1`` of
    # ``levels`` for the last update at row ``r`` (row 0: none yet), flattened
    is_update = ps == run_min
    if armed is not None:
        is_update &= armed
    j = np.arange(k, dtype=np.intp)
    flat = np.multiply(is_update, np.arange(k, (n_steps + 1) * k, k, dtype=np.intp)[:, None],
                       out=work.get("flat", n_steps, k, np.intp))
    np.maximum.accumulate(flat, axis=0, out=flat)
    flat += j
    # drift level p + d * s of every row (row 0: the stored one)
    levels = work.get("levels", n_steps + 1, k)
    levels[0] = st.p_min[sel] + config.drift_threshold * st.s_min[sel]
    np.multiply(std, config.drift_threshold, out=levels[1:])
    levels[1:] += prob
    thr = np.take(levels.ravel(), flat, out=work.get("thr", n_steps, k))
    fire = ps > thr
    if armed is not None:
        fire &= armed
    last = first_fires(fire, p, cols, hits)
    pick = last, j
    p_min, s_min, drift = store_minima(st, sel, (flat[pick] - j) // k, pick, prob, std, run_min,
                                       fire)
    warning = ps[pick] > p_min + config.warning_threshold * s_min
    warning &= ~drift
    # the warning keeps its previous value until the test is armed (as in the scalar update)
    st.warning[sel] = warning if armed is None else np.where(
        armed[pick] if armed.shape[1] == k else armed[last, 0], warning, st.warning[sel])
    st.n[sel] = n0 + last + 1 - offset
    st.s1[sel] = s1[pick]
    st.stat[sel] = ps[pick]
    return last + 1 - offset
