"""A bank of Page-Hinkley tests, one per feature, advanced together over rows.

:class:`PageHinkleyBank` runs one two-sided Page-Hinkley test (see :mod:`detectors.page_hinkley`
for the definition and the choices made) per feature: a :class:`detectors.bank.DetectorBank` of
:class:`~detectors.page_hinkley.PageHinkley` detectors built from shared and per-feature
parameters. Their state is held in the Page-Hinkley kernel's arrays and advanced together over
a batch of rows (:mod:`detectors._kernels.page_hinkley`), giving exactly the detections and the
state of one detector per column.

Reference: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.page_hinkley_bank import PageHinkleyBank
>>> rng = np.random.default_rng(0)
>>> rows = rng.normal(size=(3000, 3))
>>> rows[2000:, 1] += 1.5                       # feature "b" shifts up at row 2000
>>> bank = PageHinkleyBank(["a", "b", "c"], delta=0.25, threshold=30.0)
>>> hits = bank.update_many(rows)
>>> [(int(r), bank.feature_names[f]) for r, f in hits]
[(2010, 'b')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import check_number
from driftline.detectors.page_hinkley import PageHinkley

__all__ = ["PageHinkleyBank"]


def _per_feature(name: str, value: Any, n: int, **check: Any) -> list[float | None]:
    """One validated value per feature (a scalar is repeated); errors name ``name[j]``."""
    if value is None or np.ndim(value) == 0:
        return [check_number(name, value, **check)] * n
    values = list(np.asarray(value, dtype=object))
    if np.ndim(value) != 1 or len(values) != n:
        raise ValueError(f"{name} must be a scalar or have one value per feature ({n}), "
                         f"got shape {np.shape(value)}")
    return [check_number(f"{name}[{j}]", v, **check) for j, v in enumerate(values)]


class PageHinkleyBank(DetectorBank):
    """One two-sided Page-Hinkley test per feature, advanced together (see module docstring).

    Parameters
    ----------
    feature_names
        Names of the features (columns of the rows).
    delta, threshold
        Allowance and threshold in units of each feature's reference standard deviation;
        ``threshold`` may be one value per feature (e.g. from
        :func:`detectors.calibration.calibrate_bank`).
    reference_means, reference_stds
        Optional pinned references, scalars or one value per feature (``None`` entries use the
        running mean / the warm-up estimate for that feature).
    warmup, direction, forgetting, reset_on_drift, min_instances
        As for :class:`detectors.page_hinkley.PageHinkley`, shared by all features.
    min_effect, effect_window
        Minimum standardised mean shift to report a detection, and the values it is measured
        on (:class:`detectors.bank.DetectorBank`; needs pinned references).
    """

    name = "page_hinkley_bank"

    def __init__(
        self, feature_names: Sequence[str], *, delta: float = 0.1, threshold: Any = 25.0,
        reference_means: Any = None, reference_stds: Any = None, warmup: int = 30,
        direction: str = "both", forgetting: float = 1.0, reset_on_drift: bool = True,
        min_instances: int = 30, min_effect: Any = None, effect_window: int | None = None,
    ) -> None:
        n = len(feature_names)
        thresholds = _per_feature("threshold", threshold, n, low=0.0)
        means = _per_feature("reference_means", reference_means, n, allow_none=True)
        stds = _per_feature("reference_stds", reference_stds, n, low=0.0, low_inclusive=False,
                            allow_none=True)
        # one detector per distinct per-feature setting (the bank copies what it must)
        built: dict[tuple[Any, ...], PageHinkley] = {}
        for key in zip(thresholds, means, stds, strict=True):
            if key not in built:
                t, m, sd = key
                built[key] = PageHinkley(
                    delta=delta, threshold=t, direction=direction, reference_mean=m,
                    reference_std=sd, warmup=warmup, forgetting=forgetting,
                    reset_on_drift=reset_on_drift, min_instances=min_instances)
        super().__init__(feature_names, [built[key] for key in zip(thresholds, means, stds,
                                                                      strict=True)],
                         min_effect=min_effect, effect_window=effect_window)
