"""Configuration and array state of Incremental-KS columns (shared by the kernel's modules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KSConfig", "KSState"]


@dataclass(frozen=True)
class KSConfig:
    """Per column: the sorted reference and the critical value; shared: the window."""

    references: list[np.ndarray]
    thresholds: np.ndarray
    window_size: int
    reset_on_drift: bool

    @property
    def reference_sizes(self) -> np.ndarray:
        return np.array([len(r) for r in self.references], dtype=np.int64)


class KSState:
    """Windows (last values, oldest first), last statistic and flags of ``n`` columns."""

    def __init__(self, n: int) -> None:
        self.windows = [np.empty(0) for _ in range(n)]
        self.statistic = np.zeros(n)
        self.drift = np.zeros(n, dtype=bool)
        self.warning = np.zeros(n, dtype=bool)

    def append(self, j: int, values: np.ndarray, window_size: int) -> None:
        """Slide column ``j``'s window over ``values``."""
        self.windows[j] = np.concatenate([self.windows[j], values[-window_size:]])[-window_size:]
