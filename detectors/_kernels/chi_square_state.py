"""Constants, running sums and statistics of the chi-square detector, shared by the readable
detector (:mod:`detectors.chi_square`) and its kernel (:mod:`.chi_square`).

The homogeneity statistic of the ``2 x K`` table (reference counts ``R_k``, total ``N``; window
counts ``w_k`` of the ``n`` window values in tested cells) is

    X2 = sum_k (R_k n - N w_k)^2 / (N n (R_k + w_k)) = N (n P - 2 Q + S / n)

with ``P = sum rho_k^2 / c_k``, ``Q = sum rho_k w_k / c_k``, ``S = sum w_k^2 / c_k``,
``rho_k = R_k / N`` and ``c_k = R_k + w_k``. A value entering or leaving the window changes one
``w_k``, hence one term of each sum: the update is O(1), and ``n`` may change too (while the
window fills, or when unseen values enter or leave) without touching the other terms. The three
terms ``n P``, ``2 Q`` and ``S / n`` are about ``n / N`` each and cancel down to ``X2 / N``, so
about ``log10(n / X2)`` digits are lost whatever ``N`` is; rounding accumulated by the
incremental updates is removed by recomputing the sums from the counts whenever the values
consumed reach a multiple of ``8 * window_size`` (:meth:`ChiSquareTable.sums`,
:attr:`ChiSquareTable.refresh_period`). Both sides perform the
same floating-point operations (:func:`sum_changes`, :func:`cell_sums`) in the same order, so the
kernel's results equal the detector's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors.contingency import (
    binomial_tail,
    cell_layout,
    check_codes,
    chi2_isf,
    chi2_sf,
    jensen_shannon_distance,
    population_stability_index,
    unseen_threshold,
)

__all__ = ["ChiSquareConfig", "ChiSquareState", "ChiSquareTable", "build_table", "cell_sums",
           "read_state", "sum_changes", "table_statistics"]


def sum_changes(r: Any, rho: Any, rho2: Any, before: Any, after: Any) -> tuple[Any, Any, Any]:
    """Change of ``(P, Q, S)`` when a tested cell (reference count ``r``, frequency ``rho``,
    ``rho2 = rho * rho``) goes from ``before`` to ``after`` window values: the same operations
    on Python numbers (the detector) and on arrays (the kernel)."""
    c0, c1 = r + before, r + after
    return (rho2 / c1 - rho2 / c0, rho * after / c1 - rho * before / c0,
            after * after / c1 - before * before / c0)


def cell_sums(reference: np.ndarray, rho: np.ndarray, rho2: np.ndarray,
              counts: np.ndarray) -> np.ndarray:
    """``(P, Q, S)`` of window ``counts`` over the cells of the last axis, summed in cell order
    (a sequential cumulative sum, so that trailing empty padding cells add exact zeros); the
    sums come first: shape ``(3, ...)``."""
    c = reference + counts
    terms = np.stack([rho2 / c, rho * counts / c, counts * counts / c])
    return np.cumsum(terms, axis=-1)[..., -1]


@dataclass(frozen=True, eq=False)
class ChiSquareTable:
    """The reference side of one detector's test, its cells and its alarm levels.

    ``cell_of_code`` maps code ``c < len(cell_of_code) - 1`` to its cell and every larger code
    (the last entry) to the unseen cell ``n_cells``. ``reference`` holds the reference counts of
    the tested cells, ``rho`` / ``rho2`` their frequencies and squares.
    """

    cell_of_code: np.ndarray
    reference: np.ndarray
    rho: np.ndarray
    rho2: np.ndarray
    n_reference: float
    n_cells: int
    threshold: float
    unseen_threshold: int
    unseen_rate: float
    window_size: int

    @property
    def unseen_cell(self) -> int:
        return self.n_cells

    @property
    def dof(self) -> int:
        return self.n_cells - 1

    @property
    def refresh_period(self) -> int:
        """Values between two recomputations of the running sums from the counts (they happen
        when a detector's count of values consumed reaches a multiple of it)."""
        return 8 * self.window_size

    def cells(self, codes: np.ndarray) -> np.ndarray:
        """The cell of each code (int64 codes)."""
        return self.cell_of_code[np.minimum(codes, len(self.cell_of_code) - 1)]

    def sums(self, counts: np.ndarray) -> tuple[float, float, float]:
        """``(P, Q, S)`` from the window's cell counts (unseen last)."""
        p, q, s = cell_sums(self.reference, self.rho, self.rho2, counts[: self.n_cells])
        return float(p), float(q), float(s)

    def deltas(self, cell: int, before: int, after: int) -> tuple[float, float, float]:
        """Change of ``(P, Q, S)`` when cell ``cell`` goes from ``before`` to ``after`` values
        (none for the unseen cell)."""
        if cell == self.n_cells:
            return 0.0, 0.0, 0.0
        return sum_changes(float(self.reference[cell]), float(self.rho[cell]),
                           float(self.rho2[cell]), before, after)

    def statistic(self, n: int, sums: Sequence[float]) -> float:
        """``X2`` of a window with ``n`` values in tested cells (0 when there are none)."""
        if n == 0:
            return 0.0
        p, q, s = sums
        x = self.n_reference * (n * p - 2.0 * q + s / n)
        return x if x > 0.0 else 0.0


def build_table(reference: Sequence[int], window_size: int, alpha: float,
                min_expected: float, unseen_rate: float | None) -> ChiSquareTable:
    """The table of a detector with these parameters.

    The level ``alpha`` is split between the two tests (``alpha / 2`` each, Bonferroni), so
    their union fires with probability at most ``alpha`` per full window. ``unseen_rate=None``
    takes the Good-Turing estimate of the probability of a category the reference did not show:
    the share of the reference made of codes seen exactly once, at least one value's share.
    """
    layout = cell_layout(reference, window_size, min_expected)
    total = float(sum(reference))
    if unseen_rate is None:
        unseen_rate = max(1, sum(1 for n in reference if n == 1)) / total
    counts = np.array(layout.cell_counts, dtype=np.float64)
    rho = counts / total
    return ChiSquareTable(
        cell_of_code=np.array([*layout.cell_of_code, layout.n_cells], dtype=np.int64),
        reference=counts, rho=rho, rho2=rho * rho, n_reference=total, n_cells=layout.n_cells,
        threshold=chi2_isf(alpha / 2.0, layout.dof),
        unseen_threshold=unseen_threshold(alpha / 2.0, window_size, unseen_rate),
        unseen_rate=float(unseen_rate), window_size=window_size)


def read_state(table: ChiSquareTable, state: Mapping[str, Any]
               ) -> tuple[np.ndarray, tuple[float, float, float], int, bool]:
    """The window codes, sums, values consumed (modulo the refresh period) and pending flag of a
    detector's JSON state, checked against ``table`` (``ValueError`` naming what is wrong)."""
    codes = check_codes("state window", state["window"])
    if codes.ndim != 1 or len(codes) > table.window_size:
        raise ValueError(f"state window must hold at most window_size={table.window_size} "
                         f"codes, got shape {codes.shape}")
    sums = [float(v) for v in state["sums"]]
    if len(sums) != 3 or not all(math.isfinite(v) for v in sums):
        raise ValueError(f"state sums must be 3 finite numbers, got {state['sums']!r}")
    steps = int(state["steps"])
    if not 0 <= steps < table.refresh_period:
        raise ValueError(f"state steps must be in [0, {table.refresh_period}), got {steps}")
    return codes, (sums[0], sums[1], sums[2]), steps, bool(state["pending"])


def table_statistics(table: ChiSquareTable, counts: np.ndarray, n_window: int,
                     sums: Sequence[float]) -> dict[str, float]:
    """The detector's statistics for a window of ``n_window`` values with cell ``counts``
    (unseen last) and running ``sums``."""
    unseen = int(counts[table.unseen_cell])
    n = n_window - unseen
    statistic = table.statistic(n, sums)
    chi2_p = chi2_sf(statistic, table.dof) if n else 1.0
    unseen_p = binomial_tail(unseen, n_window, table.unseen_rate)
    full = n_window == table.window_size
    if n_window:
        window, reference = counts.tolist(), [*table.reference.tolist(), 0.0]
        js = jensen_shannon_distance(window, reference)
        psi = population_stability_index(window, reference)
    else:
        js = psi = 0.0
    return {
        "statistic": statistic,
        "threshold": table.threshold,
        "p_value": min(1.0, 2.0 * min(chi2_p, unseen_p)) if full else 1.0,
        "chi2_p_value": chi2_p,
        "dof": float(table.dof),
        "window_size": float(table.window_size),
        "window_fill": n_window / table.window_size,
        "unseen_count": float(unseen),
        "unseen_rate": unseen / n_window if n_window else 0.0,
        "unseen_threshold": float(table.unseen_threshold),
        "unseen_p_value": unseen_p,
        "unseen_drift": float(full and unseen > table.unseen_threshold),
        "js_distance": js,
        "psi": psi,
    }


@dataclass(frozen=True, eq=False)
class ChiSquareConfig:
    """The tables of ``n`` columns as padded arrays for the kernel.

    Cells are padded to ``n_cells = max K``: a column's tested cells come first, padding cells
    (reference 1, frequency 0: their terms are exact zeros) after them, and the unseen cell of
    every column is cell ``n_cells``. ``cell_of_code`` holds every column's code -> cell table,
    column ``j``'s from ``code_offset[j]``, its last entry (codes ``>= code_limit[j]``) unseen.
    """

    tables: list[ChiSquareTable]
    reset_on_drift: np.ndarray
    window_size: np.ndarray
    period: np.ndarray
    n_reference: np.ndarray
    threshold: np.ndarray
    unseen_threshold: np.ndarray
    reference: np.ndarray
    rho: np.ndarray
    rho2: np.ndarray
    cell_of_code: np.ndarray
    code_offset: np.ndarray
    code_limit: np.ndarray
    empty_sums: np.ndarray
    steps_up: np.ndarray | None

    @classmethod
    def of(cls, tables: Sequence[ChiSquareTable], reset_on_drift: Sequence[bool]
           ) -> ChiSquareConfig:
        n, width = len(tables), max(t.n_cells for t in tables)
        reference = np.ones((n, width))
        rho = np.zeros((n, width))
        for j, t in enumerate(tables):
            reference[j, : t.n_cells] = t.reference
            rho[j, : t.n_cells] = t.rho
        rho2 = np.zeros((n, width))
        for j, t in enumerate(tables):
            rho2[j, : t.n_cells] = t.rho2
        luts = [np.where(t.cell_of_code == t.n_cells, width, t.cell_of_code) for t in tables]
        limits = np.array([len(lut) - 1 for lut in luts], dtype=np.int64)
        return cls(list(tables), np.array(reset_on_drift, dtype=bool),
                   np.array([t.window_size for t in tables], dtype=np.int64),
                   np.array([t.refresh_period for t in tables], dtype=np.int64),
                   np.array([t.n_reference for t in tables]),
                   np.array([t.threshold for t in tables]),
                   np.array([t.unseen_threshold for t in tables], dtype=np.int64),
                   reference, rho, rho2, np.concatenate(luts),
                   np.cumsum([0, *(len(lut) for lut in luts[:-1])]).astype(np.int64), limits,
                   np.array([t.sums(np.zeros(t.n_cells + 1, dtype=np.int64)) for t in tables]),
                   _steps_up(reference, rho, rho2, max(t.window_size for t in tables)))

    @property
    def n_cells(self) -> int:
        """Padded tested cells; the unseen cell's index."""
        return self.reference.shape[1]

    def cells(self, cols: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Padded cells of ``codes`` of columns ``cols`` (broadcast against ``codes``)."""
        return self.cell_of_code[self.code_offset[cols]
                                 + np.minimum(codes, self.code_limit[cols])]

    def table_counts(self, j: int, counts: np.ndarray) -> np.ndarray:
        """Column ``j``'s padded counts in its table's layout (tested cells, then unseen)."""
        return np.r_[counts[: self.tables[j].n_cells], counts[self.n_cells]]


def _steps_up(reference: np.ndarray, rho: np.ndarray, rho2: np.ndarray,
              window_size: int) -> np.ndarray | None:
    """:func:`sum_changes` of every padded cell going from ``w`` to ``w + 1`` values,
    ``(columns * (cells + 2) * window_size, 3)`` by (column, cell, w), with two cells of
    zeros after the tested ones (the unseen cell, and "no value"); ``None`` when that table would
    exceed :data:`STEP_TABLE_LIMIT` entries (the kernel then evaluates the formula). A value
    leaving a cell with ``w`` values changes the sums by exactly ``-steps_up[..., w - 1]``
    (floating-point subtraction is antisymmetric)."""
    n, width = reference.shape
    if n * (width + 2) * window_size > STEP_TABLE_LIMIT:
        return None
    w = np.arange(window_size)
    up = sum_changes(reference[:, :, None], rho[:, :, None], rho2[:, :, None], w, w + 1)
    table = np.zeros((n, width + 2, window_size, 3))
    table[:, :width] = np.stack(up, axis=-1)
    return table.reshape(-1, 3)


#: largest step table (cells x window size over all columns) the kernel precomputes
STEP_TABLE_LIMIT = 1 << 20


class ChiSquareState:
    """Array state of ``n`` columns: windows (codes, oldest first, the first ``held[j]`` of row
    ``j``) and their padded cell counts, the running sums ``(P, Q, S)``, values consumed modulo
    the refresh period, and whether a detection empties the window before the next value."""

    def __init__(self, config: ChiSquareConfig) -> None:
        n = len(config.tables)
        self.windows = np.zeros((n, int(config.window_size.max())), dtype=np.int64)
        self.held = np.zeros(n, dtype=np.int64)
        self.counts = np.zeros((n, config.n_cells + 1), dtype=np.int64)
        self.sums = config.empty_sums.copy()
        self.steps = np.zeros(n, dtype=np.int64)
        self.pending = np.zeros(n, dtype=bool)
        self.drift = np.zeros(n, dtype=bool)
        self.warning = np.zeros(n, dtype=bool)

    def clear(self, config: ChiSquareConfig, cols: np.ndarray) -> None:
        """Empty the windows of ``cols`` (after a detection with ``reset_on_drift``)."""
        self.held[cols] = 0
        self.counts[cols] = 0
        self.sums[cols] = config.empty_sums[cols]
        self.pending[cols] = False
