"""Vectorised exact two-sample KS path and the Kolmogorov distribution (private helpers).

Used by :mod:`detectors.incremental_ks` and :mod:`detectors.bank`. :func:`ks_path` gives the
statistic ``ks_2samp(reference, window_t).statistic`` of every step ``t`` of a sliding window over
a batch with integer counts on a sorted grid: the window count at or below each grid point moves
by one step per insertion / eviction, so the per-step counts are cumulative sums of +-1 events.
Everything is integer until the final division, so the result is bit-identical to the treap's and
to scipy's (see :func:`detectors._treap.lcm_statistic`).

When scipy reports ``d`` as ``h / lcm`` (sizes up to 10,000) only the integer extremes of ``D``
matter: the grid is then the window keys alone (the largest ``D`` between two of them, reached at
the last reference value before the next key, is ``D`` at the previous key plus a constant). On a
``(grid, steps)`` layout each step's move of ``D`` is a pair of step functions of the grid (two
comparisons), and one contiguous cumulative sum over the steps gives ``D`` at every step, in the
thread's shared work arrays (fresh ones would be page-faulted anew on every call).
"""

from __future__ import annotations

import math

import numpy as np

from detectors._treap import lcm_statistic, uses_lcm_rounding
from detectors._workspace import shared_workspace

__all__ = ["kolmogorov_sf", "ks_p_value", "ks_path", "ks_path_sparse", "safe_statistic_bound"]

#: cells (steps x grid points) of the largest intermediate array
MAX_CELLS = 1 << 16
#: the same for the integer-only path (scipy's lcm rounding), whose work arrays are shared
LCM_MAX_CELLS = 1 << 18
#: a segment of window_size // SEGMENT_DIVISOR steps shares one grid
SEGMENT_DIVISOR = 2


def _compressed_grid(reference: np.ndarray, window_values: np.ndarray) -> np.ndarray:
    """Grid on which the max / min of ``D`` over ``reference ∪ window`` are attained.

    Between two consecutive window keys only the reference count grows, so ``D`` increases:
    its max there is at the last reference key before the next window key and its min at the
    preceding window key. Other reference keys are dropped.
    """
    win_keys = np.unique(window_values)
    ref_keys = np.unique(reference)
    # last reference key strictly below each window key, and the largest reference key
    below = np.searchsorted(ref_keys, win_keys, side="left") - 1
    keep = ref_keys[np.unique(np.r_[below[below >= 0], len(ref_keys) - 1])]
    return np.union1d(win_keys, keep)


