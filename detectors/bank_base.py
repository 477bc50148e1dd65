"""Protocol of a detector bank: one detector per feature, updated together from rows.

A bank consumes a batch of rows ``(n_rows, n_features)`` in one call and reports detections as
``(row, feature)`` pairs. Vectorised banks keep each detector's state in numpy arrays of length
``n_features`` and advance all features at once (:class:`detectors.bank.DetectorBank` does so
through the detectors' kernel, or loops over them). A bank must give exactly the same detections
as running one independent univariate detector per column.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors.base import NonFiniteInputError

__all__ = ["FeatureBankBase", "hit_pairs"]


def hit_pairs(rows: list[np.ndarray], cols: list[np.ndarray]) -> np.ndarray:
    """The ``(k, 2)`` array of (row, feature) detections that ``update_many`` returns, ordered
    by row, then feature."""
    hits = Hits()
    for r, c in zip(rows, cols, strict=True):
        hits.add(r, c)
    row, col = hits.sorted()
    return np.column_stack([row, col]).reshape(-1, 2)


class FeatureBankBase(abc.ABC):
    """Base class of feature banks (see module docstring)."""

    name: ClassVar[str] = ""

    def __init__(self, feature_names: Sequence[str]) -> None:
        names = [str(n) for n in feature_names]
        if not names:
            raise ValueError("feature_names must name at least one feature")
        if len(set(names)) != len(names):
            raise ValueError(f"feature_names must be unique, got {names}")
        self.feature_names = names

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def _check_rows(self, rows: Any) -> np.ndarray:
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim == 1 and self.n_features == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(
                f"{type(self).__name__}.update_many expects rows of shape (n, {self.n_features})"
                f" for features {self.feature_names}, got {arr.shape}"
            )
        return arr

    def _check_finite_rows(self, arr: np.ndarray) -> None:
        """Raise :class:`NonFiniteInputError` naming the first non-finite row and feature."""
        bad = ~np.isfinite(arr)
        if bad.any():
            row, feature = np.argwhere(bad)[0]
            raise NonFiniteInputError(
                f"{type(self).__name__} received a non-finite value at row {row}, feature "
                f"{self.feature_names[feature]!r}; drop or impute such rows before the bank"
            )

    @abc.abstractmethod
    def update_many(self, rows: Any) -> np.ndarray:
        """Consume rows in order; return an int array of shape ``(k, 2)``: (row, feature)."""

    @property
    @abc.abstractmethod
    def drift_detected(self) -> np.ndarray:
        """Boolean array ``(n_features,)``: drift flag of each feature after the last row."""

    @property
    def warning_detected(self) -> np.ndarray:
        """Boolean array ``(n_features,)``; all False for detectors without a warning zone."""
        return np.zeros(self.n_features, dtype=bool)

    @property
    @abc.abstractmethod
    def statistics(self) -> dict[str, np.ndarray]:
        """Per-feature statistics: each value is a float array of length ``n_features``."""

    def feature_statistics(self) -> dict[str, dict[str, float]]:
        """The same statistics keyed by feature name, as plain floats."""
        stats = self.statistics
        return {
            name: {key: float(values[j]) for key, values in stats.items()}
            for j, name in enumerate(self.feature_names)
        }

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything seen by every feature's detector."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot of all features' state."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; continues bit-for-bit."""
