"""General pass of the Page-Hinkley kernel: warm-ups, restarts and statistic paths.

:func:`masked_pass` advances tests over a stretch of rows with running sums (``np.cumsum``) and
running extrema (``np.minimum.accumulate``); tests still estimating sigma take their warm-up
values first, restarted tests are masked before their own start row, and the statistic after
every row can be recorded (calibration). Without a path, a cheap bound screens out the tests
that cannot fire in the pass (:func:`_screen`). Every operation is the IEEE operation of the
per-value update of :class:`detectors.page_hinkley.PageHinkley`, so results are bit for bit
those of the loop.
"""

from __future__ import annotations

import numpy as np

from driftline.detectors._kernels.page_hinkley_state import PHConfig, PHState, warmup_std
from driftline.detectors._kernels.scheduler import Hits

__all__ = ["masked_pass"]

#: rows per block of the screening bound (see :func:`_screen`)
SCREEN_ROWS = 32


def masked_pass(
    config: PHConfig, st: PHState, x: np.ndarray, p: int, stop: int, cols: np.ndarray,
    offset: np.ndarray, path: np.ndarray | None, hits: Hits,
) -> np.ndarray:
    """Advance tests ``cols`` over rows ``[p + offset, stop)``; return the rows consumed by each.

    Test ``k`` starts at row ``p + offset[k]``; a test with ``offset > 0`` was just restarted
    (all its sums are ``0.0``), and its rows before the start are masked with zeros. In-place
    numpy operations, each the same IEEE operation as the scalar update.
    """
    n_steps = stop - p
    every = len(cols) == len(st.n)
    xc = x[p:stop] if every else x[p:stop][:, cols]
    steps = np.arange(1, n_steps + 1)
    shifted = bool(offset.any())
    n0 = st.n[cols]
    # rows consumed before the test is armed: its own start offset plus the remaining warm-up
    warming = np.isnan(st.sigma[cols])
    warm_left = np.where(warming, config.warmup - st.count[cols], 0)
    first_live = offset + warm_left
    started = steps[:, None] > offset if shifted else None
    s = np.where(started, xc, 0.0) if shifted else xc.copy()
    s[0] += st.sum[cols]
    np.cumsum(s, axis=0, out=s)  # running sums
    counts = n0 + (steps[:, None] - offset) if shifted or not (n0 == n0[0]).all() else (
        (n0[0] + steps)[:, None])
    sigma = st.sigma[cols]
    if warming.any():
        sigma = sigma.copy()
        for k in np.flatnonzero(warming & (first_live <= n_steps)):
            f = cols[k]
            buffer = np.r_[st.buf[: st.count[f], f], xc[offset[k] : first_live[k], k]]
            sigma[k] = warmup_std(buffer)
    ref_mean = config.ref_mean[cols]
    running = np.isnan(ref_mean)
    fcounts = counts.astype(np.float64) if running.any() else counts
    with np.errstate(divide="ignore", invalid="ignore"):
        if not running.any():
            dev = xc - ref_mean
        else:
            dev = s / fcounts if running.all() else np.where(running, s / fcounts, ref_mean)
            np.subtract(xc, dev, out=dev)
        np.divide(dev, sigma, out=dev)
    inc_up = dev - config.delta
    inc_down = dev
    np.add(inc_down, config.delta, out=inc_down)
    live = None
    if shifted or warming.any():
        live = steps[:, None] > first_live
        inc_up = np.where(live, inc_up, 0.0)
        inc_down = np.where(live, inc_down, 0.0)
    mu, md = inc_up, inc_down
    mu[0] += st.up[cols]
    np.cumsum(mu, axis=0, out=mu)
    md[0] += st.down[cols]
    np.cumsum(md, axis=0, out=md)
    armed = counts >= config.min_instances
    if live is not None:
        armed = armed & live
    thresholds = config.thresholds[cols]
    k = np.arange(len(cols))
    if path is not None or n_steps < 2 * SCREEN_ROWS:
        sub, r0 = k, 0
        mu_min_end = md_max_end = None
        mu_min_init, md_max_init = st.up_min[cols], st.down_max[cols]
    else:
        sub, r0, mu_min_init, md_max_init, mu_min_end, md_max_end = _screen(
            config, st.up_min[cols], st.down_max[cols], mu, md, thresholds)
    last = np.full(len(cols), n_steps - 1)
    drift = np.zeros(len(cols), dtype=bool)
    su_end = sd_end = None
    if len(sub):
        # exact running extrema of the tests that may fire (all of them without screening)
        # (rows before r0 cannot fire; the extrema up to r0 come from the screening)
        mu_s, md_s = (mu[r0:], md[r0:]) if len(sub) == len(cols) else (mu[r0:, sub],
                                                                        md[r0:, sub])
        sub_cols = cols[sub]
        mu_min = np.minimum.accumulate(mu_s, axis=0)
        np.minimum(mu_min, mu_min_init, out=mu_min)
        md_max = np.maximum.accumulate(md_s, axis=0)
        np.maximum(md_max, md_max_init, out=md_max)
        su = mu_s - mu_min
        sd = md_max - md_s
        stat = {"up": su, "down": sd, "both": None}[config.direction]
        if stat is None:
            stat = np.maximum(su, sd)
        fire = stat > thresholds[sub]
        fire &= armed[r0:] if armed.shape[1] == 1 or len(sub) == len(cols) else armed[r0:, sub]
        sub_last = last[sub] - r0
        if config.reset_on_drift:
            fired = fire.any(axis=0)
            if fired.any():
                sub_last[fired] = np.argmax(fire[:, fired], axis=0)
                last[sub] = sub_last + r0
                fire &= steps[: n_steps - r0, None] <= sub_last + 1
        hit_rows, hit_k = np.nonzero(fire)
        hits.add(hit_rows + p + r0, sub_cols[hit_k])
        if path is not None:
            keep = armed & (steps[:, None] <= sub_last + 1)
            path[p:stop, cols] = np.where(keep, stat, path[p:stop, cols])
        j = np.arange(len(sub))
        drift[sub] = fire[sub_last, j]
        if len(sub) == len(cols):
            mu_min_end, md_max_end = mu_min[sub_last, j], md_max[sub_last, j]
            su_end, sd_end = su[sub_last, j], sd[sub_last, j]
        else:
            assert mu_min_end is not None and md_max_end is not None
            mu_min_end[sub] = mu_min[sub_last, j]
            md_max_end[sub] = md_max[sub_last, j]
    assert mu_min_end is not None and md_max_end is not None
    lengths = last + 1 - offset
    pick = last, k
    st.sum[cols] = np.where(running, s[pick], st.sum[cols])  # the sum serves the running mean
    st.n[cols] = n0 + lengths
    st.up[cols] = mu[pick]
    st.down[cols] = md[pick]
    st.up_min[cols] = mu_min_end
    st.down_max[cols] = md_max_end
    if su_end is None:
        # screened tests: the scalar's stat_up = up - up_min
        st.stat_up[cols] = st.up[cols] - mu_min_end
        st.stat_down[cols] = md_max_end - st.down[cols]
        if len(sub):
            st.stat_up[cols[sub]] = su[sub_last, j]
            st.stat_down[cols[sub]] = sd[sub_last, j]
    else:
        st.stat_up[cols] = su_end
        st.stat_down[cols] = sd_end
    for i in np.flatnonzero(warming):
        f, start = cols[i], st.count[cols[i]]
        used = min(int(warm_left[i]), int(lengths[i]))
        st.buf[start : start + used, f] = xc[offset[i] : offset[i] + used, i]
        st.count[f] = start + used
        if st.count[f] == config.warmup:
            st.sigma[f] = sigma[i]
    st.drift[cols] = drift
    if config.reset_on_drift:
        st.pending[cols] = drift
    return lengths


