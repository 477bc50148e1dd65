"""Serving predictions: the network, with the rule-based fallback where the guard says so.

Example
-------
>>> import numpy as np
>>> from driftline.model.fallback import InputGuard, RuleFallback
>>> from driftline.model.network import GroupNet
>>> from driftline.model.predict import serve
>>> X = np.array([[20.0, 0.0], [25.0, 0.0], [60.0, 1.0], [65.0, 1.0]])
>>> net = GroupNet(n_features=2, hidden_sizes=[4], n_classes=3, risk_head=False)
>>> rules = RuleFallback(["age", "eb"], ["age"], 2).fit(X, np.array([0, 0, 2, 2]), None, 3)
>>> guard = InputGuard.from_reference(X, margin=0.0, min_confidence=0.0)
>>> served = serve(net, rules, guard, np.array([[200.0, 0.0]]))
>>> served.used_fallback.tolist(), served.labels.tolist()
([True], [2])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from driftline.model.adapters.base import Predictions
from driftline.model.fallback import InputGuard, RuleFallback
from driftline.model.network import GroupNet

__all__ = ["Predictions", "check_features", "network_outputs", "serve"]


def check_features(X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """``X`` as a float64 ``(n, len(feature_names))`` array; ``ValueError`` names a bad cell."""
    X = np.asarray(X, dtype=np.float64)
    n_features = len(feature_names)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must have shape (n, {n_features}) with columns "
                         f"{list(feature_names)}, got {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"X[{row}, {column}] ({feature_names[column]!r}) is not finite: "
                         f"{X[row, column]!r}")
    return X


def network_outputs(network: GroupNet, X: np.ndarray, batch_size: int = 8192,
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities ``(n, n_classes)`` and risk ``(n,)`` (``None`` without risk head)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    probabilities = [np.empty((0, network.n_classes))]
    risks = [np.empty(0)]
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            logits, risk = network(torch.from_numpy(X[start:start + batch_size]))
            probabilities.append(torch.softmax(logits, dim=1).numpy())
            if risk is not None:
                risks.append((risk * network.risk_std + network.risk_mean).numpy())
    risk_out = np.concatenate(risks) if network.has_risk_head else None
    return np.concatenate(probabilities), risk_out


def serve(network: GroupNet, rules: RuleFallback, guard: InputGuard, X: np.ndarray,
          batch_size: int = 8192) -> Predictions:
    """Network predictions for ``X``, replaced by the rules on the rows the guard picks."""
    X = np.asarray(X, dtype=np.float64)
    proba, risk = network_outputs(network, X, batch_size)
    model_labels = np.argmax(proba, axis=1).astype(np.int64)
    used_fallback = guard.use_fallback(X, proba.max(axis=1, initial=0.0))
    if used_fallback.any():
        proba[used_fallback] = rules.predict_proba(X[used_fallback])
        rule_risk = rules.predict_risk(X[used_fallback])
        if risk is not None and rule_risk is not None:
            risk[used_fallback] = rule_risk
    return Predictions(labels=np.argmax(proba, axis=1).astype(np.int64), probabilities=proba,
                       confidence=proba.max(axis=1, initial=0.0), used_fallback=used_fallback,
                       risk=risk, model_labels=model_labels)
