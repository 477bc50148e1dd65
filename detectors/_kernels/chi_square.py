"""The chi-square kernel: each column's pass as cumulative sums over time.

Within a pass (the shared scheduler, :mod:`.scheduler`) a column's window counts after every row
are the cumulative sum of one-hot increments (the entering value's cell +1, the leaving value's
-1); from the counts just before each move come the changes of the running sums
(:meth:`detectors._kernels.chi_square_state.ChiSquareTable.deltas_path`), and the sums after every
row are their sequential cumulative sum, restarted from a recomputation every ``window_size``
updates exactly where the readable detector recomputes them. The floating-point operations are
those of :class:`detectors.chi_square.ChiSquare`, in the same order, so the detections, statistics
and state are equal bit for bit. With ``reset_on_drift`` a column stops at its first detection
and empties its window when its next pass starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors._kernels.chi_square_state import (
    ChiSquareState,
    ChiSquareTable,
    table_statistics,
)
from driftline.detectors._kernels.protocol import Kernel
from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes

__all__ = ["KERNEL", "ChiSquareConfig", "ChiSquareKernel"]

#: bound on the cells (rows x window cells) of one column's count array in a pass
_CELL_BUDGET = 1 << 21


@dataclass(frozen=True)
class ChiSquareConfig:
    """Per column: the detector's table and whether it empties its window on drift."""

    tables: list[ChiSquareTable]
    reset_on_drift: list[bool]


def _clear(table: ChiSquareTable, st: ChiSquareState, j: int) -> None:
    st.windows[j] = np.empty(0, dtype=np.int64)
    st.counts[j] = np.zeros(table.n_cells + 1, dtype=np.int64)
    st.sums[j] = table.sums(st.counts[j])
    st.steps[j] = 0
    st.pending[j] = False


def _sums_path(table: ChiSquareTable, sums: np.ndarray, deltas: np.ndarray, after: np.ndarray,
               steps: int) -> np.ndarray:
    """Running sums after each row: ``deltas`` ``(2L, 3)`` (leave, enter per row) added in
    order, replaced by a recomputation from ``after`` at each ``window_size``-th update."""
    n_rows, size = len(after), table.window_size
    out = np.empty((n_rows, 3))
    base = sums
    start = 0
    for refresh in range(size - steps - 1, n_rows + size - 1, size):
        end = min(refresh, n_rows - 1)
        if end < start:
            break
        acc = np.cumsum(np.vstack([base[None, :], deltas[2 * start: 2 * end + 2]]), axis=0)
        out[start: end + 1] = acc[2::2]
        if end == refresh:
            base = np.array(table.sums(after[end]))
            out[end] = base
        start = end + 1
    return out


def advance_column(table: ChiSquareTable, reset_on_drift: bool, st: ChiSquareState, j: int,
                   values: np.ndarray) -> tuple[np.ndarray, int]:
    """Advance column ``j`` over ``values``; return the rows that fired and the rows consumed
    (up to the first detection with ``reset_on_drift``)."""
    if st.pending[j]:
        _clear(table, st, j)
    size, unseen = table.window_size, table.unseen_cell
    codes = values.astype(np.int64)
    n_rows = len(codes)
    window = st.windows[j]
    held = len(window)
    rows = np.arange(n_rows)
    entering = table.cells(codes)
    sequence = np.concatenate([table.cells(window), entering])
    out_rows = np.flatnonzero(held + rows >= size)
    leaving = sequence[held + out_rows - size]
    moves = np.zeros((n_rows, table.n_cells + 1), dtype=np.int64)
    moves[rows, entering] = 1
    moves[out_rows, leaving] -= 1
    after = st.counts[j] + np.cumsum(moves, axis=0)
    before = np.vstack([st.counts[j][None, :], after[:-1]])
    count_out = before[out_rows, leaving]
    count_in = before[rows, entering]
    count_in[out_rows] -= leaving == entering[out_rows]

    deltas = np.zeros((2 * n_rows, 3))
    tested = leaving != unseen
    deltas[2 * out_rows[tested]] = table.deltas_path(leaving[tested], count_out[tested],
                                                     count_out[tested] - 1)
    tested = entering != unseen
    deltas[2 * rows[tested] + 1] = table.deltas_path(entering[tested], count_in[tested],
                                                     count_in[tested] + 1)
    steps = int(st.steps[j])
    sums = _sums_path(table, st.sums[j].copy(), deltas, after, steps)

    n_window = np.minimum(held + rows + 1, size)
    unseen_count = after[:, unseen]
    statistic = table.statistic_path(n_window - unseen_count, sums)
    fire = (n_window == size) & ((unseen_count > table.unseen_threshold)
                                 | (statistic > table.threshold))
    fired = np.flatnonzero(fire)
    consumed = n_rows
    if reset_on_drift and len(fired):
        fired = fired[:1]
        consumed = int(fired[0]) + 1
    last = consumed - 1
    st.windows[j] = np.concatenate([window, codes[:consumed]])[-size:]
    st.counts[j] = after[last].copy()
    st.sums[j] = sums[last]
    st.steps[j] = (steps + consumed) % size
    st.drift[j] = bool(fire[last])
    st.pending[j] = bool(fire[last]) and reset_on_drift
    return fired, consumed


