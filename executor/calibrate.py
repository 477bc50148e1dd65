"""Start-up calibration of the pipeline's Page-Hinkley thresholds to a target ARL0.

Each column's threshold comes from :func:`detectors.calibration.calibrate_threshold`: streams are
bootstrapped from the column's reference sample and, because production compares against a
*fixed* reference whose mean and standard deviation are themselves estimates, every simulated
stream's detector is pinned to the mean and standard deviation of its own bootstrap resample of
the reference (a double bootstrap). Without that, thresholds come out too low: the simulated
streams would match the pinned mean exactly, which real traffic never does.

A bank of ``k`` columns gets a family target: each column is calibrated to ``k * target_arl0``,
so the expected number of false alarms of the bank is that of one detector at ``target_arl0``
(Bonferroni split of the false-alarm rate).

Results are cached in memory per process (keyed by the reference bytes and the parameters) and
travel with the pipeline's ``state_dict``, so a restored pipeline does not recalibrate.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np

from detectors.calibration import calibrate_threshold
from detectors.page_hinkley import PageHinkley

__all__ = ["calibrate_page_hinkley_columns"]

_CACHE: dict[str, list[float]] = {}


def _key(reference: np.ndarray, *parts: object) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(reference, dtype=np.float64).tobytes())
    digest.update(json.dumps([repr(p) for p in parts]).encode())
    return digest.hexdigest()


def calibrate_page_hinkley_columns(
    reference: np.ndarray,
    target_arl0: float,
    *,
    delta: float,
    min_instances: int,
    n_streams: int,
    seed: int,
    names: Sequence[str] | None = None,
) -> list[float]:
    """Per-column Page-Hinkley thresholds (sigma units) for a bank over ``reference`` columns.

    ``reference`` is ``(n_ref, k)``; each column is calibrated to ``k * target_arl0``. Streams
    are ``1.5 * k * target_arl0`` values long (about 78 % alarm); censored streams enter the
    renewal estimate as exposure.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError(f"reference must be (n_ref >= 2, k), got {ref.shape}")
    k = ref.shape[1]
    per_column = float(target_arl0) * k
    key = _key(ref, per_column, delta, min_instances, n_streams, seed)
    if key in _CACHE:
        return list(_CACHE[key])
    seeds = np.random.SeedSequence(seed).spawn(k)
    thresholds = []
    for j in range(k):
        column = ref[:, j]
        rng = np.random.default_rng(seeds[j])
        if float(np.std(column)) == 0.0:
            # a constant reference column: any change is drift, nothing to calibrate
            thresholds.append(math.inf)
            continue
        resample_rng = np.random.default_rng(rng.integers(2**63))

        def make(threshold: float, column: np.ndarray = column,
                 resample_rng: np.random.Generator = resample_rng) -> PageHinkley:
            sample = column[resample_rng.integers(0, len(column), len(column))]
            std = float(np.std(sample, ddof=1))
            return PageHinkley(delta=delta, threshold=threshold, direction="both",
                               reference_mean=float(np.mean(sample)),
                               reference_std=std if std > 0 else float(np.std(column, ddof=1)),
                               min_instances=min_instances)

        result = calibrate_threshold(
            make, column, per_column, threshold_bounds=(0.0, 2000.0), n_streams=n_streams,
            stream_length=max(100, int(1.5 * per_column)), verify_length=0, max_censored=1.0,
            max_extensions=0, xtol=1e-4, random_state=rng)
        thresholds.append(float(result.threshold))
    _CACHE[key] = list(thresholds)
    return thresholds
