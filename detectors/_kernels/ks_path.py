"""Vectorised exact two-sample KS path (kernel of :mod:`detectors.incremental_ks`).

:func:`ks_path` gives the
statistic ``ks_2samp(reference, window_t).statistic`` of every step ``t`` of a sliding window over
a batch with integer counts on a sorted grid: the window count at or below each grid point moves
by one step per insertion / eviction, so the per-step counts are cumulative sums of +-1 events.
Everything is integer until the final division, so the result is bit-identical to the treap's and
to scipy's (see :func:`detectors._kernels.treap.lcm_statistic`).

When scipy reports ``d`` as ``h / lcm`` (sizes up to 10,000) only the integer extremes of ``D``
matter: the grid is then the window keys alone (the largest ``D`` between two of them, reached at
the last reference value before the next key, is ``D`` at the previous key plus a constant). Each
step's move of ``D`` is a pair of step functions of the grid, so a block of steps only splits the
grid into the intervals between the keys it touches: the block's extremes come from an
``(intervals, steps)`` array and one cumulative sum over the steps (:func:`_lcm_block`).

:func:`ks_path_sparse` leaves out the steps whose statistic provably stays under a bound.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from driftline.detectors._kernels.treap import lcm_statistic, uses_lcm_rounding
from driftline.detectors.kolmogorov import kolmogorov_sf

__all__ = ["ks_path", "ks_path_sparse", "safe_statistic_bound", "statistic_reaching"]

#: cells (steps x grid points) of the largest intermediate array
MAX_CELLS = 1 << 16
#: steps per block of the integer-only path (:func:`_lcm_block`)
LCM_BLOCK = 96
#: a segment of window_size // SEGMENT_DIVISOR steps shares one grid
SEGMENT_DIVISOR = 2


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of floats by sorting (numpy 2's hash-based unique is ~20x slower here)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _lcm_block(base: np.ndarray, entering: np.ndarray, exiting: np.ndarray, n_ref: int,
               rise: np.ndarray, rise_after: np.ndarray, dtype: Any) -> np.ndarray:
    """``max |D|`` (integers, ``n_ref * n_win`` times the statistic) after each step of a block.

    ``base`` holds the per-grid-point increments of ``D`` before the block; step ``t`` lowers
    ``D`` by ``n_ref`` at and above grid index ``entering[t]`` and raises it at and above
    ``exiting[t]`` (``n_grid``: nothing leaves). Only the grid indices the block touches split
    the grid into intervals on which every step moves ``D`` by the same amount, so the extremes
    of ``D`` over an interval keep their place: the block works on an ``(intervals, steps)``
    array -- at most ``2 * steps + 1`` rows instead of one per grid point.
    """
    n_grid = len(base)
    d0 = np.cumsum(base, dtype=dtype)  # D at every grid point before the block
    touched = np.zeros(n_grid + 1, dtype=bool)
    touched[0] = touched[entering] = touched[exiting] = True
    starts = np.flatnonzero(touched[:n_grid])
    low0 = np.minimum.reduceat(d0, starts)
    # the largest D between two window keys is D at the lower key plus the rise to the next
    high0 = np.maximum.reduceat(d0 + rise_after, starts)
    at = starts[:, None]
    up = np.greater_equal(at, exiting).view(np.int8)
    up -= np.greater_equal(at, entering).view(np.int8)
    move = np.multiply(up, dtype(n_ref), dtype=dtype)
    np.cumsum(move, axis=1, out=move)
    low = (move + low0[:, None]).min(axis=0)
    move += high0[:, None]
    high = move.max(axis=0)
    np.maximum(high, rise[0], out=high)
    return np.maximum(high, -low).astype(np.int64)


def _compressed_grid(reference: np.ndarray, window_values: np.ndarray) -> np.ndarray:
    """Grid on which the max / min of ``D`` over ``reference ∪ window`` are attained.

    Between two consecutive window keys only the reference count grows, so ``D`` increases:
    its max there is at the last reference key before the next window key and its min at the
    preceding window key. Other reference keys are dropped.
    """
    win_keys = _sorted_unique(window_values)
    ref_keys = _sorted_unique(reference)
    # last reference key strictly below each window key, and the largest reference key
    below = np.searchsorted(ref_keys, win_keys, side="left") - 1
    keep = ref_keys[_sorted_unique(np.concatenate([below[below >= 0], [len(ref_keys) - 1]]))]
    return _sorted_unique(np.concatenate([win_keys, keep]))


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
    start = 0
    while start < n_batch:
        stop = min(n_batch, start + seg_len)
        lo = max(0, n_old + start - n_win)  # first seq index still in the window at `start`
        if lcm_mode:
            # window keys only: between two of them D rises with the reference count, so its
            # largest value there is D at the previous key plus the reference values strictly
            # in between (``rise``); its smallest values are at window keys
            grid = _sorted_unique(seq[lo : n_old + stop])
        else:
            grid = _compressed_grid(reference, seq[lo : n_old + stop])
        n_grid = len(grid)
        c1 = np.searchsorted(reference, grid, side="right")
        if lcm_mode:
            below = np.searchsorted(reference, grid, side="left")
            rise = below.astype(dtype)
            rise[1:] -= c1[:-1]
            rise *= n_win
            rise_after = np.empty_like(rise)
            rise_after[:-1] = rise[1:]
            rise_after[-1] = (n_ref - int(c1[-1])) * n_win
        pos = np.searchsorted(grid, seq[lo : n_old + stop])
        # per-point increments of D: n_win per reference value, -n_ref per window value
        base = c1.astype(dtype)
        base[1:] -= c1[:-1]
        base *= n_win
        base -= (np.bincount(pos[: n_old + start - lo], minlength=n_grid) * n_ref).astype(dtype)
        chunk = LCM_BLOCK if lcm_mode else max(1, max_cells // n_grid)
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
                entering = pos[n_old + steps - lo]
                exiting = np.full(len(steps), n_grid, dtype=entering.dtype)  # none leaves
                exiting[has_out] = pos[leaving[has_out] - lo]
                d_abs = _lcm_block(base, entering, exiting, n_ref, rise, rise_after, dtype)
                base = base - (np.bincount(entering, minlength=n_grid) * n_ref).astype(dtype)
                base += (np.bincount(exiting[has_out], minlength=n_grid)
                         * n_ref).astype(dtype)
                out[steps[valid]] = (d_abs[valid] // g) * 1.0 / ((n_ref // g) * n_win)
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


#: a gap of fewer steps than this is computed densely (one statistic alone costs ~5 dense steps)
MIN_SKIP = 8
#: steps computed densely at once where the statistic is near the bound
DENSE_BLOCK = 128


class _CodedWindows:
    """Exact statistics of full windows sliding over ``seq``, from 16-bit rank codes.

    A value's code is ``2 * left + tie``: ``left`` reference values lie below it and ``tie``
    says whether it equals one. Values sharing a code are interchangeable for the statistic, so
    a window's ``D`` extremes follow from its codes sorted (a radix sort) instead of its values
    sorted and located in the reference. ``D(x) = c_ref(x) n_win - c_win(x) n_ref`` rises only
    at reference values and falls only at window values: its maximum is just below a window
    value (``left``), its minimum at one (``right``, the reference count at or below it).
    Counting position ``i`` for the ``i``-th sorted value undercounts inside a run of equal
    values, which only lowers the maximum (raises the minimum) at a non-last one: the extremes,
    reached at the last value of each run, are exact. Needs ``2 * len(reference) < 65535``.
    """

    def __init__(self, reference: np.ndarray, seq: np.ndarray, n_win: int,
                 tie_ends: np.ndarray | None = None) -> None:
        n_ref = len(reference)
        left = np.searchsorted(reference, seq, side="left")
        tie = reference[np.minimum(left, n_ref - 1)] == seq if n_ref else np.zeros(len(seq), bool)
        self._codes = (2 * left + tie).astype(np.uint16)
        if tie_ends is None:
            tie_ends = np.searchsorted(reference, reference, side="right")
        counts = np.empty(2 * n_ref + 1, dtype=np.int64)
        counts[0::2] = np.arange(n_ref + 1)
        counts[1::2] = tie_ends
        self._right = counts * n_win  # reference values at or below a code, times n_win
        counts[1::2] = counts[0:-1:2]
        self._left = counts * n_win  # ... strictly below it
        self._steps = np.arange(n_win, dtype=np.int64) * n_ref
        self._n_ref, self._n_win = n_ref, n_win

    def statistic(self, stop: int) -> float:
        """``ks_2samp(reference, seq[stop - n_win : stop]).statistic`` (lcm rounding)."""
        codes = np.sort(self._codes[stop - self._n_win : stop], kind="stable")
        high = self._left[codes]
        high -= self._steps
        low = self._right[codes]
        low -= self._steps
        d_abs = max(int(high.max()), self._n_ref - int(low.min()), 0)
        return lcm_statistic(d_abs, self._n_ref, self._n_win)


def _statistic_after(reference: np.ndarray, window: np.ndarray, n_win: int) -> float:
    """``ks_2samp(reference, window).statistic`` in scipy's lcm rounding, for one full window."""
    return _CodedWindows(reference, np.asarray(window, dtype=np.float64), n_win).statistic(n_win)


