"""What a vectorised kernel offers (see :mod:`detectors._kernels`).

A kernel works on ``config`` (the validated parameters of ``n`` detectors, built by
:meth:`Kernel.configure`) and ``state`` (their running state in arrays, with boolean arrays
``drift`` and ``warning``). ``pack`` / ``unpack`` convert between that state and the detectors'
JSON states (``state_dict()["state"]``), bit for bit.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["Corrected", "Counters", "Kernel"]


@dataclass
class Counters:
    """Per-column counters of a bank's detectors: values seen and skipped, own detections."""

    n_seen: np.ndarray
    n_skipped: np.ndarray
    n_detections: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Counters:
        return cls(*(np.zeros(n, dtype=np.int64) for _ in range(3)))


class Corrected(Protocol):
    """A kernel's passes for a bank deciding on multiple-testing corrected p-values."""

    def advance(self, state: Any, counters: Counters, rows: np.ndarray, hits: Any,
                decision: list[np.ndarray]) -> None:
        """Consume finite rows; the bank's detections go to ``hits`` (a
        :class:`detectors._kernels.scheduler.Hits`), its ``[drift, adjusted p-values]`` after
        the last row to ``decision``; each column's own counters and flags follow its own
        (uncorrected) test, and a column the bank detects is reset (counters included) when
        the bank resets on drift."""
        ...


class Kernel(abc.ABC):
    """Vectorised advance of ``n`` independent univariate detectors of one class."""

    @abc.abstractmethod
    def configure(self, detectors: Sequence[Any]) -> Any | None:
        """The configuration of these detectors (one per column), or ``None`` when they have no
        exact vectorised path together (e.g. parameters that differ where the kernel needs them
        shared): callers then loop over the readable detectors."""

    @abc.abstractmethod
    def initial(self, config: Any, n: int) -> Any:
        """The state of ``n`` freshly built (or reset) detectors."""

    @abc.abstractmethod
    def pack(self, config: Any, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> Any:
        """Array state from the detectors' JSON states and their drift / warning flags."""

    @abc.abstractmethod
    def unpack(self, config: Any, state: Any) -> list[dict[str, Any]]:
        """The detectors' JSON states (flags stay in ``state.drift`` / ``state.warning``)."""

    @abc.abstractmethod
    def advance(self, config: Any, state: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Consume finite, validated rows ``(L, n)``; return the detections as (rows, columns),
        ordered by row then column."""

    @abc.abstractmethod
    def statistics(self, config: Any, state: Any) -> dict[str, np.ndarray]:
        """Per-column arrays of the detectors' own statistics (``_statistics()`` keys)."""

    def corrected(self, config: Any, alpha: float, correction: str,
                  reset_on_drift: bool) -> Corrected | None:
        """Vectorised passes under a correction across columns, ``None`` when the kernel has
        none (the bank then loops row by row)."""
        return None

    def statistic_path(self, config: Any, state: Any, rows: np.ndarray) -> np.ndarray | None:
        """Consume ``rows`` as if no test could fire; the statistic after every row, NaN where no
        detection is possible yet. ``None`` when the kernel has no such path."""
        return None
