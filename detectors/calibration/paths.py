"""Statistic paths: a detector's statistic after every value, as if it could never fire.

A detector that restarts after a detection is a renewal process, so its first run length under
any threshold ``h`` is the first passage of this path above ``h``
(:class:`detectors.calibration.run_length.FirstPassages`): one path serves every threshold.
Detectors with a kernel that records paths (:meth:`detectors._kernels.protocol.Kernel.
statistic_path`) get them vectorised; others are run value by value and read
``statistics["statistic"]`` (NaN while ``statistics["ready"]`` is 0), which needs a detector
built with a threshold it does not reach.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.paths import statistic_path
>>> from driftline.detectors.page_hinkley import PageHinkley
>>> detector = PageHinkley(threshold=1000.0, reference_mean=0.0, reference_std=1.0,
...                        min_instances=1)
>>> statistic_path(detector, np.array([0.5, 1.5, -2.0])).round(2).tolist()
[0.4, 1.8, 1.9]
"""

from __future__ import annotations

import math

import numpy as np

from driftline.detectors.base import DriftDetector

__all__ = ["statistic_path"]


def statistic_path(detector: DriftDetector, values: np.ndarray) -> np.ndarray:
    """Consume finite ``values`` without firing; return the statistic after each one.

    The detector's state moves on (a later call continues the same path), as after
    ``update_many`` of the same values with an unreachable threshold.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("statistic_path expects a 1-D array of finite values")
    kernel = type(detector).kernel
    config = None if kernel is None else kernel.configure([detector])
    if kernel is not None and config is not None:
        saved = detector.state_dict()
        counters = saved["counters"]
        state = kernel.pack(config, [saved["state"]], np.array([counters["drift"]]),
                            np.array([counters["warning"]]))
        path = kernel.statistic_path(config, state, values[:, None])
        if path is not None:
            saved["state"] = kernel.unpack(config, state)[0]
            counters["n_seen"] += len(values)
            counters["drift"], counters["warning"] = bool(state.drift[0]), bool(state.warning[0])
            detector.load_state_dict(saved)
            return path[:, 0]
    path = np.empty(len(values))
    for i, value in enumerate(values.tolist()):
        detector.update(value)
        stats = detector.statistics
        path[i] = stats["statistic"] if stats.get("ready", 1.0) else math.nan
    return path
