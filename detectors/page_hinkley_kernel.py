"""Array kernel of Page-Hinkley: ``n`` independent tests advanced together over rows.

Shared by :class:`detectors.page_hinkley.PageHinkley` (``n = 1``) and
:class:`detectors.page_hinkley_bank.PageHinkleyBank`; its arithmetic is the same, operation for
operation, as the per-value update of the scalar detector, so both paths agree bit for bit.

How it vectorises: between two detections the cumulative sums are running sums (``np.cumsum``
starting from the stored sum, so the additions happen in the same order as a loop) and their
extrema are running extrema (``np.minimum.accumulate``). With a forgetting factor ``alpha < 1``
the recursion ``m_t = alpha m_{t-1} + inc_t`` is rewritten as ``m_t = alpha^j M_t`` with
``M_t = M_{t-1} + inc_t alpha^-j``, a plain running sum inside blocks of ``block`` values,
renormalised at block ends (both paths renormalise at the same counts).

Rows are processed in passes over ``(rows, tests)`` arrays. A test cut short by a detection
restarts at the next row; in the following pass the tests that restarted at different rows share
one array, each masked (zero increments, which leave restarted sums exactly at their fresh value
``0.0``) before its own start row, so a detection costs one more pass for all the tests that
fired, not one per test. Without forgetting (and without a statistic path) the armed tests take
the whole-batch passes of :mod:`detectors.page_hinkley_fast`; the passes here serve the others.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.bank_base import sorted_hits
from driftline.detectors.page_hinkley import PHCore, warmup_std
from driftline.detectors.page_hinkley_fast import advance_steady

__all__ = ["PHState", "advance"]

#: values per vectorised chunk (rows x tests): arrays of one pass stay below the allocator's
#: mmap threshold (128 KiB), which would otherwise cost page faults on every pass
CHUNK_VALUES = 12288
#: rows per block of the screening bound (see :func:`_screen`)
SCREEN_ROWS = 32
#: the pass that follows a detection covers at least FIRST_SPAN rows and up to RESTART_CELLS
#: values; its length doubles while no detection cuts a pass short
FIRST_SPAN = 256
RESTART_CELLS = 8192


class PHState:
    """Running state of ``n`` Page-Hinkley tests (arrays of length ``n``)."""

    FLOATS = ("s", "sigma", "mu", "mu_min", "md", "md_max", "su", "sd")

    def __init__(self, core: PHCore) -> None:
        n = len(core.thresholds)
        self.j = 0
        self.n = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.buf = np.zeros((core.warmup, n))
        self.pending = np.zeros(n, dtype=bool)
        self.drift = np.zeros(n, dtype=bool)
        for key in self.FLOATS:
            setattr(self, key, np.zeros(n))
        self.sigma = core.ref_std.copy()

    def restart(self, core: PHCore, mask: np.ndarray) -> None:
        """Restart the tests in ``mask``: sums, counts, running mean and (if estimated) sigma."""
        for key in ("s", "mu", "mu_min", "md", "md_max", "su", "sd"):
            getattr(self, key)[mask] = 0.0
        self.n[mask] = 0
        self.count[mask] = 0
        self.sigma[mask] = core.ref_std[mask]
        self.pending[mask] = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, key).tolist() for key in self.FLOATS}
        out["sigma"] = [None if math.isnan(v) else v for v in out["sigma"]]
        out["j"] = self.j
        out["n"] = self.n.tolist()
        out["pending"] = self.pending.tolist()
        out["drift"] = self.drift.tolist()
        out["buffers"] = [self.buf[: c, f].tolist() for f, c in enumerate(self.count)]
        return out

    def from_json(self, data: dict[str, Any]) -> None:
        for key in self.FLOATS:
            values = [math.nan if v is None else v for v in data[key]]
            setattr(self, key, np.asarray(values, dtype=np.float64))
        self.j = int(data["j"])
        self.n = np.asarray(data["n"], dtype=np.int64)
        self.pending = np.asarray(data["pending"], dtype=bool)
        self.drift = np.asarray(data["drift"], dtype=bool)
        self.buf[:] = 0.0
        self.count = np.asarray([len(b) for b in data["buffers"]], dtype=np.int64)
        for f, values in enumerate(data["buffers"]):
            self.buf[: len(values), f] = values


def advance(
    core: PHCore, st: PHState, x: np.ndarray, path: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Consume rows ``x`` (shape ``(L, n)``); return the detections as (rows, tests).

    If ``path`` (shape ``(L, n)``, NaN-filled) is given it receives the statistic after every
    row, left NaN where a detection was not yet possible (warm-up, ``min_instances``).
    Without forgetting and without ``path``, the fast path of
    :mod:`detectors.page_hinkley_fast` runs (same results).
    """
    if core.block == 0 and path is None:
        return advance_steady(core, st, x, _advance_from)
    return _advance_general(core, st, x, path, None)


