"""Calibration of the detectors' alarm parameters to a target in-control run length (ARL0).

One package for every calibration; each detector declares its alarm parameter and method
(:class:`detectors.alarm.AlarmParameter`), the callers (executor, evaluation) only call here.

* :mod:`.bisection` — the one bisection every search uses;
* :mod:`.run_length` — bootstrapped streams, first passages, the renewal ARL estimate, alarm
  counts with restarts;
* :mod:`.paths` — statistic paths (vectorised through a detector's kernel);
* :mod:`.threshold` — thresholds from statistic paths (:func:`calibrate_threshold`, Page-Hinkley
  helpers);
* :mod:`.horizon` — any parameter from alarm counts on fresh finite streams;
* :mod:`.ks_family` — the family level of a Bonferroni-corrected Incremental-KS bank;
* :mod:`.errors` — the error-rate detectors' parameters at a reference error rate;
* :mod:`.mmd_null` — NM-DDM's simulated null and threshold;
* :mod:`.columns` — banks of columns: the method registry :data:`METHODS`.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration import calibrate_page_hinkley
>>> reference = np.random.default_rng(0).normal(size=5000)
>>> result = calibrate_page_hinkley(reference, 1000, delta=0.25, n_streams=100,
...                                 random_state=1)
>>> 5.0 < result.threshold < 30.0 and result.n_alarms >= 90
True
"""

from __future__ import annotations

from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.columns import (
    METHODS,
    ColumnCalibration,
    ColumnRequest,
    calibrate_columns,
)
from driftline.detectors.calibration.errors import calibrate_error_detector
from driftline.detectors.calibration.horizon import (
    HorizonCalibration,
    OutOfReachError,
    RateSearch,
    calibrate_parameter,
    search_alarm_rate,
)
from driftline.detectors.calibration.ks_family import (
    KSCalibration,
    calibrate_ks_bank_alpha,
    ks_family_alpha,
    ks_max_path,
)
from driftline.detectors.calibration.paths import statistic_path
from driftline.detectors.calibration.run_length import (
    FirstPassages,
    estimate_arl,
    false_alarms,
    moving_block_bootstrap,
)
from driftline.detectors.calibration.threshold import (
    CalibrationResult,
    calibrate_bank,
    calibrate_page_hinkley,
    calibrate_threshold,
)

__all__ = [
    "METHODS",
    "CalibrationResult",
    "ColumnCalibration",
    "ColumnRequest",
    "FirstPassages",
    "HorizonCalibration",
    "KSCalibration",
    "OutOfReachError",
    "RateSearch",
    "bisect",
    "calibrate_bank",
    "calibrate_columns",
    "calibrate_error_detector",
    "calibrate_ks_bank_alpha",
    "calibrate_page_hinkley",
    "calibrate_parameter",
    "calibrate_threshold",
    "estimate_arl",
    "false_alarms",
    "ks_family_alpha",
    "ks_max_path",
    "moving_block_bootstrap",
    "search_alarm_rate",
    "statistic_path",
]