def ks_path(
    reference: np.ndarray,
    window: np.ndarray,
    batch: np.ndarray,
    window_size: int,
    *,
    max_cells: int = MAX_CELLS,
) -> np.ndarray:
    """KS statistic after each step of sliding ``window`` over ``batch``.

    Parameters
    ----------
    reference : ndarray
        Sorted reference sample.
    window : ndarray
        Current window contents, oldest first, ``len(window) <= window_size``.
    batch : ndarray
        Values appended one at a time; the oldest value leaves once the window is full.
    window_size : int
        Capacity of the window.
    max_cells : int
        Bound on the size of the intermediate ``(steps, grid)`` arrays.

    Returns
    -------
    ndarray
        ``stats[t]`` equals ``scipy.stats.ks_2samp(reference, window_t).statistic`` where
        ``window_t`` is the window after appending ``batch[t]``; NaN while it is not full.
    """
    n_ref, n_win = len(reference), int(window_size)
    n_old, n_batch = len(window), len(batch)
    out = np.full(n_batch, np.nan)
    first_full = max(0, n_win - n_old - 1)
    if first_full >= n_batch:
        return out
    lcm_mode = uses_lcm_rounding(n_ref, n_win)
    g = math.gcd(n_ref, n_win)
    # |D| <= n_ref * n_win bounds every partial sum below
    dtype = np.int32 if n_ref * n_win < 2**31 - 1 else np.int64
    # one segment of steps shares a grid; its length bounds the grid size
    seg_len = max(64, n_win // SEGMENT_DIVISOR)
    seq = np.concatenate([window, batch])
    if lcm_mode and max_cells == MAX_CELLS:
        max_cells = LCM_MAX_CELLS
    start = 0
    while start < n_batch:
        stop = min(n_batch, start + seg_len)
        lo = max(0, n_old + start - n_win)  # first seq index still in the window at `start`
        if lcm_mode:
            # window keys only: between two of them D rises with the reference count, so its
            # largest value there is D at the previous key plus the reference values strictly
            # in between (``rise``); its smallest values are at window keys
            grid = np.unique(seq[lo : n_old + stop])
        else:
            grid = _compressed_grid(reference, seq[lo : n_old + stop])
        n_grid = len(grid)
        c1 = np.searchsorted(reference, grid, side="right")
        if lcm_mode:
            below = np.searchsorted(reference, grid, side="left")
            rise = ((below - np.r_[0, c1[:-1]]) * n_win).astype(dtype)
            rise_after = np.r_[rise[1:], (n_ref - int(c1[-1])) * n_win].astype(dtype)
            grid_index = np.arange(n_grid, dtype=np.int32)[:, None]
        pos = np.searchsorted(grid, seq[lo : n_old + stop])
        # per-point increments of D: n_win per reference value, -n_ref per window value
        base = np.diff(c1, prepend=0) * n_win
        base -= np.bincount(pos[: n_old + start - lo], minlength=n_grid) * n_ref
        base = base.astype(dtype)
        chunk = max(1, max_cells // n_grid)
        for s in range(start, stop, chunk):
            e = min(stop, s + chunk)
            steps = np.arange(s, e)
            rows = steps - s
            leaving = n_old + steps - n_win
            has_out = leaving >= 0
            if e <= first_full:
                # none of these steps fills the window: only the increments move
                np.subtract.at(base, pos[n_old + steps - lo], n_ref)
                np.add.at(base, pos[leaving[has_out] - lo], n_ref)
                continue
            valid = steps >= first_full
            if lcm_mode:
                # D is linear in the events. On the transposed (grid, steps) layout, step r
                # moves D by -n_ref at and above its entering key and +n_ref at and above its
                # leaving key: two comparisons give those step functions, one contiguous cumsum
                # over the steps adds them up; integers, so the order changes nothing
                n_steps = e - s
                entering = pos[n_old + steps - lo].astype(np.int32)
                exiting = np.full(n_steps, n_grid, dtype=np.int32)  # n_grid: nothing leaves
                exiting[has_out] = pos[leaving[has_out] - lo]
                work = shared_workspace()
                up = np.greater_equal(grid_index, exiting,
                                      out=work.get("ks_up", n_grid, n_steps, np.int8))
                down = np.greater_equal(grid_index, entering,
                                        out=work.get("ks_down", n_grid, n_steps, np.int8))
                up -= down
                dt = np.multiply(up, dtype(n_ref), out=work.get("ks_d", n_grid, n_steps, dtype))
                dt[:, 0] += np.cumsum(base, dtype=dtype)  # D before the first step
                np.cumsum(dt, axis=1, out=dt)
                base = base - (np.bincount(entering, minlength=n_grid) * n_ref).astype(dtype)
                base += (np.bincount(exiting[has_out], minlength=n_grid) * n_ref).astype(dtype)
                if not valid.all():
                    dt = dt[:, valid]
                low = dt.min(axis=0)
                # the largest D between two window keys is D at the lower key plus the rise
                # up to the next one (rises are >= 0, so D at the keys never exceeds it)
                dt += rise_after[:, None]
                hi = dt.max(axis=0)
                np.maximum(hi, rise[0], out=hi)
                d_abs = np.maximum(hi, -low).astype(np.int64)
                out[steps[valid]] = (d_abs // g) * 1.0 / ((n_ref // g) * n_win)
                continue
            d = np.zeros((e - s, n_grid), dtype=dtype)
            d[rows, pos[n_old + steps - lo]] = -n_ref
            d[rows[has_out], pos[leaving[has_out] - lo]] += n_ref
            np.cumsum(d, axis=0, out=d)
            d += base
            base = d[-1].copy()
            np.cumsum(d, axis=1, out=d)
            if not valid.all():
                d = d[valid]
            c2 = (c1 * np.int64(n_win) - d) // n_ref
            diff = c1 / n_ref - c2 / n_win
            hi = diff.max(axis=1)
            low = np.clip(-diff.min(axis=1), 0.0, 1.0)
            out[steps[valid]] = np.maximum(low, hi)
        start = stop
    return out


#: a gap of fewer steps than this is computed densely (one statistic alone costs ~8 steps)
MIN_SKIP = 12
#: steps computed densely at once where the statistic is near the bound (first block, largest)
MIN_DENSE_BLOCK = 16
DENSE_BLOCK = 256


def _statistic_after(reference: np.ndarray, window: np.ndarray, n_win: int) -> float:
    """``ks_2samp(reference, window).statistic`` in scipy's lcm rounding, for one full window.

    ``D(x) = c_ref(x) n_win - c_win(x) n_ref`` rises only at reference values and falls only at
    window values, so its maximum is at a reference value and its minimum at a window value.
    Counting position ``i + 1`` for the ``i``-th sorted value undercounts inside a run of ties,
    which only lowers the maximum (raises the minimum) at a non-last tie: the extremes, reached
    at the last value of each run, are exact.
    """
    n_ref = len(reference)
    win = np.sort(window)
    ranks = np.arange(1, max(n_ref, n_win) + 1, dtype=np.int64)
    high = ranks[:n_ref] * n_win - np.searchsorted(win, reference, side="right") * n_ref
    low = np.searchsorted(reference, win, side="right") * n_win - ranks[:n_win] * n_ref
    d_abs = max(int(high.max()), -int(low.min()), 0)
    return lcm_statistic(d_abs, n_ref, n_win)


def ks_path_sparse(
    reference: np.ndarray,
    window: np.ndarray,
    batch: np.ndarray,
    window_size: int,
    below: float,
) -> np.ndarray:
    """:func:`ks_path`, leaving out steps whose statistic provably stays ``<= below``.

    Once the window is full each step adds one value and drops one, which moves the window's
    ECDF by at most ``1 / window_size`` anywhere, so the statistic moves by at most that much
    per step. From a step with statistic ``d``, the next ``floor((below - d) * window_size)``
    steps cannot exceed ``below``: they are skipped (NaN) and the next one is computed alone.
    Where the gap is short the steps are computed densely. Every value returned equals
    :func:`ks_path`'s (same integer arithmetic), the last step is always computed, and a test
    with a threshold above ``below`` rejects at exactly the same steps. In control (statistic
    well under a threshold of a small false-alarm rate) this computes a few percent of the
    steps. Without scipy's lcm rounding (samples over 10,000) it is :func:`ks_path`.
    """
    n_old, n_batch, n_win = len(window), len(batch), int(window_size)
    if not uses_lcm_rounding(len(reference), n_win) or not math.isfinite(below):
        return ks_path(reference, window, batch, n_win)
    out = np.full(n_batch, np.nan)
    t = max(0, n_win - n_old - 1)  # first step after which the window is full
    if t >= n_batch:
        return out
    seq = np.concatenate([window, batch])

    def alone(step: int) -> float:
        stop = n_old + step + 1
        return _statistic_after(reference, seq[stop - n_win : stop], n_win)

    out[t] = d = alone(t)
    # Dense blocks start small and double while the statistic stays near the bound: a
    # detector that resets on a detection recomputes everything after it anyway.
    block = MIN_DENSE_BLOCK
    while t < n_batch - 1:
        gap = math.floor((below - d) * n_win)
        if gap >= MIN_SKIP:
            t = min(t + gap + 1, n_batch - 1)
            out[t] = d = alone(t)
            block = MIN_DENSE_BLOCK
            continue
        start, stop = t + 1, min(n_batch, t + 1 + block)
        out[start:stop] = ks_path(reference, seq[max(0, n_old + start - n_win) : n_old + start],
                                  batch[start:stop], n_win)
        t = stop - 1
        d = out[t]
        block = min(2 * block, DENSE_BLOCK)
    return out


def safe_statistic_bound(threshold: float, en: float, alpha: float, n_win: int) -> float:
    """A statistic bound under which neither ``statistic > threshold`` nor a p-value
    ``kolmogorov_sf(en * statistic) <= alpha`` can hold (two steps of margin for rounding)."""
    lo, hi = 0.0, 1.0
    if kolmogorov_sf(en * hi)[0] > alpha:
        return float(min(threshold, hi)) - 2.0 / n_win
    for _ in range(60):  # smallest statistic whose p-value reaches alpha
        mid = 0.5 * (lo + hi)
        if kolmogorov_sf(en * mid)[0] <= alpha:
            hi = mid
        else:
            lo = mid
    return min(threshold, lo) - 2.0 / n_win


def kolmogorov_sf(x: np.ndarray | float) -> np.ndarray:
    """Survival function of the Kolmogorov distribution (``scipy.stats.kstwobign.sf``).

    Uses ``1 - sqrt(2 pi) / x * sum exp(-(2k-1)^2 pi^2 / (8 x^2))`` below ``x = 1`` and the
    alternating series ``2 * sum (-1)^(k-1) exp(-2 k^2 x^2)`` above, both converged to double
    precision by 20 terms.
    """
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    out = np.ones_like(x)
    k = np.arange(1, 21, dtype=np.float64)
    small = (x > 0) & (x < 1.0)
    if small.any():
        xs = x[small][:, None]
        terms = np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * xs**2))
        out[small] = 1.0 - math.sqrt(2 * math.pi) / xs[:, 0] * terms.sum(axis=1)
    large = x >= 1.0
    if large.any():
        xl = x[large][:, None]
        signs = np.where(k % 2 == 1, 1.0, -1.0)
        out[large] = 2.0 * (signs * np.exp(-2 * k**2 * xl**2)).sum(axis=1)
    return np.clip(out, 0.0, 1.0)


def ks_p_value(statistic: np.ndarray | float, n_ref: int, n_win: int) -> np.ndarray:
    """Asymptotic two-sided p-value ``kolmogorov_sf(sqrt(m n / (m + n)) * statistic)``."""
    en = math.sqrt(n_ref * n_win / (n_ref + n_win))
    return kolmogorov_sf(en * np.asarray(statistic, dtype=np.float64))