class _Passes:
    """Columns advanced one by one over each pass (see :func:`advance_column`)."""

    def __init__(self, config: ChiSquareConfig, st: ChiSquareState, x: np.ndarray) -> None:
        self.config, self.st, self.x = config, st, x

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return np.zeros(len(cols), dtype=bool)  # a column empties its window in its next pass

    def restart(self, mask: np.ndarray) -> None:
        pass

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        widest = max(self.config.tables[j].n_cells + 1 for j in cols.tolist())
        return min(stop, p + max(64, _CELL_BUDGET // widest))

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        consumed = np.empty(len(cols), dtype=np.int64)
        for k, (j, start) in enumerate(zip(cols.tolist(), (p + offset).tolist(), strict=True)):
            fired, consumed[k] = advance_column(self.config.tables[j],
                                                self.config.reset_on_drift[j], self.st, j,
                                                self.x[start:stop, j])
            hits.add(start + fired, np.full(len(fired), j))
        return consumed


class ChiSquareKernel(Kernel):
    """Kernel of :class:`detectors.chi_square.ChiSquare` (any parameters, per column)."""

    def configure(self, detectors: Sequence[Any]) -> ChiSquareConfig:
        return ChiSquareConfig([d.table for d in detectors],
                               [bool(d.reset_on_drift) for d in detectors])

    def initial(self, config: ChiSquareConfig, n: int) -> ChiSquareState:
        return ChiSquareState(config.tables)

    def pack(self, config: ChiSquareConfig, states: Sequence[Mapping[str, Any]],
             drift: np.ndarray, warning: np.ndarray) -> ChiSquareState:
        st = ChiSquareState(config.tables)
        for j, (table, s) in enumerate(zip(config.tables, states, strict=True)):
            window = np.array(s["window"], dtype=np.int64).reshape(-1)
            st.windows[j] = window
            st.counts[j] = np.bincount(table.cells(window), minlength=table.n_cells + 1)
            st.sums[j] = [float(v) for v in s["sums"]]
            st.steps[j] = int(s["steps"])
            st.pending[j] = bool(s["pending"])
        st.drift = np.array(drift, dtype=bool)
        st.warning = np.array(warning, dtype=bool)
        return st

    def unpack(self, config: ChiSquareConfig, state: ChiSquareState) -> list[dict[str, Any]]:
        return [{"window": w.tolist(), "sums": state.sums[j].tolist(),
                 "steps": int(state.steps[j]), "pending": bool(state.pending[j])}
                for j, w in enumerate(state.windows)]

    def advance(self, config: ChiSquareConfig, state: ChiSquareState,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = rows.shape[1]
        state.warning[:] = False
        size = max(t.window_size for t in config.tables)
        after = size + max(64, size // 4)
        schedule = Schedule(chunk_values=max(8 * size, 8192) * n, first_span=after,
                            restart_cells=after)
        return run_passes(_Passes(config, state, rows), len(rows), n, schedule)

    def statistics(self, config: ChiSquareConfig, state: ChiSquareState) -> dict[str, np.ndarray]:
        per_column = [table_statistics(t, state.counts[j], len(state.windows[j]),
                                       tuple(state.sums[j].tolist()))
                      for j, t in enumerate(config.tables)]
        return {key: np.array([s[key] for s in per_column]) for key in per_column[0]}


KERNEL = ChiSquareKernel()
