"""Steady pass of the Page-Hinkley kernel: tests whose sigma is known, no statistic path.

The common case (pinned references, or a warm-up already done): running sums with
``np.cumsum``, running extrema with ``np.minimum.accumulate``, all in the thread's reusable work
arrays (fresh arrays of a pass's size would be mapped, and page-faulted, anew on every pass).
Every operation is the same IEEE operation, in the same order, as the per-value update of
:class:`detectors.page_hinkley.PageHinkley`, so results are bit for bit those of the loop.
"""

from __future__ import annotations

import numpy as np

from driftline.detectors._kernels.page_hinkley_state import PHConfig, PHState
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors._kernels.workspace import shared_workspace

__all__ = ["steady_pass"]


def steady_pass(
    config: PHConfig, st: PHState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, hits: Hits,
) -> np.ndarray:
    """Advance tests ``cols`` (sigma known, not pending) over rows ``[p + offset, stop)``.

    A test with ``offset > 0`` was just restarted (its sums are all ``0.0``); its rows before
    ``p + offset`` are masked (zero increments leave the fresh sums exactly at ``0.0``). Returns
    the rows consumed by each (up to its first detection when ``reset_on_drift``).
    """
    every = len(cols) == len(st.n)
    sel = slice(None) if every else cols  # a slice indexes the state faster than all columns
    xc = x[p:stop] if every else x[p:stop, cols]
    n_steps, k = xc.shape
    work = shared_workspace()
    n0 = st.n[sel]
    ref_mean = config.ref_mean[sel]
    running = np.isnan(ref_mean)
    shifted = bool(offset.any())
    before = np.arange(n_steps)[:, None] < offset if shifted else None
    dev = work.get("dev", n_steps, k)
    s = None
    if running.any():
        s = work.get("s", n_steps, k)
        np.copyto(s, xc)
        if before is not None:
            np.copyto(s, 0.0, where=before)
        s[0] += st.sum[sel]
        np.cumsum(s, axis=0, out=s)  # running sums of the values, only for the running mean
        counts = (n0 - offset + np.arange(1, n_steps + 1)[:, None]).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(s, counts, out=dev)
        np.copyto(dev, ref_mean, where=~running)
        np.subtract(xc, dev, out=dev)
    else:
        np.subtract(xc, ref_mean, out=dev)
    np.divide(dev, st.sigma[sel], out=dev)
    mu = np.subtract(dev, config.delta, out=work.get("mu", n_steps, k))
    md = np.add(dev, config.delta, out=dev)
    if before is not None:
        np.copyto(mu, 0.0, where=before)
        np.copyto(md, 0.0, where=before)
    mu[0] += st.up[sel]
    np.cumsum(mu, axis=0, out=mu)
    md[0] += st.down[sel]
    np.cumsum(md, axis=0, out=md)
    # running extrema, then the statistic of each side (the same operations as the scalar)
    # the stored extrema enter through row 0, restored afterwards (extrema are exact)
    row0 = mu[0].copy()
    np.minimum(row0, st.up_min[sel], out=mu[0])
    run_min = np.minimum.accumulate(mu, axis=0, out=work.get("run_min", n_steps, k))
    mu[0] = row0
    row0 = md[0].copy()
    np.maximum(row0, st.down_max[sel], out=md[0])
    run_max = np.maximum.accumulate(md, axis=0, out=work.get("run_max", n_steps, k))
    md[0] = row0
    su = np.subtract(mu, run_min, out=work.get("su", n_steps, k))
    sd = np.subtract(run_max, md, out=work.get("sd", n_steps, k))
    if config.direction == "both":
        stat = np.maximum(su, sd, out=work.get("stat", n_steps, k))
    else:
        stat = su if config.direction == "up" else sd
    fire = stat > config.thresholds[sel]
    # rows before min_instances values since the restart cannot fire
    unarmed = config.min_instances - n0 + offset - 1
    if (unarmed > 0).any():
        fire &= np.arange(n_steps)[:, None] >= unarmed
    last = np.full(k, n_steps - 1)
    if fire.any():
        fired = fire.any(axis=0)
        if config.reset_on_drift:
            last[fired] = np.argmax(fire[:, fired], axis=0)
            hit = np.flatnonzero(fired)
            hits.add(last[hit] + p, cols[hit])
        else:
            hit_rows, hit_k = np.nonzero(fire)
            hits.add(hit_rows + p, cols[hit_k])
    pick = last, np.arange(k)
    if s is not None:
        st.sum[sel] = np.where(running, s[pick], st.sum[sel])
    st.n[sel] = n0 + last + 1 - offset
    st.up[sel] = mu[pick]
    st.down[sel] = md[pick]
    st.up_min[sel] = run_min[pick]
    st.down_max[sel] = run_max[pick]
    st.stat_up[sel] = su[pick]
    st.stat_down[sel] = sd[pick]
    drift = fire[pick]
    st.drift[sel] = drift
    if config.reset_on_drift:
        st.pending[sel] = drift
    return last + 1 - offset
