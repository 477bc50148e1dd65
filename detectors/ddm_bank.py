"""One DDM per error stream (per class, segment or model), advanced together from rows.

Column ``j`` of the rows is the error stream of ``feature_names[j]``; the bank gives exactly the
detections of an independent :class:`detectors.ddm.DDM` per column, with the state of every
stream in numpy arrays and the rows advanced in vectorised stretches across streams (see
:mod:`detectors._ddm_kernel`).

References
----------
J. Gama, P. Medas, G. Castillo, P. Rodrigues, "Learning with drift detection", SBIA 2004.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.ddm_bank import DDMBank
>>> rng = np.random.default_rng(3)
>>> rows = (rng.random((3000, 2)) < [0.1, 0.1]).astype(float)
>>> rows[2000:, 1] = rng.random(1000) < 0.5          # the second stream degrades at 2000
>>> bank = DDMBank(["class_a", "class_b"])
>>> hits = bank.update_many(rows)
>>> hits[hits[:, 0] >= 2000].tolist()             # (row, stream) after the change
[[2052, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.detectors import _ddm_kernel as kernel
from driftline.detectors._error_input import check_binary
from driftline.detectors.bank_base import FeatureBankBase
from driftline.detectors.ddm import ddm_params

__all__ = ["DDMBank"]


class DDMBank(FeatureBankBase):
    """Independent DDM tests, one per column (see module docstring).

    Parameters
    ----------
    feature_names
        Names of the error streams (columns of the rows).
    warm_start, warning_threshold, drift_threshold, kind
        As for :class:`detectors.ddm.DDM`, shared by all streams.
    """

    name = "ddm_bank"

    def __init__(
        self, feature_names: Sequence[str], *, warm_start: int = 30,
        warning_threshold: float = 2.0, drift_threshold: float = 3.0, kind: str = "binary",
    ) -> None:
        super().__init__(feature_names)
        self._params = ddm_params(warm_start, warning_threshold, drift_threshold, kind)
        self.kind = kind
        self.reset()

    def get_params(self) -> dict[str, Any]:
        p = self._params
        return {
            "feature_names": list(self.feature_names), "warm_start": p.warm_start,
            "warning_threshold": p.warning_threshold, "drift_threshold": p.drift_threshold,
            "kind": self.kind,
        }

    def update_many(self, rows: Any) -> np.ndarray:
        arr = self._check_rows(rows)
        # 0/1 rows are finite: binary input needs the finiteness check only when it is not 0/1
        if self._params.real or ((arr != 0.0) & (arr != 1.0)).any():
            self._check_finite_rows(arr)
            if not self._params.real:
                check_binary(type(self).__name__, arr)
        if len(arr) == 0:
            return np.empty((0, 2), dtype=np.int64)
        rows_hit, cols_hit = kernel.advance(self._params, self._state, arr)
        self._n_rows += len(arr)
        np.add.at(self._n_detections, cols_hit, 1)
        return np.column_stack([rows_hit, cols_hit]).astype(np.int64).reshape(-1, 2)

    @property
    def drift_detected(self) -> np.ndarray:
        return self._state.drift.copy()

    @property
    def warning_detected(self) -> np.ndarray:
        return self._state.warning.copy()

    @property
    def statistics(self) -> dict[str, np.ndarray]:
        st, p = self._state, self._params
        n = st.n.astype(np.float64)
        armed = st.n > p.warm_start
        with np.errstate(invalid="ignore", divide="ignore"):
            rate, std = kernel.estimate(p.real, st.shift, st.s1, st.s2, n)
        started = st.n > 0
        return {
            "statistic": np.where(started, st.stat, np.nan),
            "threshold": np.where(armed, st.p_min + p.drift_threshold * st.s_min, np.nan),
            "warning_threshold": np.where(
                armed, st.p_min + p.warning_threshold * st.s_min, np.nan),
            "error_rate": np.where(started, rate, np.nan),
            "std": np.where(started, std, np.nan),
            "n_window": n,
            "n_seen": np.full(self.n_features, float(self._n_rows)),
            "n_detections": self._n_detections.astype(float),
            "drift": st.drift.astype(float), "warning": st.warning.astype(float),
        }

    def reset(self) -> None:
        self._state = kernel.DDMState(self.n_features)
        self._n_rows = 0
        self._n_detections = np.zeros(self.n_features, dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {
            "bank": self.name, "params": self.get_params(), "n_rows": self._n_rows,
            "n_detections": self._n_detections.tolist(), "state": self._state.to_json(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("bank") != self.name or state.get("params") != self.get_params():
            raise ValueError("state_dict was not produced by a DDMBank with these parameters")
        self._state = kernel.DDMState(self.n_features)
        self._state.from_json(state["state"])
        self._n_rows = int(state["n_rows"])
        self._n_detections = np.asarray(state["n_detections"], dtype=np.int64)
