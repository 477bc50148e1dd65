"""Bank of incremental KS detectors with the multiple-testing correction vectorised over rows.

:class:`IncrementalKSBank` is a :class:`detectors.bank.DetectorBank` of
:class:`detectors.incremental_ks.IncrementalKS` detectors (dos Reis et al., KDD 2016) with the
same semantics (see :mod:`detectors.bank`), but with a correction it computes the statistics of
every feature for a block of rows at once with the exact vectorised path
(:func:`detectors._ks_path.ks_path`), corrects the p-values of all rows in one call, and only
recomputes the features that were reset after a detection. Without a correction each feature
already runs its own vectorised ``update_many``.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.incremental_ks_bank import IncrementalKSBank
>>> rng = np.random.default_rng(0)
>>> bank = IncrementalKSBank([f"x{j}" for j in range(20)], rng.normal(size=(500, 20)),
...                          window_size=200, alpha=0.01, correction="bonferroni")
>>> rows = rng.normal(size=(2000, 20))
>>> rows[1000:, 7] += 1.0
>>> hits = bank.update_many(rows)
>>> sorted(set(hits[:, 1].tolist())), bool(hits[0, 0] >= 1000)
([7], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.detectors._ks_path import (
    kolmogorov_sf,
    ks_path_sparse,
    safe_statistic_bound,
    statistic_reaching,
)
from driftline.detectors.bank import DetectorBank
from driftline.detectors.bank_base import hit_pairs
from driftline.detectors.base import NonFiniteInputError, check_int
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.multiple_testing import correct

__all__ = ["IncrementalKSBank"]


class IncrementalKSBank(DetectorBank):
    """One :class:`~detectors.incremental_ks.IncrementalKS` per feature, vectorised correction.

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns, in order.
    references : array-like
        Reference samples: a 2-D array ``(n_ref, n_features)`` (one column per feature) or a
        sequence of 1-D samples (sizes may differ).
    window_size, seed :
        As in :class:`~detectors.incremental_ks.IncrementalKS`.
    alpha : float
        Level of each feature's test without correction; family level with one.
    correction : {None, "bonferroni", "bh"}
        Multiple-testing correction across features at each row.
    reset_on_drift : bool
        Empty a feature's window after it is detected.

    Non-finite values raise :class:`~detectors.base.NonFiniteInputError`.
    """

    name = "incremental_ks_bank"

    def __init__(
        self,
        feature_names: Sequence[str],
        references: Any,
        *,
        window_size: int = 500,
        alpha: float = 0.005,
        correction: str | None = None,
        reset_on_drift: bool = True,
        seed: int = 0,
    ) -> None:
        if isinstance(references, np.ndarray) and references.ndim == 2:
            refs = [references[:, j] for j in range(references.shape[1])]
        else:
            refs = list(references)
        window_size = check_int("window_size", window_size, low=1)
        own_reset = bool(reset_on_drift) if correction is None else False
        detectors = [
            IncrementalKS(ref, window_size=window_size, alpha=alpha,
                          reset_on_drift=own_reset, seed=seed)
            for ref in refs
        ]
        super().__init__(feature_names, detectors, correction=correction, alpha=alpha,
                         reset_on_drift=reset_on_drift)
        self.window_size = window_size
        self._ks: list[IncrementalKS] = detectors
        sizes = np.array([len(det.reference) for det in detectors], dtype=np.float64)
        self._en = np.sqrt(sizes * window_size / (sizes + window_size))
        # Any rejection (own threshold, Bonferroni or BH) needs p <= alpha: statistics under
        # this bound need not be computed (detectors._ks_path.ks_path_sparse).
        self._below = [safe_statistic_bound(det._threshold, float(en), alpha, window_size)
                       for det, en in zip(detectors, self._en, strict=True)]
        self._tie_ends = [np.searchsorted(det._ref_sorted, det._ref_sorted, side="right")
                          for det in detectors]
        # p <= alpha / m is rejected by Bonferroni and BH alike: with resets, a column's path
        # may stop there (everything after is recomputed from the emptied window).
        m = len(detectors)
        self._stop_above = [
            statistic_reaching(float(en), alpha / m) + 2.0 / window_size
            if reset_on_drift and correction is not None else math.inf for en in self._en]

    def _p_values(self, stats: np.ndarray) -> np.ndarray:
        # same float operations as IncrementalKS.p_value, feature by feature
        scaled = np.nan_to_num(stats, nan=0.0) * self._en[None, :]
        return kolmogorov_sf(scaled.ravel()).reshape(stats.shape)

    def _update_corrected(self, arr: np.ndarray) -> np.ndarray:
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise NonFiniteInputError(f"{type(self).__name__} received a non-finite value in "
                                      f"row {bad}")
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        piece = max(4 * self.window_size, 4096)
        for start in range(0, len(arr), piece):
            self._corrected_block(arr[start : start + piece], start, rows, cols)
        return hit_pairs(rows, cols)

    def _corrected_block(
        self, block: np.ndarray, offset: int, rows: list[np.ndarray], cols: list[np.ndarray],
    ) -> None:
        assert self.correction is not None
        n_rows = len(block)
        stats = np.column_stack([
            ks_path_sparse(det._ref_sorted, np.array(det.window), block[:, j], self.window_size,
                           self._below[j], self._stop_above[j], self._tie_ends[j])
            for j, det in enumerate(self._ks)
        ])
        # p-values are element-wise in the statistics: computed once, then only the columns a
        # detection resets are recomputed
        p_values = self._p_values(stats)
        resets: list[list[int]] = [[] for _ in self._ks]
        r0 = 0
        while r0 < n_rows:
            reject, adjusted = correct(p_values[r0:], self.alpha, self.correction)
            hit_rows = np.flatnonzero(reject.any(axis=1))
            if not self.reset_on_drift or len(hit_rows) == 0:
                r_idx, c_idx = np.nonzero(reject)
                rows.append(offset + r0 + r_idx)
                cols.append(c_idx)
                self._drift, self._adjusted = reject[-1].copy(), adjusted[-1].copy()
                break
            first = int(hit_rows[0])
            row = r0 + first
            hit = np.flatnonzero(reject[first])
            rows.append(np.full(len(hit), offset + row))
            cols.append(hit)
            self._drift, self._adjusted = reject[first].copy(), adjusted[first].copy()
            for j in hit:
                resets[j].append(row)
                stats[row + 1 :, j] = ks_path_sparse(
                    self._ks[j]._ref_sorted, np.empty(0), block[row + 1 :, j], self.window_size,
                    self._below[j], self._stop_above[j], self._tie_ends[j])
                p_values[row + 1 :, j] = kolmogorov_sf(
                    np.nan_to_num(stats[row + 1 :, j], nan=0.0) * self._en[j])
            r0 = row + 1
        for j, det in enumerate(self._ks):
            prev = 0
            for row in resets[j]:
                det._advance_with_path(block[prev : row + 1, j], stats[prev : row + 1, j])
                det.reset()
                prev = row + 1
            det._advance_with_path(block[prev:, j], stats[prev:, j])
