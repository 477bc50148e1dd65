"""The chi-square kernel: all columns of a pass advanced together, over time in arrays.

Within a pass of the shared scheduler (:mod:`.scheduler`) each column's window moves are
*events* in time order (each row's leaving value, then its entering one). Sorted stably by
(column, cell) — a radix sort of small integers — each cell's events keep their order, and a
running sum within each group gives every event's cell count just before it: O(1) per value,
whatever the number of cells (:func:`_counts_before`). From those counts come the changes of the
running sums (:func:`detectors._kernels.chi_square_state.sum_changes`, read from a precomputed
table when it is small enough), and the sums after every row are their sequential cumulative sum,
restarted from a recomputation (:func:`detectors._kernels.chi_square_state.cell_sums`) on the
rows where the readable detector recomputes them. The floating-point operations are those of
:class:`detectors.chi_square.ChiSquare`, in the same order, so the detections, statistics and
state are equal bit for bit. Columns restarted on different rows share a pass, each passing by
the rows before its own start. With ``reset_on_drift`` a column stops at its first detection and
empties its window when its next pass starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.chi_square_state import (
    ChiSquareConfig,
    ChiSquareState,
    cell_sums,
    read_state,
    sum_changes,
    table_statistics,
)
from driftline.detectors._kernels.protocol import Kernel
from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes

__all__ = ["KERNEL", "ChiSquareKernel", "advance_columns"]

#: values (columns x rows) of one pass: its arrays take about 250 bytes per value
_PASS_VALUES = 1 << 17
#: largest sort key (column x cell) of a radix sort
_RADIX_KEYS = int(np.iinfo(np.int16).max)


def _sums_path(config: ChiSquareConfig, cols: np.ndarray, sums: np.ndarray,
               change: np.ndarray, counts_at: Any, first_row: np.ndarray,
               steps: np.ndarray) -> np.ndarray:
    """Running sums after each row, ``(3, g, L)``: ``change`` added in order from ``sums``
    ``(3, g)``; where a column's values consumed reach a multiple of its refresh period the sums
    are recomputed (:func:`cell_sums` of ``counts_at``) and its path continues from there."""
    n_rows = change.shape[2]
    path = change.copy()
    path[:, :, 0] = sums + change[:, :, 0]
    np.cumsum(path, axis=2, out=path)
    period = config.period[cols]
    first = first_row + period - 1 - steps  # each column's first refresh row
    if (first >= n_rows).all():
        return path
    lanes = np.arange(len(cols))
    soon = first < n_rows
    rows = first[soon] if (first[soon] + period[soon] >= n_rows).all() else np.concatenate(
        [np.arange(f, n_rows, p) for f, p in zip(first[soon].tolist(), period[soon].tolist(),
                                                  strict=True)])
    for row in np.unique(rows):
        due = lanes[(row >= first) & ((row - first) % period == 0)]
        counts = counts_at(np.full(len(cols), row))[:, : config.n_cells]
        fresh = cell_sums(config.reference[cols], config.rho[cols], config.rho2[cols], counts)
        chosen = slice(None) if len(due) == len(lanes) else due  # usually all: same rows
        tail = change[:, chosen, row:].copy()
        tail[:, :, 0] = fresh[:, chosen]
        path[:, chosen, row:] = np.cumsum(tail, axis=2)
    return path


def _changes(config: ChiSquareConfig, cols: np.ndarray, events: np.ndarray,
             before: np.ndarray) -> np.ndarray:
    """Change of the running sums per row, ``(3, g, L)``: the entering value's step from its
    cell's count ``w`` to ``w + 1`` minus the leaving value's step from ``w - 1`` to ``w`` (a
    value leaving a cell of ``w`` values changes the sums by exactly minus that step:
    floating-point subtraction is antisymmetric). ``events`` and ``before`` as in
    :func:`_counts_before`; the unseen cell and "no value" change nothing."""
    width = config.n_cells
    g, n_events = events.shape
    tested = events < width
    low = before - 1 + (np.arange(n_events) & 1)  # entering: w; leaving: w - 1
    if config.steps_up is not None:
        index = ((cols[:, None] * (width + 2) + events) * int(config.window_size.max())
                 + low * tested)
        steps = np.take(config.steps_up, index.ravel(), axis=0).reshape(g, n_events, 3)
    else:
        steps = np.zeros((g, n_events, 3))
        lane, event = np.nonzero(tested)
        j, c, w = cols[lane], events[lane, event], low[lane, event]
        steps[lane, event] = np.stack(sum_changes(config.reference[j, c], config.rho[j, c],
                                                  config.rho2[j, c], w, w + 1), axis=-1)
    return np.ascontiguousarray((steps[:, 1::2] - steps[:, 0::2]).transpose(2, 0, 1))


def _counts_before(config: ChiSquareConfig, start_counts: np.ndarray, events: np.ndarray
                   ) -> tuple[np.ndarray, Any]:
    """Each event's cell count just before it, and ``counts_at(last)``: every cell's counts
    after row ``last[j]`` of each column.

    ``events`` ``(g, 2L)`` are cells in time order (each row's leave, then its enter; "no
    value" cell ``n_cells + 1`` where nothing happens). Events are stably sorted by (column,
    cell), so each cell's events keep their order, and a running sum within each group counts
    them: O(1) per event whatever the number of cells.
    """
    g, n_events = events.shape
    groups = config.n_cells + 2
    keys = (np.arange(g)[:, None] * groups + events).ravel()
    radix = g * groups <= _RADIX_KEYS
    order = np.argsort(keys.astype(np.int16 if radix else np.int64), kind="stable")
    running = np.cumsum((order & 1) * 2 - 1)  # odd events enter, even ones leave
    sizes = np.bincount(keys, minlength=g * groups)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    offset = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0)  # before each group
    within = np.empty_like(running)
    within[order] = running - np.repeat(offset, sizes)
    signs = (np.arange(n_events) & 1) * 2 - 1
    padded = np.concatenate([start_counts, np.zeros((g, 1), dtype=np.int64)], axis=1)
    before = (np.take(padded, keys) + within).reshape(g, n_events) - signs

    enters = np.bincount(keys.reshape(g, n_events)[:, 1::2].ravel(), minlength=g * groups)
    net = (2 * enters - sizes).reshape(g, groups)[:, :-1]

    def counts_at(last: np.ndarray) -> np.ndarray:
        counts = start_counts + net
        short = np.flatnonzero(last < n_events // 2 - 1)
        if len(short):  # take back the events after their last row
            later = np.arange(n_events) >= 2 * (last[short, None] + 1)
            key = keys.reshape(g, n_events)[short][later]
            entered = np.broadcast_to(signs > 0, later.shape)[later]
            undo = (np.bincount(key[entered], minlength=g * groups)
                    - np.bincount(key[~entered], minlength=g * groups))
            counts[short] -= undo.reshape(g, groups)[short, :-1]
        return counts

    return before, counts_at


def advance_columns(config: ChiSquareConfig, st: ChiSquareState, cols: np.ndarray,
                    values: np.ndarray, first_row: np.ndarray, start: int,
                    hits: Hits) -> np.ndarray:
    """Advance columns ``cols`` over their rows of ``values`` ``(L, len(cols))`` (the rows from
    ``start``; column ``j``'s from ``first_row[j]``, the earlier ones pass it by); record their
    detections; return the rows each consumed (up to its first detection with
    ``reset_on_drift``)."""
    if st.pending[cols].any():
        st.clear(config, cols[st.pending[cols]])
    width, g = config.n_cells, len(cols)
    codes = values.T.astype(np.int64)
    n_rows = codes.shape[1]
    size, held = config.window_size[cols][:, None], st.held[cols][:, None]
    begin = first_row[:, None]
    longest = int(size.max())
    rows = np.arange(n_rows)
    active = rows >= begin
    # each column's window codes, then its values: its window ends just before its first row
    past = np.arange(longest)
    sequence = np.zeros((g, longest + n_rows), dtype=np.int64)
    sequence[:, longest:] = codes
    kept = past < held
    sequence[np.nonzero(kept)[0], (longest + begin - held + past)[kept]] = \
        st.windows[cols, :longest][kept]
    seen = held + rows - begin  # values in the window before the row, uncapped
    events = np.empty((g, 2 * n_rows), dtype=np.int64)
    none = width + 1  # the "no value" cell: masked rows, rows where nothing leaves
    events[:, 1::2] = entering = np.where(active, config.cells(cols[:, None], codes), none)
    out_codes = sequence[np.arange(g)[:, None], longest - size + rows]
    events[:, 0::2] = leaving = np.where(active & (seen >= size),
                                         config.cells(cols[:, None], out_codes), none)
    before, counts_at = _counts_before(config, st.counts[cols], events)

    change = _changes(config, cols, events, before)
    steps = st.steps[cols]
    sums = _sums_path(config, cols, st.sums[cols].T, change, counts_at, first_row, steps)

    n_window = np.minimum(seen + 1, size)
    unseen = st.counts[cols, width][:, None] + np.cumsum(
        (entering == width).astype(np.int64) - (leaving == width), axis=1)
    n = n_window - unseen
    safe = np.maximum(n, 1)
    x2 = config.n_reference[cols][:, None] * (safe * sums[0] - 2.0 * sums[1] + sums[2] / safe)
    statistic = np.where((n > 0) & (x2 > 0.0), x2, 0.0)
    fire = active & (n_window == size) & ((unseen > config.unseen_threshold[cols][:, None])
                                          | (statistic > config.threshold[cols][:, None]))
    reset = config.reset_on_drift[cols]
    first = np.argmax(fire, axis=1)
    stops = reset & fire.any(axis=1)
    last = np.where(stops, first, n_rows - 1)
    hit_lane, hit_row = np.nonzero(fire & ~reset[:, None])
    hits.add(start + np.concatenate([hit_row, first[stops]]),
             cols[np.concatenate([hit_lane, np.flatnonzero(stops)])])

    lane, consumed = np.arange(g), last + 1 - first_row
    new_held = np.minimum(size[:, 0], held[:, 0] + consumed)
    slots = np.arange(st.windows.shape[1])
    take = np.minimum((longest + last + 1 - new_held)[:, None] + slots, longest + n_rows - 1)
    st.windows[cols] = np.where(slots < new_held[:, None], sequence[lane[:, None], take], 0)
    st.held[cols] = new_held
    st.counts[cols] = counts_at(last)
    st.sums[cols] = sums[:, lane, last].T
    st.steps[cols] = (steps + consumed) % config.period[cols]
    st.drift[cols] = fire[lane, last]
    st.pending[cols] = fire[lane, last] & reset
    return consumed


class _Passes:
    """All the pass's columns advanced together (see :func:`advance_columns`)."""

    def __init__(self, config: ChiSquareConfig, st: ChiSquareState, x: np.ndarray) -> None:
        self.config, self.st, self.x = config, st, x

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return np.zeros(len(cols), dtype=bool)  # a column empties its window in its next pass

    def restart(self, mask: np.ndarray) -> None:
        pass

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        return min(stop, p + max(64, _PASS_VALUES // len(cols)))

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        # as many columns at a time as keep the sort keys small enough for a radix sort
        step = max(1, _RADIX_KEYS // (self.config.n_cells + 2))
        return np.concatenate([
            advance_columns(self.config, self.st, cols[i: i + step],
                            self.x[p:stop, cols[i: i + step]], offset[i: i + step], p, hits)
            for i in range(0, len(cols), step)])


class ChiSquareKernel(Kernel):
    """Kernel of :class:`detectors.chi_square.ChiSquare` (any parameters, per column)."""

    def configure(self, detectors: Sequence[Any]) -> ChiSquareConfig:
        return ChiSquareConfig.of([d.table for d in detectors],
                                  [d.reset_on_drift for d in detectors])

    def initial(self, config: ChiSquareConfig, n: int) -> ChiSquareState:
        return ChiSquareState(config)

    def pack(self, config: ChiSquareConfig, states: Sequence[Mapping[str, Any]],
             drift: np.ndarray, warning: np.ndarray) -> ChiSquareState:
        st = ChiSquareState(config)
        for j, (table, s) in enumerate(zip(config.tables, states, strict=True)):
            window, sums, st.steps[j], st.pending[j] = read_state(table, s)
            st.windows[j, : len(window)] = window
            st.held[j] = len(window)
            cells = config.cells(np.array([j]), window[None, :])[0]
            st.counts[j] = np.bincount(cells, minlength=config.n_cells + 1)
            st.sums[j] = sums
        st.drift = np.array(drift, dtype=bool)
        st.warning = np.array(warning, dtype=bool)
        return st

    def unpack(self, config: ChiSquareConfig, state: ChiSquareState) -> list[dict[str, Any]]:
        return [{"window": state.windows[j, : state.held[j]].tolist(),
                 "sums": state.sums[j].tolist(), "steps": int(state.steps[j]),
                 "pending": bool(state.pending[j])} for j in range(len(config.tables))]

    def advance(self, config: ChiSquareConfig, state: ChiSquareState,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = rows.shape[1]
        state.warning[:] = False
        size = int(config.window_size.max())
        after = size + max(64, size // 4)
        schedule = Schedule(chunk_values=max(8 * size, 8192) * n, first_span=after,
                            restart_cells=after)
        return run_passes(_Passes(config, state, rows), len(rows), n, schedule)

    def statistics(self, config: ChiSquareConfig, state: ChiSquareState) -> dict[str, np.ndarray]:
        per_column = [table_statistics(t, config.table_counts(j, state.counts[j]),
                                       int(state.held[j]), tuple(state.sums[j].tolist()))
                      for j, t in enumerate(config.tables)]
        return {key: np.array([s[key] for s in per_column]) for key in per_column[0]}


KERNEL = ChiSquareKernel()
