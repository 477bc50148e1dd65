"""Rule-based fallback: a per-bucket majority-class predictor and the guard that decides to use it.

The insurance use case (Oliver Zeigermann, *MLOps drift* talk) contrasts the network with a
simple rule predictor a domain expert could write down: drivers are grouped by a few features
(age, miles driven, emergency braking) and each group gets its most frequent risk class. Here the
groups are training-quantile buckets and their classes are learned from the training split.
:class:`InputGuard` sends a row to the rules when it lies outside the range the network was
trained on (reference ``[min, max]`` widened by a margin) or when the network is unsure (largest
class probability below a threshold).

Example
-------
>>> import numpy as np
>>> from driftline.model.fallback import InputGuard, RuleFallback
>>> X = np.array([[20.0, 0.0], [25.0, 0.0], [60.0, 1.0], [65.0, 1.0]])
>>> rules = RuleFallback(["age", "eb"], rule_features=["age", "eb"], rule_bins=2).fit(
...     X, group=np.array([0, 0, 2, 2]), risk=np.array([4.0, 3.0, 0.0, -1.0]), n_classes=3)
>>> rules.predict(np.array([[22.0, 0.0], [70.0, 1.0]])).tolist()
[0, 2]
>>> guard = InputGuard.from_reference(X, margin=0.1, min_confidence=0.5)
>>> guard.out_of_range(np.array([[30.0, 0.0], [200.0, 0.0]])).tolist()
[False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["InputGuard", "RuleFallback"]


class RuleFallback:
    """Majority class (and mean risk) per cell of a grid over a few features.

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns of the ``X`` passed to :meth:`fit` and :meth:`predict`.
    rule_features : sequence of str
        The features the rules look at.
    rule_bins : int
        Number of training-quantile buckets per rule feature; a feature with at most
        ``rule_bins`` distinct training values (e.g. a 0/1 flag) gets one bucket per value.
    """

    def __init__(self, feature_names: Sequence[str], rule_features: Sequence[str],
                 rule_bins: int = 4) -> None:
        self.feature_names = [str(n) for n in feature_names]
        self.rule_features = [str(n) for n in rule_features]
        if not self.rule_features:
            raise ValueError("rule_features must name at least one feature")
        unknown = [n for n in self.rule_features if n not in self.feature_names]
        if unknown:
            raise ValueError(f"rule_features: unknown feature {unknown[0]!r}; "
                             f"feature_names are {self.feature_names}")
        if isinstance(rule_bins, bool) or not isinstance(rule_bins, int) or rule_bins < 1:
            raise ValueError(f"rule_bins must be an integer >= 1, got {rule_bins!r}")
        self.rule_bins = rule_bins
        self.columns_ = [self.feature_names.index(n) for n in self.rule_features]
        self.edges_: list[np.ndarray] = []
        self.class_counts_: np.ndarray | None = None
        self.risk_means_: np.ndarray | None = None

    def fit(self, X: np.ndarray, group: np.ndarray, risk: np.ndarray | None,
            n_classes: int) -> RuleFallback:
        """Learn bucket edges, per-cell class counts and mean risk from training data."""
        X = self._as_matrix(X)
        group = np.asarray(group, dtype=np.int64)
        if group.shape != (X.shape[0],):
            raise ValueError(f"group must have shape ({X.shape[0]},), got {group.shape}")
        self.edges_ = [self._inner_edges(X[:, c]) for c in self.columns_]
        cells = self.cells(X)
        n_cells = self.n_cells
        counts = np.zeros((n_cells, n_classes), dtype=np.int64)
        np.add.at(counts, (cells, group), 1)
        # Empty cells borrow the global class frequencies and mean risk.
        empty = counts.sum(axis=1) == 0
        counts[empty] = np.bincount(group, minlength=n_classes)
        self.class_counts_ = counts
        if risk is not None:
            risk = np.asarray(risk, dtype=np.float64)
            if risk.shape != group.shape:
                raise ValueError(f"risk must have shape {group.shape}, got {risk.shape}")
            sums = np.bincount(cells, weights=risk, minlength=n_cells)
            sizes = np.bincount(cells, minlength=n_cells)
            means = np.full(n_cells, float(risk.mean()))
            np.divide(sums, sizes, out=means, where=sizes > 0)
            self.risk_means_ = means
        return self

    def _inner_edges(self, column: np.ndarray) -> np.ndarray:
        distinct = np.unique(column)
        if distinct.size <= self.rule_bins:
            return (distinct[:-1] + distinct[1:]) / 2.0
        levels = np.linspace(0.0, 1.0, self.rule_bins + 1)[1:-1]
        return np.unique(np.quantile(column, levels))

    @property
    def n_cells(self) -> int:
        """Number of grid cells."""
        return int(np.prod([e.size + 1 for e in self.edges_]))

    def _as_matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must have shape (n, {len(self.feature_names)}), got {X.shape}")
        return X

    def cells(self, X: np.ndarray) -> np.ndarray:
        """Cell index of each row; values beyond the outer edges land in the outer buckets."""
        if self.class_counts_ is None and not self.edges_:
            raise RuntimeError("RuleFallback is not fitted; call fit first")
        X = self._as_matrix(X)
        index = np.zeros(X.shape[0], dtype=np.int64)
        for column, edges in zip(self.columns_, self.edges_, strict=True):
            index = index * (edges.size + 1) + np.searchsorted(edges, X[:, column], side="right")
        return index

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Laplace-smoothed class frequencies of each row's cell, shape ``(n, n_classes)``."""
        counts = self._fitted_counts()[self.cells(X)].astype(np.float64) + 1.0
        return counts / counts.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Majority training class of each row's cell."""
        return np.argmax(self._fitted_counts()[self.cells(X)], axis=1).astype(np.int64)

    def predict_risk(self, X: np.ndarray) -> np.ndarray | None:
        """Mean training risk of each row's cell (``None`` if fitted without risk)."""
        if self.risk_means_ is None:
            return None
        return self.risk_means_[self.cells(X)]

    def _fitted_counts(self) -> np.ndarray:
        if self.class_counts_ is None:
            raise RuntimeError("RuleFallback is not fitted; call fit first")
        return self.class_counts_

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python state (JSON- and ``torch.load(weights_only=True)``-safe)."""
        return {
            "feature_names": list(self.feature_names),
            "rule_features": list(self.rule_features),
            "rule_bins": self.rule_bins,
            "edges": [e.tolist() for e in self.edges_],
            "class_counts": self._fitted_counts().tolist(),
            "risk_means": None if self.risk_means_ is None else self.risk_means_.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> RuleFallback:
        """Rebuild a fitted instance from :meth:`to_dict` output."""
        rules = cls(state["feature_names"], state["rule_features"], int(state["rule_bins"]))
        rules.edges_ = [np.asarray(e, dtype=np.float64) for e in state["edges"]]
        rules.class_counts_ = np.asarray(state["class_counts"], dtype=np.int64)
        if rules.class_counts_.shape[0] != rules.n_cells:
            raise ValueError(f"class_counts has {rules.class_counts_.shape[0]} rows for "
                             f"{rules.n_cells} cells")
        risk = state.get("risk_means")
        rules.risk_means_ = None if risk is None else np.asarray(risk, dtype=np.float64)
        return rules


@dataclass(frozen=True, eq=False)
class InputGuard:
    """Decides per row whether the network's prediction is replaced by the rules.

    Attributes
    ----------
    lower, upper : ndarray of float64, shape (n_features,)
        Accepted input range per feature (inclusive).
    min_confidence : float
        Rows whose largest network probability is below this use the rules.
    enabled : bool
        ``False`` never falls back.
    """

    lower: np.ndarray
    upper: np.ndarray
    min_confidence: float
    enabled: bool = True

    @classmethod
    def from_reference(cls, X: np.ndarray, margin: float, min_confidence: float,
                       enabled: bool = True) -> InputGuard:
        """Range = reference ``[min, max]`` widened by ``margin * (max - min)`` on each side."""
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        X = np.asarray(X, dtype=np.float64)
        low, high = X.min(axis=0), X.max(axis=0)
        width = high - low
        return cls(low - margin * width, high + margin * width, float(min_confidence), enabled)

    def out_of_range(self, X: np.ndarray) -> np.ndarray:
        """Rows with at least one feature outside ``[lower, upper]``."""
        X = np.asarray(X, dtype=np.float64)
        below = np.less(X, self.lower)
        above = np.greater(X, self.upper)
        return np.any(below | above, axis=1)

    def use_fallback(self, X: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """Rows that are out of range or whose network confidence is below the threshold."""
        if not self.enabled:
            return np.zeros(np.asarray(X).shape[0], dtype=bool)
        return self.out_of_range(X) | (np.asarray(confidence) < self.min_confidence)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python state."""
        return {"lower": self.lower.tolist(), "upper": self.upper.tolist(),
                "min_confidence": self.min_confidence, "enabled": self.enabled}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> InputGuard:
        """Rebuild from :meth:`to_dict` output."""
        return cls(np.asarray(state["lower"], dtype=np.float64),
                   np.asarray(state["upper"], dtype=np.float64),
                   float(state["min_confidence"]), bool(state["enabled"]))
