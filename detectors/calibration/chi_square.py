"""Calibrate the level ``alpha`` of chi-square detectors to a target ARL0.

A :class:`detectors.chi_square.ChiSquare` detector tests every full window at level ``alpha``,
but consecutive windows share all values but one: their tests are strongly dependent, and the
first false alarm comes far later than ``1 / alpha`` values. Two methods, as for the KS family
(:mod:`detectors.calibration.ks_family`):

* ``"bound"`` — ``alpha = 1 / target_arl0``: each full window alarms with probability at most
  ``alpha`` under the reference (chi-square approximation, exact binomial for unseen values), so
  at most ``n / target_arl0`` alarms are expected in ``n`` values; the real ARL0 is much longer.
* ``"bootstrap"`` — simulated alarm paths (double bootstrap): each stream gets its own reference,
  a multinomial resample of the reference counts (the production reference is itself a sample:
  categories it missed by chance then show up as unseen values, at the rate they would), and
  a stream of codes drawn at the reference frequencies. Along each stream the chi-square
  statistic and the unseen count of the sliding window are computed directly from window counts
  (:func:`window_paths`, not through the detector), their records kept
  (:class:`detectors.calibration.run_length.FirstPassages`); a detector at level ``alpha`` first
  fires at the first record above its critical values, which
  :func:`detectors.calibration.run_length.estimate_arl` turns into the renewal estimate of ARL0,
  and bisection on ``log10(alpha)`` finds the largest level that meets the target.

A bank of ``k`` categorical columns meets a family target when each column meets ``k`` times it
(:func:`chi_square_alphas`; the false-alarm rates add up, whatever the columns' dependence).

Examples
--------
>>> from driftline.detectors.calibration.chi_square import calibrate_chi_square_alpha
>>> result = calibrate_chi_square_alpha([4000, 3000, 2000, 1000], 5_000, window_size=100,
...                                     n_streams=20, seed=0)
>>> 1e-4 < result["alpha"] < 1e-1 and result["n_alarms"] >= 10
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.chi_square_state import ChiSquareTable, build_table
from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.cache import cache_key
from driftline.detectors.calibration.run_length import FirstPassages, estimate_arl
from driftline.detectors.contingency import chi2_isf, unseen_threshold

__all__ = ["ChiSquareCalibration", "calibrate_chi_square_alpha", "chi_square_alphas",
           "window_paths"]

#: bound on the cells of the count arrays of one chunk of a simulated stream
_CELL_BUDGET = 1 << 21
#: simulated values (streams x length) above which "bootstrap" refuses, pointing to "bound"
MAX_SIMULATED_VALUES = 400_000_000
#: search range of log10(alpha)
_LOG_ALPHA = (-15.0, math.log10(0.5))

_CACHE: dict[str, list[float]] = {}


class ChiSquareCalibration(dict):  # type: ignore[type-arg]
    """``{"alpha", "estimated_arl0", "n_alarms", "n_streams", "stream_length"}``."""


def window_paths(table: ChiSquareTable, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square statistic and unseen count of the sliding window after every value of
    ``codes`` (NaN until the window is full), from the window's cell counts:
    ``sum_k (R_k n - N w_k)^2 / (N n (R_k + w_k))``."""
    size, n_cells = table.window_size, table.n_cells
    cells = table.cells(np.asarray(codes, dtype=np.int64))
    n_values = len(cells)
    statistic = np.full(n_values, np.nan)
    unseen = np.full(n_values, np.nan)
    reference, total = table.reference[:n_cells], table.n_reference
    chunk = max(size, _CELL_BUDGET // (n_cells + 1))
    history = np.zeros((1, n_cells + 1), dtype=np.int64)  # cumulative counts before value 0
    for start in range(0, n_values, chunk):
        stop = min(n_values, start + chunk)
        onehot = np.zeros((stop - start, n_cells + 1), dtype=np.int64)
        onehot[np.arange(stop - start), cells[start:stop]] = 1
        cumulative = np.vstack([history, history[-1] + np.cumsum(onehot, axis=0)])
        first = max(start, size - 1)  # the first full window in this chunk
        if first < stop:
            top = cumulative[len(history) + first - start: len(history) + stop - start]
            window = top - cumulative[len(history) + first - start - size:
                                      len(history) + stop - start - size]
            seen = window[:, :n_cells]
            n = seen.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = (reference * n[:, None] - total * seen) ** 2 / (reference + seen)
                statistic[first:stop] = np.where(n > 0, terms.sum(axis=1) / (total * n), 0.0)
            unseen[first:stop] = window[:, n_cells]
        history = cumulative[-size:]
    return statistic, unseen


class _Stream:
    """One simulated stream: its detector's table and the records of its two paths."""

    def __init__(self, table: ChiSquareTable, codes: np.ndarray) -> None:
        self.table = table
        statistic, unseen = window_paths(table, codes)
        self.statistic, self.unseen = FirstPassages(), FirstPassages()
        self.statistic.extend(statistic)
        self.unseen.extend(unseen)
        self.length = len(codes)

    def first_alarm(self, alpha: float) -> int:
        """Values consumed up to the first alarm at level ``alpha`` (``length + 1``: none)."""
        table = self.table
        threshold = chi2_isf(alpha / 2.0, table.dof)
        limit = unseen_threshold(alpha / 2.0, table.window_size, table.unseen_rate)
        return min(self.statistic.first_passage(threshold), self.unseen.first_passage(limit))


def _streams(counts: Sequence[int], params: Mapping[str, Any], n_streams: int, length: int,
             rng: np.random.Generator) -> list[_Stream]:
    total = int(sum(counts))
    frequencies = np.asarray(counts, dtype=np.float64) / total
    streams = []
    for _ in range(n_streams):
        resampled = rng.multinomial(total, frequencies).tolist()
        table = build_table(resampled, int(params["window_size"]), 0.5,
                            float(params["min_expected"]), params["unseen_rate"])
        codes = rng.choice(len(frequencies), size=length, p=frequencies)
        streams.append(_Stream(table, codes))
    return streams


def _defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"window_size": 500, "min_expected": 5.0, "unseen_rate": None, **params}


