"""Constants, running sums and statistics of the chi-square detector, shared by the readable
detector (:mod:`detectors.chi_square`) and its kernel (:mod:`.chi_square`).

The homogeneity statistic of the ``2 x K`` table (reference counts ``R_k``, total ``N``; window
counts ``w_k`` of the ``n`` window values in tested cells) is

    X2 = sum_k (R_k n - N w_k)^2 / (N n (R_k + w_k)) = N (n P - 2 Q + S / n)

with ``P = sum rho_k^2 / c_k``, ``Q = sum rho_k w_k / c_k``, ``S = sum w_k^2 / c_k``,
``rho_k = R_k / N`` and ``c_k = R_k + w_k``. A value entering or leaving the window changes one
``w_k``, hence one term of each sum: the update is O(1), and ``n`` may change too (while the
window fills, or when unseen values enter or leave) without touching the other terms. The three
sums are about ``n / N`` each and cancel down to ``X2 / N``, so about two digits are lost
whatever ``N`` is; rounding accumulated by the incremental updates is removed by recomputing
the sums from the counts every ``window_size`` updates (:meth:`ChiSquareTable.sums`). Both
sides perform the same floating-point operations in the same order, so the kernel's results
equal the detector's bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftline.detectors.contingency import (
    binomial_tail,
    cell_layout,
    chi2_isf,
    chi2_sf,
    jensen_shannon_distance,
    population_stability_index,
    unseen_threshold,
)

__all__ = ["ChiSquareState", "ChiSquareTable", "build_table", "table_statistics"]


@dataclass(frozen=True, eq=False)
class ChiSquareTable:
    """The reference side of one detector's test, its cells and its alarm levels.

    ``cell_of_code`` maps code ``c < len(cell_of_code) - 1`` to its cell and every larger code
    (the last entry) to the unseen cell ``n_cells``. ``reference`` holds the reference counts of
    the tested cells, ``rho`` / ``rho2`` their frequencies and squares, each with a padding entry
    for the unseen cell (never used in a sum).
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

    def cells(self, codes: np.ndarray) -> np.ndarray:
        """The cell of each code (int64 codes)."""
        return self.cell_of_code[np.minimum(codes, len(self.cell_of_code) - 1)]

    def sums(self, counts: np.ndarray) -> tuple[float, float, float]:
        """``(P, Q, S)`` from the window's cell counts, summed in cell order."""
        w = counts[: self.n_cells]
        c = self.reference[: self.n_cells] + w
        terms = np.stack([self.rho2[: self.n_cells] / c, self.rho[: self.n_cells] * w / c,
                          w * w / c])
        total = np.cumsum(terms, axis=1)[:, -1] if self.n_cells else np.zeros(3)
        return float(total[0]), float(total[1]), float(total[2])

    def deltas(self, cell: int, before: int, after: int) -> tuple[float, float, float]:
        """Change of ``(P, Q, S)`` when tested cell ``cell`` goes from ``before`` to ``after``."""
        r, rho, rho2 = float(self.reference[cell]), float(self.rho[cell]), float(self.rho2[cell])
        c0, c1 = r + before, r + after
        return (rho2 / c1 - rho2 / c0, rho * after / c1 - rho * before / c0,
                after * after / c1 - before * before / c0)

    def deltas_path(self, cells: np.ndarray, before: np.ndarray,
                    after: np.ndarray) -> np.ndarray:
        """:meth:`deltas` for arrays of tested cells, ``(L, 3)``: the same operations."""
        r, rho, rho2 = self.reference[cells], self.rho[cells], self.rho2[cells]
        c0, c1 = r + before, r + after
        return np.stack([rho2 / c1 - rho2 / c0, rho * after / c1 - rho * before / c0,
                         after * after / c1 - before * before / c0], axis=1)

    def statistic(self, n: int, sums: Sequence[float]) -> float:
        """``X2`` of a window with ``n`` values in tested cells (0 when there are none)."""
        if n == 0:
            return 0.0
        p, q, s = sums
        x = self.n_reference * (n * p - 2.0 * q + s / n)
        return x if x > 0.0 else 0.0

    def statistic_path(self, n: np.ndarray, sums: np.ndarray) -> np.ndarray:
        """:meth:`statistic` for arrays ``n`` ``(L,)`` and ``sums`` ``(L, 3)``, element by
        element the same operations."""
        safe = np.maximum(n, 1)
        x = self.n_reference * (safe * sums[:, 0] - 2.0 * sums[:, 1] + sums[:, 2] / safe)
        return np.where((n > 0) & (x > 0.0), x, 0.0)


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
    counts = np.array([*layout.cell_counts, 1], dtype=np.float64)  # padding for unseen
    rho = counts / total
    rho[-1] = 0.0
    return ChiSquareTable(
        cell_of_code=np.array([*layout.cell_of_code, layout.n_cells], dtype=np.int64),
        reference=counts, rho=rho, rho2=rho * rho, n_reference=total, n_cells=layout.n_cells,
        threshold=chi2_isf(alpha / 2.0, layout.dof),
        unseen_threshold=unseen_threshold(alpha / 2.0, window_size, unseen_rate),
        unseen_rate=float(unseen_rate), window_size=window_size)


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
        reference = np.r_[table.reference[: table.n_cells], 0.0]
        js = jensen_shannon_distance(counts, reference)
        psi = population_stability_index(counts, reference)
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


class ChiSquareState:
    """Array state of ``n`` columns: windows (codes, oldest first) and their cell counts, the
    running sums ``(P, Q, S)``, updates since the sums were last recomputed, and whether a
    detection empties the window before the next value."""

    def __init__(self, tables: Sequence[ChiSquareTable]) -> None:
        n = len(tables)
        self.windows = [np.empty(0, dtype=np.int64) for _ in range(n)]
        self.counts = [np.zeros(t.n_cells + 1, dtype=np.int64) for t in tables]
        self.sums = np.array([t.sums(c) for t, c in zip(tables, self.counts, strict=True)],
                             dtype=np.float64).reshape(n, 3)
        self.steps = np.zeros(n, dtype=np.int64)
        self.pending = np.zeros(n, dtype=bool)
        self.drift = np.zeros(n, dtype=bool)
        self.warning = np.zeros(n, dtype=bool)