def _screen(
    config: PHConfig, mu_min0: np.ndarray, md_max0: np.ndarray, mu: np.ndarray, md: np.ndarray,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tests that may fire in this pass, the row where exact work starts and the extrema.

    Returns the candidate tests, the first row of the first block where one of them may fire,
    their running minimum of ``mu`` / maximum of ``md`` before that row, and the exact extrema
    of every test at the end of the pass.

    Inside a block of ``SCREEN_ROWS`` rows, ``su = mu - min(mu so far)`` is at most the block's
    largest ``mu`` minus the smallest ``mu`` up to the block's end (rounding is monotone, so the
    bound holds in floating point too), and likewise for ``sd``. Tests whose bound stays at or
    below their threshold cannot fire; minima and maxima are exact whatever the grouping.
    """
    starts = np.arange(0, len(mu), SCREEN_ROWS)
    low = np.minimum.accumulate(np.minimum.reduceat(mu, starts, axis=0), axis=0)
    np.minimum(low, mu_min0, out=low)
    high = np.maximum.accumulate(np.maximum.reduceat(md, starts, axis=0), axis=0)
    np.maximum(high, md_max0, out=high)
    bound_up = np.maximum.reduceat(mu, starts, axis=0)
    bound_up -= low
    bound_down = high - np.minimum.reduceat(md, starts, axis=0)
    bound = {"up": bound_up, "down": bound_down, "both": None}[config.direction]
    if bound is None:
        bound = np.maximum(bound_up, bound_down)
    over = bound > thresholds
    maybe = np.flatnonzero(over.any(axis=0))
    if len(maybe) == 0:
        return maybe, 0, mu_min0, md_max0, low[-1].copy(), high[-1].copy()
    # exact work starts at the first block that may fire, from the extrema before it
    first = int(np.argmax(over[:, maybe], axis=0).min())
    if first == 0:
        mu_init, md_init = mu_min0[maybe], md_max0[maybe]
    else:
        mu_init, md_init = low[first - 1, maybe], high[first - 1, maybe]
    return maybe, first * SCREEN_ROWS, mu_init, md_init, low[-1].copy(), high[-1].copy()
