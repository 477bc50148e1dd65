"""Reference detectors that bound what a metric can reward.

:class:`AlwaysFire` signals drift on every value. It detects every change with zero delay
(recall 1, missed rate 0) and raises 10,000 false alarms per 10,000 in-control values, so a real
detector whose delay or recall is close to the baseline's but whose false-alarm rate is not far
below it is not doing better than chance; running it in every comparison keeps delay and recall
figures honest.

Example
-------
>>> from driftline.evaluation.baselines import AlwaysFire
>>> AlwaysFire().update_many([0.1, 0.2, 0.3]).tolist()
[0, 1, 2]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["AlwaysFire"]


class AlwaysFire:
    """Dummy detector that fires on every value it sees (``statistic`` 1 above ``threshold`` 0)."""

    name = "always_fire"

    def __init__(self) -> None:
        self.n_seen = 0

    @property
    def drift_detected(self) -> bool:
        return self.n_seen > 0

    def update(self, x: Any) -> bool:
        self.n_seen += 1
        return True

    def update_many(self, xs: Any) -> np.ndarray:
        n = len(np.asarray(xs, dtype=np.float64))
        self.n_seen += n
        return np.arange(n, dtype=np.int64)

    @property
    def statistics(self) -> dict[str, float]:
        return {"statistic": 1.0, "threshold": 0.0, "n_seen": float(self.n_seen)}