def _advance_from(
    core: PHCore, st: PHState, x: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return _advance_general(core, st, x, None, start)


def _advance_general(
    core: PHCore, st: PHState, x: np.ndarray, path: np.ndarray | None,
    start: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Masked passes over rows ``x``; test ``k`` starts at row ``start[k]`` (default 0)."""
    n_rows = len(x)
    rows_out: list[np.ndarray] = []
    tests_out: list[np.ndarray] = []
    chunk_rows = max(64, CHUNK_VALUES // max(1, x.shape[1]))
    r = 0
    while r < n_rows:
        end = min(n_rows, r + chunk_rows)
        if core.block:
            end = min(end, r + core.block - st.j)
        pos = np.full(x.shape[1], r) if start is None else np.clip(start, r, end)
        _advance_chunk(core, st, x, r, end, pos, path, rows_out, tests_out)
        if core.block:
            st.j += end - r
            if st.j == core.block:
                factor = core.powers[core.block]
                for key in ("mu", "mu_min", "md", "md_max"):
                    setattr(st, key, getattr(st, key) * factor)
                st.j = 0
        r = end
    return sorted_hits(rows_out, tests_out)


def _advance_chunk(
    core: PHCore, st: PHState, x: np.ndarray, r: int, end: int, pos: np.ndarray,
    path: np.ndarray | None, rows_out: list[np.ndarray], tests_out: list[np.ndarray],
) -> None:
    """Advance every test from row ``pos[k]`` to ``end`` (inside one renormalisation block)."""
    span = end - r
    while True:
        waiting = pos < end
        if not waiting.any():
            return
        p = int(pos[waiting].min())
        stop = min(end, p + span)
        cols = np.flatnonzero(pos < stop)
        if st.pending[cols].any():
            restart = np.zeros_like(st.pending)
            restart[cols] = st.pending[cols]
            st.restart(core, restart)
        consumed = _masked_pass(core, st, x, p, stop, r, cols, pos[cols] - p, path, rows_out,
                                tests_out)
        pos[cols] += consumed
        if (pos[cols] < stop).any():
            # the tests that restarted share the next pass, each masked before its own row
            span = max(FIRST_SPAN, RESTART_CELLS // int(np.count_nonzero(pos < end)))
        else:
            span = min(2 * span, end - r)


def _masked_pass(
    core: PHCore, st: PHState, x: np.ndarray, p: int, stop: int, r: int, cols: np.ndarray,
    offset: np.ndarray, path: np.ndarray | None, rows_out: list[np.ndarray],
    tests_out: list[np.ndarray],
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
    warm_left = np.where(warming, core.warmup - st.count[cols], 0)
    first_live = offset + warm_left
    started = steps[:, None] > offset if shifted else None
    s = np.where(started, xc, 0.0) if shifted else xc.copy()
    s[0] += st.s[cols]
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
    ref_mean = core.ref_mean[cols]
    running = np.isnan(ref_mean)
    fcounts = counts.astype(np.float64) if running.any() else counts
    with np.errstate(divide="ignore", invalid="ignore"):
        if not running.any():
            dev = xc - ref_mean
        else:
            dev = s / fcounts if running.all() else np.where(running, s / fcounts, ref_mean)
            np.subtract(xc, dev, out=dev)
        np.divide(dev, sigma, out=dev)
    inc_up = dev - core.delta
    inc_down = dev
    np.add(inc_down, core.delta, out=inc_down)
    offset_in_block = st.j + (p - r)
    if core.block:
        assert core.powers is not None and core.inverse_powers is not None
        # the position inside the block depends on the row only (every test sees every row)
        weights = core.inverse_powers[offset_in_block + 1 : offset_in_block + n_steps + 1]
        np.multiply(inc_up, weights[:, None], out=inc_up)
        np.multiply(inc_down, weights[:, None], out=inc_down)
    live = None
    if shifted or warming.any():
        live = steps[:, None] > first_live
        inc_up = np.where(live, inc_up, 0.0)
        inc_down = np.where(live, inc_down, 0.0)
    mu, md = inc_up, inc_down
    mu[0] += st.mu[cols]
    np.cumsum(mu, axis=0, out=mu)
    md[0] += st.md[cols]
    np.cumsum(md, axis=0, out=md)
    armed = counts >= core.min_instances
    if live is not None:
        armed = armed & live
    thresholds = core.thresholds[cols]
    k = np.arange(len(cols))
    if core.block or path is not None or n_steps < 2 * SCREEN_ROWS:
        sub, r0 = k, 0
        mu_min_end = md_max_end = None
        mu_min_init, md_max_init = st.mu_min[cols], st.md_max[cols]
    else:
        sub, r0, mu_min_init, md_max_init, mu_min_end, md_max_end = _screen(
            core, st.mu_min[cols], st.md_max[cols], mu, md, thresholds)
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
        if core.block:
            scale = core.powers[offset_in_block + 1 : offset_in_block + n_steps + 1][:, None]
            np.multiply(su, scale, out=su)
            np.multiply(sd, scale, out=sd)
        stat = {"up": su, "down": sd, "both": None}[core.direction]
        if stat is None:
            stat = np.maximum(su, sd)
        fire = stat > thresholds[sub]
        fire &= armed[r0:] if armed.shape[1] == 1 or len(sub) == len(cols) else armed[r0:, sub]
        sub_last = last[sub] - r0
        if core.reset_on_drift:
            fired = fire.any(axis=0)
            if fired.any():
                sub_last[fired] = np.argmax(fire[:, fired], axis=0)
                last[sub] = sub_last + r0
                fire &= steps[: n_steps - r0, None] <= sub_last + 1
        hit_rows, hit_k = np.nonzero(fire)
        if len(hit_rows):
            rows_out.append(hit_rows + p + r0)
            tests_out.append(sub_cols[hit_k])
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
    st.s[cols] = np.where(running, s[pick], st.s[cols])  # the sum serves the running mean
    st.n[cols] = n0 + lengths
    st.mu[cols] = mu[pick]
    st.md[cols] = md[pick]
    st.mu_min[cols] = mu_min_end
    st.md_max[cols] = md_max_end
    if su_end is None:
        # screened tests end unscaled (no forgetting): the scalar's su = mu - mu_min
        st.su[cols] = st.mu[cols] - mu_min_end
        st.sd[cols] = md_max_end - st.md[cols]
        if len(sub):
            st.su[cols[sub]] = su[sub_last, j]
            st.sd[cols[sub]] = sd[sub_last, j]
    else:
        st.su[cols] = su_end
        st.sd[cols] = sd_end
    for i in np.flatnonzero(warming):
        f, start = cols[i], st.count[cols[i]]
        used = min(int(warm_left[i]), int(lengths[i]))
        st.buf[start : start + used, f] = xc[offset[i] : offset[i] + used, i]
        st.count[f] = start + used
        if st.count[f] == core.warmup:
            st.sigma[f] = sigma[i]
    st.drift[cols] = drift
    if core.reset_on_drift:
        st.pending[cols] = drift
    return lengths


def _screen(
    core: PHCore, mu_min0: np.ndarray, md_max0: np.ndarray, mu: np.ndarray, md: np.ndarray,
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
    bound = {"up": bound_up, "down": bound_down, "both": None}[core.direction]
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