def ks_path_sparse(
    reference: np.ndarray,
    window: np.ndarray,
    batch: np.ndarray,
    window_size: int,
    below: float,
    stop_above: float = math.inf,
    tie_ends: np.ndarray | None = None,
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

    With ``stop_above``, the path ends (NaN) after the first computed step whose statistic
    exceeds it: for a caller that certainly detects there and then restarts the window.
    ``tie_ends`` (``searchsorted(reference, reference, side="right")``) may be given by a caller
    that reuses the reference.
    """
    n_old, n_batch, n_win = len(window), len(batch), int(window_size)
    if not uses_lcm_rounding(len(reference), n_win) or not math.isfinite(below):
        return ks_path(reference, window, batch, n_win)
    out = np.full(n_batch, np.nan)
    t = max(0, n_win - n_old - 1)  # first step after which the window is full
    if t >= n_batch:
        return out
    seq = np.concatenate([window, batch])

    coded: _CodedWindows | None = None

    def alone(step: int) -> float:
        nonlocal coded
        if coded is None:
            coded = _CodedWindows(reference, seq, n_win, tie_ends)
        return coded.statistic(n_old + step + 1)

    out[t] = d = alone(t)
    while t < n_batch - 1 and not d > stop_above:
        gap = math.floor((below - d) * n_win)
        if gap >= MIN_SKIP:
            t = min(t + gap + 1, n_batch - 1)
            out[t] = d = alone(t)
            continue
        start, stop = t + 1, min(n_batch, t + 1 + DENSE_BLOCK)
        dense = ks_path(reference, seq[max(0, n_old + start - n_win) : n_old + start],
                        batch[start:stop], n_win)
        over = np.flatnonzero(dense > stop_above)
        if len(over):
            stop = start + int(over[0]) + 1
            dense = dense[: stop - start]
        out[start:stop] = dense
        t = stop - 1
        d = out[t]
    return out


@functools.lru_cache(maxsize=1024)
def statistic_reaching(en: float, level: float) -> float:
    """The smallest statistic (to ~1e-16) whose p-value ``kolmogorov_sf(en * d)`` is
    ``<= level`` (1.0 if none is). Cached: a bisection costs ~4 ms, and every bank of a
    pipeline asks it for the same few sample sizes and levels."""
    lo, hi = 0.0, 1.0
    if kolmogorov_sf(en * hi)[0] > level:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if kolmogorov_sf(en * mid)[0] <= level:
            hi = mid
        else:
            lo = mid
    return hi


def safe_statistic_bound(threshold: float, en: float, alpha: float, n_win: int) -> float:
    """A statistic bound under which neither ``statistic > threshold`` nor a p-value
    ``kolmogorov_sf(en * statistic) <= alpha`` can hold (two steps of margin for rounding)."""
    return min(threshold, statistic_reaching(en, alpha)) - 2.0 / n_win
