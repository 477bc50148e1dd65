"""Calibrate the family level ``alpha`` of a Bonferroni-corrected Incremental-KS bank to ARL0.

The bank (a :class:`detectors.bank.DetectorBank` of Incremental-KS columns with
``correction="bonferroni"``, built by the ``"ks_family"`` method of
:mod:`detectors.calibration.columns`) flags column ``j`` when ``k * p_j <= alpha``, ``p_j`` the
asymptotic KS p-value of its window against its reference. All columns share the reference size
``m`` and the window size ``W``, so ``p_j`` decreases with the statistic ``D_j`` and the bank fires
exactly when ``max_j D_j > d*`` with ``alpha = k * kolmogorov_sf(d* sqrt(m W / (m + W)))``. The
first alarm of the bank is therefore the first passage of the path ``M_t = max_j D_j,t`` above
``d*``.

Simulation (double bootstrap, as in :mod:`detectors.calibration.columns`): each stream gets its own
reference, a resample of the reference rows, and a stream of rows resampled from the reference
(rows are drawn whole, so the correlation between columns is kept). All values then lie on the
grid of the reference's distinct values, and the window's empirical CDF at step ``t`` is a
difference of cumulative histograms. To keep start-up within seconds the statistic is evaluated
every ``stride`` steps (``W`` must be a multiple); a crossing that rises and falls back between two
evaluations is missed, so the estimated ARL0 errs high and the chosen level slightly towards more
alarms than the target. ``stride=1`` is exact. ARL0 comes from
:func:`detectors.calibration.run_length.estimate_arl` (renewal estimate with censoring) and ``d*``
from bisection on it.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.ks_family import ks_family_alpha
>>> ks_family_alpha(np.zeros((10, 2)), 500, 20_000, "bound", n_streams=1, stride=1, seed=0)
5e-05

"""

from __future__ import annotations

import math

import numpy as np

from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.run_length import FirstPassages, arl_at
from driftline.detectors.kolmogorov import kolmogorov_sf

__all__ = ["KSCalibration", "calibrate_ks_bank_alpha", "ks_family_alpha", "ks_max_path"]

_MAX_CELLS = 4_000_000


class KSCalibration(dict):  # type: ignore[type-arg]
    """``{"alpha", "threshold", "estimated_arl0", "n_alarms", "n_streams", "stride"}``."""


def ks_max_path(ref_bins: np.ndarray, stream_bins: np.ndarray, n_grid: np.ndarray,
                window_size: int, stride: int) -> np.ndarray:
    """``max_j D_j`` after steps ``W, W + stride, ...`` of a sliding window over the stream.

    ``ref_bins`` ``(m, k)`` and ``stream_bins`` ``(L, k)`` are grid indices per column,
    ``n_grid[j]`` the grid size of column ``j``.
    """
    m, k = ref_bins.shape
    n_steps = len(stream_bins)
    n_blocks = n_steps // stride
    lag = window_size // stride
    out = np.zeros(max(0, n_blocks - lag + 1))
    for j in range(k):
        g = int(n_grid[j])
        ref_cdf = np.cumsum(np.bincount(ref_bins[:, j], minlength=g)).astype(np.int64)
        chunk = max(lag + 1, _MAX_CELLS // max(g, 1))
        cells = (np.arange(n_blocks * stride) // stride) * g + stream_bins[: n_blocks * stride, j]
        hist = np.bincount(cells, minlength=n_blocks * g).reshape(n_blocks, g)
        # P_x: cumulative histogram of the first x blocks; tail holds the last rows up to P_start
        tail = np.zeros((1, g), dtype=np.int64)
        for start in range(0, n_blocks, chunk):
            stop = min(n_blocks, start + chunk)
            full = np.vstack([tail, np.cumsum(hist[start:stop], axis=0) + tail[-1]])
            base = start + 1 - len(tail)          # full[i] is P_{base + i}
            lo = max(start + 1, lag)
            if lo <= stop:
                counts = (full[lo - base: stop + 1 - base]
                          - full[lo - lag - base: stop + 1 - lag - base])
                cdf = np.cumsum(counts, axis=1)
                diff = np.abs(cdf * m - ref_cdf[None, :] * window_size).max(axis=1)
                view = out[lo - lag: stop + 1 - lag]
                np.maximum(view, diff / (m * window_size), out=view)
            tail = full[-lag:]
    return out


def _alpha_of(threshold: float, n_columns: int, m: int, window_size: int) -> float:
    en = math.sqrt(m * window_size / (m + window_size))
    return float(min(1.0, n_columns * float(np.ravel(kolmogorov_sf(threshold * en))[0])))


def calibrate_ks_bank_alpha(
    reference: np.ndarray,
    window_size: int,
    target_arl0: float,
    *,
    n_streams: int = 40,
    stride: int = 10,
    seed: int = 0,
    xtol: float = 1e-5,
) -> KSCalibration:
    """Family ``alpha`` of a Bonferroni IKS bank over ``reference`` columns for ``target_arl0``.

    Streams are ``2 * target_arl0`` rows long (plus the first window).
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {ref.shape}")
    if window_size % stride:
        raise ValueError(f"window_size={window_size} must be a multiple of stride={stride}")
    m, k = ref.shape
    grids = [np.unique(ref[:, j]) for j in range(k)]
    bins = np.column_stack([np.searchsorted(grids[j], ref[:, j]) for j in range(k)])
    n_grid = np.array([len(g) for g in grids])
    rng = np.random.default_rng(seed)
    length = window_size + math.ceil(2 * target_arl0 / stride) * stride
    records: list[FirstPassages] = []
    for _ in range(n_streams):
        ref_rows = bins[rng.integers(0, m, m)]
        stream_rows = bins[rng.integers(0, m, length)]
        # entry i of the path is the statistic after window_size + stride * i rows
        passages = FirstPassages(offset=window_size, step=stride)
        passages.extend(ks_max_path(ref_rows, stream_rows, n_grid, window_size, stride),
                        values_consumed=length)
        records.append(passages)

    if arl_at(records, 1.0)[0] < target_arl0:
        raise ValueError("the KS statistic cannot reach the target ARL0 below 1")
    high = bisect(lambda h: arl_at(records, h)[0] >= target_arl0, 1.0, 0.0, xtol=xtol)
    estimate, alarms = arl_at(records, high)
    return KSCalibration(alpha=_alpha_of(high, k, m, window_size), threshold=high,
                         estimated_arl0=estimate, n_alarms=alarms, n_streams=n_streams,
                         stride=stride)


def ks_family_alpha(reference: np.ndarray, window_size: int, target_arl0: float, method: str,
                    *, n_streams: int, stride: int, seed: int) -> float:
    """Family level of the Bonferroni IKS bank for ``target_arl0``.

    ``"bound"``: ``1 / target_arl0``. Each step the bank alarms with probability at most its
    family level (Bonferroni across columns; the asymptotic KS p-value is conservative for
    discrete columns), so over ``n`` in-control steps at most ``n / target_arl0`` alarms are
    expected: ARL0 >= target, usually far above since consecutive windows overlap.
    ``"bootstrap"``: :func:`calibrate_ks_bank_alpha` (ARL0 close to the target, slow).
    """
    if method == "bound":
        return 1.0 / float(target_arl0)
    if method == "bootstrap":
        return float(calibrate_ks_bank_alpha(reference, window_size, target_arl0,
                                             n_streams=n_streams, stride=stride,
                                             seed=seed)["alpha"])
    raise ValueError(f"method must be 'bound' or 'bootstrap', got {method!r}")
