"""Calibration of the detectors' alarm parameters to a target in-control run length (ARL0).

One package for every calibration; each detector declares its alarm parameter and method
(:class:`detectors.alarm.AlarmParameter`), the callers (executor, evaluation) only call here.

* :mod:`.bisection` — the one bisection every search uses;
* :mod:`.run_length` — bootstrapped streams, first passages, false alarms over a horizon from
  chained first passages, alarm counts with restarts;
* :mod:`.paths` — statistic paths (vectorised through a detector's kernel);
* :mod:`.threshold` — thresholds from statistic paths (:func:`calibrate_threshold`, Page-Hinkley
  helpers);
* :mod:`.cusum`, :mod:`.cusum_overshoot` — Siegmund's closed form for the pinned CUSUM
  (Page-Hinkley) at any ARL0, its overshoot fitted for non-normal data;
* :mod:`.tail` — log-linear tail fits and their extrapolation beyond simulation;
* :mod:`.ks_tail` — exact KS tails and a sliding window's effective number of tests;
* :mod:`.budget` — a false-alarm budget in time as ARL0s per detector;
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
>>> 5.0 < result.threshold < 30.0 and result.n_alarms >= 200
True
>>> from driftline.detectors.calibration import budget_arl0, cusum_threshold
>>> arl0 = budget_arl0(1, 30 * 86400, 1000.0, 11)   # 1 page / 30 days at 1000/s, 11 sources
>>> round(cusum_threshold(arl0, 0.5), 2)            # pinned Page-Hinkley's threshold for it
22.91
"""

from __future__ import annotations

from driftline.detectors.calibration.bisection import bisect
from driftline.detectors.calibration.budget import BudgetShare, budget_arl0, split_budget
from driftline.detectors.calibration.columns import (
    METHODS,
    ColumnCalibration,
    ColumnRequest,
    calibrate_columns,
)
from driftline.detectors.calibration.cusum import CusumModel, StandardisedLaw, cusum_threshold
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
from driftline.detectors.calibration.ks_tail import ks_tail_alpha
from driftline.detectors.calibration.paths import statistic_path
from driftline.detectors.calibration.run_length import (
    FirstPassages,
    HorizonChains,
    estimate_arl,
    false_alarms,
    moving_block_bootstrap,
)
from driftline.detectors.calibration.tail import extrapolate_threshold, fit_log_arl
from driftline.detectors.calibration.threshold import (
    CalibrationResult,
    calibrate_bank,
    calibrate_page_hinkley,
    calibrate_threshold,
)

__all__ = [
    "METHODS",
    "BudgetShare",
    "CalibrationResult",
    "ColumnCalibration",
    "ColumnRequest",
    "CusumModel",
    "FirstPassages",
    "HorizonCalibration",
    "HorizonChains",
    "KSCalibration",
    "OutOfReachError",
    "RateSearch",
    "StandardisedLaw",
    "bisect",
    "budget_arl0",
    "calibrate_bank",
    "calibrate_columns",
    "calibrate_error_detector",
    "calibrate_ks_bank_alpha",
    "calibrate_page_hinkley",
    "calibrate_parameter",
    "calibrate_threshold",
    "cusum_threshold",
    "estimate_arl",
    "extrapolate_threshold",
    "false_alarms",
    "fit_log_arl",
    "ks_family_alpha",
    "ks_max_path",
    "ks_tail_alpha",
    "moving_block_bootstrap",
    "search_alarm_rate",
    "split_budget",
    "statistic_path",
]
