"""A bank of Page-Hinkley tests, one per feature, advanced together over rows.

:class:`PageHinkleyBank` runs one two-sided Page-Hinkley test (see :mod:`detectors.page_hinkley`
for the definition and the choices made) per feature, with all features' state held in numpy
arrays of length ``n_features`` and advanced together over a batch of rows. It gives exactly the
detections and the state of one :class:`~detectors.page_hinkley.PageHinkley` per column: both
use the kernel :func:`detectors.page_hinkley_kernel.advance`, whose arithmetic is the same,
operation for operation, as the per-value update of the scalar detector.

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

from driftline.detectors.bank_base import FeatureBankBase
from driftline.detectors.page_hinkley import make_core
from driftline.detectors.page_hinkley_kernel import PHState, advance

__all__ = ["PHState", "PageHinkleyBank", "advance"]

class PageHinkleyBank(FeatureBankBase):
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
    """

    name = "page_hinkley_bank"

    def __init__(
        self, feature_names: Sequence[str], *, delta: float = 0.1, threshold: Any = 25.0,
        reference_means: Any = None, reference_stds: Any = None, warmup: int = 30,
        direction: str = "both", forgetting: float = 1.0, reset_on_drift: bool = True,
        min_instances: int = 30,
    ) -> None:
        super().__init__(feature_names)
        self._params: dict[str, Any] = {
            "feature_names": list(self.feature_names), "delta": delta,
            "threshold": np.asarray(threshold, dtype=float).tolist(),
            "reference_means": _jsonable(reference_means),
            "reference_stds": _jsonable(reference_stds), "warmup": warmup,
            "direction": direction, "forgetting": forgetting, "reset_on_drift": reset_on_drift,
            "min_instances": min_instances,
        }
        self._core = make_core(
            self.n_features, delta=delta, threshold=threshold, reference_mean=reference_means,
            reference_std=reference_stds, warmup=warmup, direction=direction,
            forgetting=forgetting, reset_on_drift=reset_on_drift, min_instances=min_instances,
            reference_suffix="s",
        )
        self._state = PHState(self._core)
        self._n_rows = 0
        self._n_detections = np.zeros(self.n_features, dtype=np.int64)

    def get_params(self) -> dict[str, Any]:
        return dict(self._params)

    def update_many(self, rows: Any) -> np.ndarray:
        arr = self._check_rows(rows)
        self._check_finite_rows(arr)
        rows_hit, feats_hit = advance(self._core, self._state, arr)
        self._n_rows += len(arr)
        np.add.at(self._n_detections, feats_hit, 1)
        return np.column_stack([rows_hit, feats_hit]).astype(np.int64).reshape(-1, 2)

    @property
    def drift_detected(self) -> np.ndarray:
        return self._state.drift.copy()

    @property
    def statistics(self) -> dict[str, np.ndarray]:
        st, core = self._state, self._core
        stat = {"up": st.su, "down": st.sd, "both": np.maximum(st.su, st.sd)}[core.direction]
        with np.errstate(invalid="ignore", divide="ignore"):
            running = np.where(st.n > 0, st.s / np.maximum(st.n, 1), np.nan)
        return {
            "statistic": stat.copy(), "statistic_up": st.su.copy(),
            "statistic_down": st.sd.copy(), "threshold": core.thresholds.copy(),
            "mean": np.where(np.isnan(core.ref_mean), running, core.ref_mean),
            "std": st.sigma.copy(),
            "ready": (~np.isnan(st.sigma) & (st.n >= core.min_instances)).astype(float),
            "n_seen": np.full(self.n_features, float(self._n_rows)),
            "n_detections": self._n_detections.astype(float), "drift": st.drift.astype(float),
        }

    def reset(self) -> None:
        self._state = PHState(self._core)
        self._n_rows = 0
        self._n_detections[:] = 0

    def state_dict(self) -> dict[str, Any]:
        return {"detector": self.name, "params": self.get_params(), "n_rows": self._n_rows,
                "n_detections": self._n_detections.tolist(), "state": self._state.to_json()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("detector") != self.name or state.get("params") != self.get_params():
            raise ValueError("state_dict was produced by a bank with other parameters")
        self._n_rows = int(state["n_rows"])
        self._n_detections = np.asarray(state["n_detections"], dtype=np.int64)
        self._state.from_json(state["state"])


def _jsonable(value: Any) -> Any:
    if value is None or np.ndim(value) == 0:
        return None if value is None else float(value)
    return [None if v is None else float(v) for v in np.asarray(value, dtype=object)]
