"""Incremental-KS columns under a multiple-testing correction, vectorised over rows.

A bank of :class:`detectors.incremental_ks.IncrementalKS` columns with a Bonferroni or
Benjamini-Hochberg correction (:class:`detectors.bank.DetectorBank`) decides on the corrected
p-values of all columns at each row. Here the statistics of every column over a block of rows
come from the sparse exact KS path (:func:`detectors._kernels.ks_path.ks_path_sparse`: steps
whose statistic provably stays under every rejection level are left out), the p-values of all
rows are corrected in one call, and only the columns a detection resets are recomputed. Each
column's own counters and flags follow its uncorrected test, exactly as the per-row loop leaves
them.
"""

from __future__ import annotations

import math

import numpy as np

from driftline.detectors._kernels.incremental_ks_state import KSConfig, KSState
from driftline.detectors._kernels.ks_path import (
    ks_path_sparse,
    safe_statistic_bound,
    statistic_reaching,
)
from driftline.detectors._kernels.protocol import Counters
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors.kolmogorov import kolmogorov_sf
from driftline.detectors.multiple_testing import correct

__all__ = ["CorrectedKS"]


class CorrectedKS:
    """The corrected passes of one bank (its family level, correction and reset policy)."""

    def __init__(self, config: KSConfig, alpha: float, correction: str,
                 reset_on_drift: bool) -> None:
        self.config, self.alpha, self.correction = config, alpha, correction
        self.reset_on_drift = reset_on_drift
        w = config.window_size
        sizes = config.reference_sizes.astype(np.float64)
        self.en = np.sqrt(sizes * w / (sizes + w))
        # Any rejection (own threshold, Bonferroni or BH) needs p <= alpha: statistics under
        # this bound need not be computed (ks_path_sparse).
        self.below = [safe_statistic_bound(float(t), float(en), alpha, w)
                      for t, en in zip(config.thresholds, self.en, strict=True)]
        self.tie_ends = [np.searchsorted(r, r, side="right") for r in config.references]
        # p <= alpha / m is rejected by Bonferroni and BH alike: with resets, a column's path
        # may stop there (everything after is recomputed from the emptied window).
        m = len(config.references)
        self.stop_above = [statistic_reaching(float(en), alpha / m) + 2.0 / w
                           if reset_on_drift else math.inf for en in self.en]

    def _path(self, j: int, window: np.ndarray, values: np.ndarray) -> np.ndarray:
        return ks_path_sparse(self.config.references[j], window, values, self.config.window_size,
                              self.below[j], self.stop_above[j], self.tie_ends[j])

    def _p_values(self, stats: np.ndarray, en: np.ndarray) -> np.ndarray:
        # the float operations of IncrementalKS.p_value, column by column
        scaled = np.nan_to_num(stats, nan=0.0) * en
        return kolmogorov_sf(scaled.ravel()).reshape(stats.shape)

    def advance(self, st: KSState, counters: Counters, rows: np.ndarray, hits: Hits,
                decision: list[np.ndarray]) -> None:
        """Consume finite ``rows``; detections go to ``hits``; ``decision`` holds the bank's
        ``[drift, adjusted p-values]`` after the last row and is updated in place."""
        piece = max(4 * self.config.window_size, 4096)
        for start in range(0, len(rows), piece):
            self._block(st, counters, rows[start : start + piece], start, hits, decision)

    def _block(self, st: KSState, counters: Counters, block: np.ndarray, offset: int,
               hits: Hits, decision: list[np.ndarray]) -> None:
        n_rows, m = block.shape
        stats = np.column_stack([self._path(j, st.windows[j], block[:, j]) for j in range(m)])
        # p-values are element-wise in the statistics: computed once, then only the columns a
        # detection resets are recomputed
        p_values = self._p_values(stats, self.en[None, :])
        resets: list[list[int]] = [[] for _ in range(m)]
        r0 = 0
        while r0 < n_rows:
            reject, adjusted = correct(p_values[r0:], self.alpha, self.correction)
            hit_rows = np.flatnonzero(reject.any(axis=1))
            if not self.reset_on_drift or len(hit_rows) == 0:
                r_idx, c_idx = np.nonzero(reject)
                hits.add(offset + r0 + r_idx, c_idx)
                decision[:] = [reject[-1].copy(), adjusted[-1].copy()]
                break
            first = int(hit_rows[0])
            row = r0 + first
            hit = np.flatnonzero(reject[first])
            hits.add(np.full(len(hit), offset + row), hit)
            decision[:] = [reject[first].copy(), adjusted[first].copy()]
            for j in hit:
                resets[j].append(row)
                stats[row + 1 :, j] = self._path(j, np.empty(0), block[row + 1 :, j])
                p_values[row + 1 :, j] = self._p_values(stats[row + 1 :, j], self.en[j])
            r0 = row + 1
        for j in range(m):
            prev = 0
            for row in resets[j]:
                self._consume(st, counters, j, block[prev : row + 1, j], stats[prev : row + 1, j])
                self._reset(st, counters, j)
                prev = row + 1
            self._consume(st, counters, j, block[prev:, j], stats[prev:, j])

    def _consume(self, st: KSState, counters: Counters, j: int, values: np.ndarray,
                 stats: np.ndarray) -> None:
        """Column ``j``'s own test over ``values`` whose statistics are ``stats`` (no reset of
        its own: the bank decides)."""
        if len(values) == 0:
            return
        over = stats > self.config.thresholds[j]
        last = stats[-1]
        st.statistic[j] = 0.0 if math.isnan(last) else last
        st.drift[j] = bool(over[-1])
        st.warning[j] = False
        counters.n_seen[j] += len(values)
        counters.n_detections[j] += int(over.sum())
        st.append(j, values, self.config.window_size)

    @staticmethod
    def _reset(st: KSState, counters: Counters, j: int) -> None:
        st.windows[j] = np.empty(0)
        st.statistic[j] = 0.0
        st.drift[j] = st.warning[j] = False
        counters.n_seen[j] = counters.n_skipped[j] = counters.n_detections[j] = 0