def calibrate_chi_square_alpha(
    reference: Sequence[int],
    target_arl0: float,
    *,
    n_streams: int = 40,
    seed: int = 0,
    xtol: float = 0.01,
    **params: Any,
) -> ChiSquareCalibration:
    """The largest ``alpha`` whose simulated ARL0 meets ``target_arl0`` (``"bootstrap"``).

    ``reference`` are the counts per code, ``params`` the detector's ``window_size``,
    ``min_expected`` and ``unseen_rate``; streams are ``2 * target_arl0`` values long after
    the first window, and ``xtol`` is the bisection's tolerance on ``log10(alpha)``.
    """
    params = _defaults(params)
    length = int(params["window_size"]) + math.ceil(2 * target_arl0)
    if n_streams * length > MAX_SIMULATED_VALUES:
        raise ValueError(
            f"target_arl0={target_arl0:g} needs {n_streams * length:.3g} simulated values "
            f"(more than {MAX_SIMULATED_VALUES:.0e}); use calibration='bound'")
    streams = _streams(reference, params, n_streams, length, np.random.default_rng(seed))
    lengths = np.array([s.length for s in streams])

    def arl(log_alpha: float) -> tuple[float, int]:
        passages = np.array([s.first_alarm(10.0 ** log_alpha) for s in streams])
        return estimate_arl(passages, lengths)

    low, high = _LOG_ALPHA
    if arl(low)[0] < target_arl0:
        raise ValueError(f"no alpha down to 1e{low:.0f} reaches target_arl0={target_arl0:g}")
    best = high if arl(high)[0] >= target_arl0 else bisect(
        lambda u: arl(u)[0] >= target_arl0, low, high, xtol=xtol)
    estimate, alarms = arl(best)
    return ChiSquareCalibration(alpha=10.0 ** best, estimated_arl0=estimate, n_alarms=alarms,
                                n_streams=n_streams, stream_length=length)


def chi_square_alphas(counts: np.ndarray, target_arl0: float, params: Mapping[str, Any],
                      method: str, *, n_streams: int, seed: int) -> list[float]:
    """Per column of ``counts`` ``(codes, k)``, the level meeting ``k * target_arl0``
    (``method``: ``"bound"`` or ``"bootstrap"``); cached per process."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be (codes, columns), got shape {counts.shape}")
    k = counts.shape[1]
    per_column = float(target_arl0) * k
    if method == "bound":
        return [min(0.5, 1.0 / per_column)] * k
    if method != "bootstrap":
        raise ValueError(f"calibration must be 'bound' or 'bootstrap', got {method!r}")
    params = _defaults(params)
    key = cache_key(counts, "chi_square", per_column, sorted(params.items()), n_streams, seed)
    if key not in _CACHE:
        seeds = np.random.SeedSequence(seed).spawn(k)
        _CACHE[key] = [float(calibrate_chi_square_alpha(
            counts[:, j].tolist(), per_column, n_streams=n_streams,
            seed=int(np.random.default_rng(seeds[j]).integers(2**63)),
            window_size=params["window_size"], min_expected=params["min_expected"],
            unseen_rate=params["unseen_rate"])["alpha"]) for j in range(k)]
    return list(_CACHE[key])
