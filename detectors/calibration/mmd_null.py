"""NM-DDM's threshold: the null distribution of its statistic, simulated from the reference.

Streams are bootstrapped from the held-out reference rows' features; the threshold is the
smallest simulated statistic value at which a detector that restarts after each alarm raises at
most one alarm per ``target_arl0`` steps (a renewal count on the simulated paths, found by
:func:`detectors.calibration.bisection.bisect` over the sorted values). Used by
:meth:`detectors.nm_ddm.NMDDM.calibrate`.

Targets beyond simulation (the steps asked for exceed ``max_steps``, and fewer than
:data:`MIN_ALARMS` alarms are allowed over ``max_steps`` steps, e.g. the 10^8-10^10 rows of a
budget in time) use a fitted null tail: the renewal ARL0 at thresholds where the simulation
still counts ``MIN_ALARMS`` to ``100 * MIN_ALARMS`` alarms (at most one per 10 windows, so that
the refill of the window after each alarm does not cap them), over the values at risk, fitted
as ``log ARL0 = a + b t + c log t`` (the biased MMD^2 is close to a weighted chi-square, whose
tail has that form) and extrapolated (:func:`detectors.calibration.tail.fit_log_arl`).
"""

from __future__ import annotations

import numpy as np

from driftline.detectors._kernels.fourier import mmd2_from_means
from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.tail import fit_log_arl

__all__ = ["MAX_STEPS", "MIN_ALARMS", "calibrate_mmd_null"]

#: most steps simulated (~6 s); beyond, the null tail is fitted and extrapolated
MAX_STEPS = 1_000_000
#: fewest simulated alarms a threshold is read from directly
MIN_ALARMS = 30


def _renewal_alarms(paths: list[np.ndarray], window_size: int, threshold: float) -> int:
    """Alarms of a detector that restarts (empty window) after each alarm, over all paths.

    ``path[j]`` is the statistic with the window ending at step ``window_size - 1 + j`` of an i.i.d.
    stream; after a restart the window is full again ``window_size`` steps later, and from then on
    its statistic equals the unrestarted path's, so one path serves every threshold.
    """
    alarms = 0
    for path in paths:
        exceed = np.flatnonzero(path > threshold)
        nxt = 0
        while True:
            k = int(np.searchsorted(exceed, nxt))
            if k == len(exceed):
                break
            alarms += 1
            nxt = int(exceed[k]) + window_size
    return alarms


def calibrate_mmd_null(
    hold_features: np.ndarray,
    embed_mean: np.ndarray,
    n_embed: int,
    ref_mean: np.ndarray,
    window_size: int,
    n_frequencies: int,
    unbiased: bool,
    target_arl0: float,
    n_steps: int,
    rng: np.random.Generator,
    n_null: int = 2000,
    max_steps: int | None = None,
) -> tuple[float, np.ndarray]:
    """Threshold whose simulated false-alarm rate is at most ``1 / target_arl0``, and a null sample.

    Streams are bootstrapped from the held-out features. The deployed statistic is
    ``||noise_w + (mu_P - mu_ref)||^2`` with ``mu_P`` the unknown population embedding; the held-out
    offset ``mu_hold - mu_embed`` has twice the variance of that term, so each stream instead uses
    a draw from its conditional law given the data: ``c (mu_hold - mu_embed) + e`` with
    ``c = n_hold / n`` and ``e`` a bootstrap mean of ``n`` held-out rows minus ``mu_hold``.
    At most ``max_steps`` steps are simulated (module docstring: the fitted tail beyond).
    """
    limit = MAX_STEPS if max_steps is None else max_steps
    capped = n_steps > limit
    n_steps = min(n_steps, limit)
    n_hold = len(hold_features)
    hold_mean = hold_features.mean(axis=0)
    shrink = n_hold / (n_hold + n_embed)
    stream_len = max(10 * window_size, -(-n_steps // 16))
    n_streams = -(-n_steps // stream_len)
    chunk = 4096
    paths: list[np.ndarray] = []
    for _ in range(n_streams):
        extra = hold_features[rng.integers(0, n_hold, n_hold + n_embed)].mean(axis=0) - hold_mean
        shift = ref_mean - hold_mean + shrink * (hold_mean - embed_mean) + extra
        idx = rng.integers(0, n_hold, stream_len)
        parts = []
        for start in range(window_size - 1, stream_len, chunk):
            stop = min(start + chunk, stream_len)
            rows = hold_features[idx[start - window_size + 1:stop]]
            csum = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0)])
            means = (csum[window_size:] - csum[:-window_size]) / window_size + shift
            parts.append(mmd2_from_means(means, float(window_size), ref_mean,
                                         n_embed, n_frequencies, unbiased))
        paths.append(np.concatenate(parts))
    values = np.sort(np.concatenate(paths))
    stride = max(1, len(values) // n_null)
    total = n_streams * stream_len

    def at_most(allowed: int) -> float:
        """The smallest simulated value allowing at most ``allowed`` alarms (the largest
        always does)."""
        lo = bisect(lambda i: _renewal_alarms(paths, window_size, float(values[int(i)]))
                    <= allowed, len(values) - 1, -1, integer=True)
        return float(values[int(lo)])

    allowed = int(total / target_arl0)
    if allowed >= MIN_ALARMS or not capped:
        return at_most(allowed), values[::stride].copy()
    # rungs where alarms are rare against the window's refill after each one (at least 10
    # windows apart), their run lengths counted over the values at risk (the refills left out)
    most = max(2 * MIN_ALARMS, min(100 * MIN_ALARMS, total // (10 * window_size)))
    ladder = np.array([at_most(int(a)) for a in np.geomspace(most, MIN_ALARMS, 8)])
    alarms = np.array([_renewal_alarms(paths, window_size, t) for t in ladder])
    at_risk = np.maximum(total - alarms * window_size, 1)
    fit = fit_log_arl(ladder, at_risk / np.maximum(alarms, 1), alarms)
    return max(float(ladder[-1]), fit.threshold(target_arl0)), values[::stride].copy()
