"""Practical significance: a bank's alarms gated on a minimum effect size per feature.

At high volume a test becomes certain of shifts too small to matter (Page-Hinkley at a budget of
10^9 rows alarms on a 0.05 sigma shift within hours). A detector that declares an effect size
(:meth:`detectors.base.DriftDetector.effect_size`, named by ``effect_name``: Page-Hinkley the
standardised mean shift ``|mean - reference_mean| / reference_std``, Incremental KS the KS
distance, a categorical test its PSI or Jensen-Shannon distance) measures it on the feature's
most recent ``window`` values against its own reference. :class:`EffectGate` keeps those values
for a bank, exports the current effect size per feature, and drops each detection whose effect
size at its row is below the feature's ``min_effect`` (the detector has restarted all the same:
the gate only decides what is reported; suppressed detections are counted). The gate never adds
alarms, so a calibrated false-alarm rate stays an upper bound.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.effect_gate import EffectGate
>>> from driftline.detectors.page_hinkley import PageHinkley
>>> detector = PageHinkley(reference_mean=0.0, reference_std=2.0)
>>> gate = EffectGate(1, 0.25, window=4)
>>> rows = np.array([[0.2], [0.6], [0.4], [0.6], [3.0]])
>>> gate.filter(np.array([[3, 0], [4, 0]]), rows, [detector]).tolist()   # 0.225, 0.575
[[4, 0]]
>>> gate.observe(rows)
>>> gate.effect_sizes([detector]).tolist(), gate.suppressed.tolist()
([0.575], [1])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors.base import DriftDetector, check_int, check_number

__all__ = ["EffectGate"]


class EffectGate:
    """Effect sizes of ``n_features`` features over their last ``window`` values, and the gate.

    ``min_effect`` is one value for every feature or one per feature (``None`` entries: no gate
    on that feature); ``None`` exports effect sizes without gating.
    """

    def __init__(self, n_features: int, min_effect: Any = None, window: int = 1000) -> None:
        self.window = check_int("effect_window", window, low=1)
        if min_effect is None or np.ndim(min_effect) == 0:
            values = [min_effect] * n_features
        else:
            values = list(min_effect)
            if len(values) != n_features:
                raise ValueError(f"min_effect must be a scalar or have one value per feature "
                                 f"({n_features}), got {len(values)}")
        self.min_effect = np.array(
            [math.nan if v is None else check_number(f"min_effect[{j}]", v, low=0.0)
             for j, v in enumerate(values)], dtype=np.float64)
        self.recent = np.empty((0, n_features))
        self.suppressed = np.zeros(n_features, dtype=np.int64)

    @property
    def gating(self) -> bool:
        return bool(np.isfinite(self.min_effect).any())

    def filter(self, hits: np.ndarray, rows: np.ndarray,
               detectors: Sequence[DriftDetector]) -> np.ndarray:
        """The detections ``hits`` (``(k, 2)``: row into ``rows``, feature) whose effect size at
        their row reaches the feature's ``min_effect``; call before :meth:`observe`."""
        if not self.gating or not len(hits):
            return hits
        keep = np.ones(len(hits), dtype=bool)
        for i, (row, j) in enumerate(hits.tolist()):
            if math.isnan(self.min_effect[j]):
                continue
            start = max(0, row + 1 - self.window)
            values = np.concatenate([self.recent[:, j], rows[start: row + 1, j]])[-self.window:]
            keep[i] = detectors[j].effect_size(values) >= self.min_effect[j]
        np.add.at(self.suppressed, hits[~keep, 1], 1)
        return hits[keep]

    def observe(self, rows: np.ndarray) -> None:
        """Remember the last ``window`` rows."""
        self.recent = np.vstack([self.recent, rows[-self.window:]])[-self.window:]

    def effect_sizes(self, detectors: Sequence[DriftDetector]) -> np.ndarray:
        """Each feature's effect size over its last ``window`` values (NaN before any)."""
        if not len(self.recent):
            return np.full(len(detectors), math.nan)
        return np.array([det.effect_size(self.recent[:, j]) for j, det in enumerate(detectors)])

    def reset(self) -> None:
        self.recent = self.recent[:0]
        self.suppressed[:] = 0

    def state_dict(self) -> dict[str, Any]:
        return {"min_effect": [None if math.isnan(v) else float(v) for v in self.min_effect],
                "window": self.window, "recent": self.recent.tolist(),
                "suppressed": self.suppressed.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("min_effect", "window"):
            if state.get(key) != mine[key]:
                raise ValueError(f"state_dict effect {key}={state.get(key)!r} differs from "
                                 f"{mine[key]!r}")
        recent = np.asarray(state["recent"], dtype=np.float64).reshape(-1, len(self.suppressed))
        self.recent = recent[-self.window:]
        self.suppressed = np.array(state["suppressed"], dtype=np.int64)
