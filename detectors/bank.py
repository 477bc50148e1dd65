"""Generic feature bank: one univariate detector per feature, optional multiple-testing correction.

Without ``correction`` every feature's detector runs independently on its column through its own
(vectorised) ``update_many``: detections are exactly those of independent detectors.

With ``correction="bonferroni"`` or ``"bh"`` (Benjamini-Hochberg, see
:mod:`detectors.multiple_testing`) the detectors must expose ``statistics["p_value"]``; after each
row the p-values of all features are corrected together and feature ``j`` detects drift when its
adjusted p-value is ``<= alpha`` (the bank's ``alpha``); the detectors' own thresholds and
``drift_detected`` are then ignored. Resetting is the bank's job in that mode: detectors that
take a ``reset_on_drift`` parameter must be built with ``reset_on_drift=False`` (otherwise a
detector would clear its window on its own uncorrected decision), and when the bank's
``reset_on_drift`` is True the bank calls ``reset()`` on every feature detected at that row (for
:class:`detectors.incremental_ks.IncrementalKS` that empties the window and keeps the
reference; its statistic reads 0 and its p-value 1 until the window is full again). A feature
whose window is not full yet has p-value 1 and still counts in the family of ``m`` tests.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.bank import DetectorBank
>>> from driftline.detectors.incremental_ks import IncrementalKS
>>> rng = np.random.default_rng(0)
>>> refs = rng.normal(size=(300, 3))
>>> bank = DetectorBank(["a", "b", "c"],
...                     factory=lambda j: IncrementalKS(refs[:, j], window_size=100,
...                                                     alpha=1e-4))
>>> rows = np.c_[rng.normal(size=(600, 2)), rng.normal(2.0, size=600)]
>>> hits = bank.update_many(rows)
>>> hits[:3].tolist()
[[99, 2], [199, 2], [299, 2]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from driftline.detectors.bank_base import FeatureBankBase, hit_pairs
from driftline.detectors.base import DriftDetector, check_probability
from driftline.detectors.multiple_testing import CORRECTIONS, correct

__all__ = ["DetectorBank", "check_correction"]


def check_correction(correction: str | None) -> str | None:
    """Validate the ``correction`` parameter of a bank."""
    if correction is not None and correction not in CORRECTIONS:
        raise ValueError(
            f"correction must be None or one of {sorted(CORRECTIONS)}, got {correction!r}"
        )
    return correction


class DetectorBank(FeatureBankBase):
    """One univariate :class:`~detectors.base.DriftDetector` per feature (see module docstring).

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns, in order.
    detectors : sequence of DriftDetector, optional
        One detector per feature (exclusive with ``factory``).
    factory : callable, optional
        ``factory(j)`` builds the detector of column ``j``.
    correction : {None, "bonferroni", "bh"}
        Multiple-testing correction across features, applied at each row.
    alpha : float
        Family level of the correction (unused without ``correction``).
    reset_on_drift : bool
        With a correction: reset a feature's detector when it is detected.
    """

    name = "detector_bank"

    def __init__(
        self,
        feature_names: Sequence[str],
        detectors: Sequence[DriftDetector] | None = None,
        *,
        factory: Callable[[int], DriftDetector] | None = None,
        correction: str | None = None,
        alpha: float = 0.05,
        reset_on_drift: bool = True,
    ) -> None:
        super().__init__(feature_names)
        if (detectors is None) == (factory is None):
            raise ValueError("pass exactly one of detectors or factory")
        built = list(detectors) if detectors is not None else [
            factory(j) for j in range(self.n_features)  # type: ignore[misc]
        ]
        if len(built) != self.n_features:
            raise ValueError(
                f"detectors must hold one detector per feature ({self.n_features}), "
                f"got {len(built)}"
            )
        for det in built:
            if not isinstance(det, DriftDetector) or det.multivariate:
                raise TypeError(f"detectors must be univariate DriftDetectors, got {det!r}")
        self.detectors = built
        self.correction = check_correction(correction)
        self.alpha = check_probability("alpha", alpha)
        self.reset_on_drift = bool(reset_on_drift)
        if self.correction is not None:
            for det in built:
                if "p_value" not in det.statistics:
                    raise ValueError(
                        f"correction={self.correction!r} needs detectors exposing a p_value; "
                        f"{det!r} does not"
                    )
                if det.get_params().get("reset_on_drift", False):
                    raise ValueError(
                        "with a correction the bank resets detectors itself: build them with "
                        f"reset_on_drift=False (got {det!r})"
                    )
        self._drift = np.zeros(self.n_features, dtype=bool)
        self._adjusted = np.ones(self.n_features)

    def update_many(self, rows: Any) -> np.ndarray:
        arr = self._check_rows(rows)
        if len(arr) == 0:
            return np.empty((0, 2), dtype=np.int64)
        if self.correction is None:
            return self._update_independent(arr)
        return self._update_corrected(arr)

    def _update_independent(self, arr: np.ndarray) -> np.ndarray:
        rows, cols = [], []
        for j, det in enumerate(self.detectors):
            fired = det.update_many(arr[:, j])
            rows.append(fired)
            cols.append(np.full(len(fired), j))
            self._drift[j] = det.drift_detected
        return hit_pairs(rows, cols)

    def _update_corrected(self, arr: np.ndarray) -> np.ndarray:
        assert self.correction is not None
        rows, cols = [], []
        p = np.empty(self.n_features)
        for i, row in enumerate(arr):
            for j, det in enumerate(self.detectors):
                det.update(row[j])
                p[j] = det.statistics["p_value"]
            reject, self._adjusted = correct(p, self.alpha, self.correction)
            self._drift = reject
            hit = np.flatnonzero(reject)
            if len(hit):
                rows.append(np.full(len(hit), i))
                cols.append(hit)
                if self.reset_on_drift:
                    for j in hit:
                        self.detectors[j].reset()
        return hit_pairs(rows, cols)

    @property
    def drift_detected(self) -> np.ndarray:
        return self._drift.copy()

    @property
    def warning_detected(self) -> np.ndarray:
        return np.array([det.warning_detected for det in self.detectors], dtype=bool)

    @property
    def statistics(self) -> dict[str, np.ndarray]:
        per_feature = [det.statistics for det in self.detectors]
        keys = sorted({key for stats in per_feature for key in stats})
        out = {key: np.array([s.get(key, np.nan) for s in per_feature]) for key in keys}
        out["drift"] = self._drift.astype(np.float64)
        if self.correction is not None:
            out["adjusted_p_value"] = self._adjusted.copy()
        return out

    def reset(self) -> None:
        for det in self.detectors:
            det.reset()
        self._drift[:] = False
        self._adjusted[:] = 1.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "bank": self.name,
            "feature_names": list(self.feature_names),
            "correction": self.correction,
            "alpha": self.alpha,
            "reset_on_drift": self.reset_on_drift,
            "drift": self._drift.tolist(),
            "adjusted_p_value": self._adjusted.tolist(),
            "detectors": [det.state_dict() for det in self.detectors],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("bank", "feature_names", "correction", "alpha", "reset_on_drift"):
            mine = self.name if key == "bank" else getattr(self, key)
            if state.get(key) != mine:
                raise ValueError(f"state_dict {key}={state.get(key)!r} differs from {mine!r}")
        if len(state["detectors"]) != self.n_features:
            raise ValueError("state_dict holds a different number of detectors")
        for det, det_state in zip(self.detectors, state["detectors"], strict=True):
            det.load_state_dict(det_state)
        self._drift = np.array(state["drift"], dtype=bool)
        self._adjusted = np.array(state["adjusted_p_value"], dtype=np.float64)
