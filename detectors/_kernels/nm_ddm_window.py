"""NM-DDM's sliding window of integer features, and its vectorised batch pass.

:class:`FeatureWindow` holds the last ``size`` rows (raw, for the JSON state, and as integer
feature columns of a ring buffer) and their exact int64 sum, shared by the per-row update of
:class:`detectors.nm_ddm.NMDDM` and :func:`advance_chunk`. Sums are integers, so adding and
removing rows is exact whatever the grouping: the batch pass gives the loop's statistics bit for
bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["FeatureWindow", "advance_chunk", "renewal_alarms"]


class FeatureWindow:
    """Ring buffer of the last ``size`` rows and the sum of their integer features."""

    def __init__(self, size: int, n_features: int, n_dims: int) -> None:
        self.size = size
        self.columns = np.zeros((n_features, size), dtype=np.int64)
        self.raw = np.zeros((size, n_dims))
        self.clear()

    def clear(self) -> None:
        self.pos = 0
        self.count = 0
        self.sum = np.zeros(self.columns.shape[0], dtype=np.int64)

    def push(self, q: np.ndarray, row: np.ndarray) -> None:
        """Add one row (its integer features ``q``), dropping the oldest of a full window."""
        if self.count == self.size:
            self.sum -= self.columns[:, self.pos]
        else:
            self.count += 1
        self.sum += q
        self.columns[:, self.pos] = q
        self.raw[self.pos] = row
        self.pos = (self.pos + 1) % self.size

    def order(self) -> np.ndarray:
        """Ring slots of the rows, oldest first."""
        return (self.pos - self.count + np.arange(self.count)) % self.size

    def load(self, rows: np.ndarray, q: np.ndarray) -> None:
        """Hold exactly ``rows`` (oldest first) whose integer feature columns are ``q``."""
        self.columns[:] = 0
        self.raw[:] = 0.0
        count = len(rows)
        if count:
            self.raw[:count] = rows
            self.columns[:, :count] = q
        self.count = count
        self.pos = count % self.size
        self.sum = self.columns[:, :count].sum(axis=1)


def renewal_alarms(exceed: np.ndarray, window_size: int) -> np.ndarray:
    """Alarms of a detector that restarts after each: an exceedance counts only once the window
    has refilled, ``window_size`` rows after the previous alarm."""
    alarms: list[int] = []
    k = 0
    while k < len(exceed):
        alarms.append(int(exceed[k]))
        k = int(np.searchsorted(exceed, alarms[-1] + window_size, side="left"))
    return np.asarray(alarms, dtype=np.int64)


def advance_chunk(
    window: FeatureWindow, q: np.ndarray, raw: np.ndarray,
    full_statistics: Callable[[np.ndarray], np.ndarray],
    statistic: Callable[[np.ndarray, int], float], threshold: float, reset_on_drift: bool,
) -> tuple[np.ndarray, float, bool]:
    """Consume rows ``raw`` (integer feature columns ``q``); return the alarm positions, the
    statistic and the drift flag after the last row.

    ``full_statistics(sums)`` maps full-window feature sums (columns) to statistics;
    ``statistic(sum, count)`` is the statistic of one window of ``count`` rows.

    A window that is full holds the last ``size`` rows whether or not the detector restarted
    earlier (a restart empties it, and ``size`` rows later it is full again), so the full-window
    statistics of the whole chunk come from one sliding sum over [current window, chunk]; a
    restart after an alarm at ``t`` only makes rows before ``t + size`` ineligible.
    """
    w = window.size
    n = len(raw)
    count0 = window.count
    columns = np.concatenate([window.columns[:, window.order()], q], axis=1) if count0 else q
    csum = np.empty((q.shape[0], count0 + n + 1), dtype=np.int64)
    csum[:, 0] = 0
    np.cumsum(columns, axis=1, out=csum[:, 1:])
    # row t of the chunk ends the sliding window at column count0 + t + 1 of csum
    first_full = max(0, w - count0 - 1)
    full_stats = np.empty(0)
    if first_full < n:
        ends = slice(count0 + first_full + 1, count0 + n + 1)
        starts = slice(count0 + first_full + 1 - w, count0 + n + 1 - w)
        full_stats = full_statistics(csum[:, ends] - csum[:, starts])
    exceed = np.flatnonzero(full_stats > threshold) + first_full
    alarms = renewal_alarms(exceed, w) if reset_on_drift else exceed
    restarted = reset_on_drift and len(alarms) > 0
    since = int(alarms[-1]) + 1 if restarted else 0  # first row after the last restart
    base_pos = 0 if restarted else window.pos
    n_since = n - since
    keep = np.arange(max(since, n - w), n)
    slots = (base_pos + keep - since) % w
    window.columns[:, slots] = q[:, keep]
    window.raw[slots] = raw[keep]
    window.pos = (base_pos + n_since) % w
    count = min(w, (0 if restarted else count0) + n_since)
    window.count = count
    end = count0 + n
    window.sum = csum[:, end] - csum[:, end - count]
    last_alarm = len(alarms) > 0 and int(alarms[-1]) == n - 1
    if last_alarm or (not restarted and count0 + n >= w) or (restarted and count == w):
        value = float(full_stats[n - 1 - first_full])
    else:
        value = statistic(window.sum, count)
    drift = bool(last_alarm) or (not reset_on_drift and count == w and value > threshold)
    if last_alarm and reset_on_drift:
        window.clear()
    return alarms, value, drift
