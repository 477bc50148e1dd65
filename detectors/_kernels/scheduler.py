"""The restart-pass scheduler shared by every kernel.

Between two detections a test is a closed form of cumulative sums, so a stretch of rows can be
advanced at once for all tests (a *pass*) and cut at each test's first detection; a test that
fired restarts at its next row. Tests restarted at different rows share later passes, each
masked before its own start row. :func:`run_passes` decides the passes; the kernel's
:class:`Passes` computes them:

* rows are taken in chunks of about ``chunk_values / n`` rows (this bounds the work arrays);
* the first pass of a chunk covers the whole chunk; after a pass in which a detection cut a
  test short, the next passes cover ``max(first_span, restart_cells / waiting tests)`` rows,
  doubling while nothing cuts a pass short (results past a restart are wasted work).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors._kernels.scheduler import Hits
>>> hits = Hits()
>>> hits.add(np.array([5, 2]), np.array([0, 1]))
>>> hits.add(np.array([2]), np.array([0]))
>>> [a.tolist() for a in hits.sorted()]
[[2, 2, 5], [0, 1, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Hits", "Passes", "Schedule", "run_passes"]


class Hits:
    """Detections collected pass by pass, as (row, column) pairs."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []

    def add(self, rows: np.ndarray, cols: np.ndarray) -> None:
        if len(rows):
            self._rows.append(rows)
            self._cols.append(cols)

    def sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """All detections ordered by row, then column."""
        if not self._rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        row = np.concatenate(self._rows).astype(np.int64)
        col = np.concatenate(self._cols).astype(np.int64)
        order = np.lexsort((col, row))
        return row[order], col[order]


@dataclass(frozen=True)
class Schedule:
    """Pass lengths of :func:`run_passes` (see the module docstring)."""

    chunk_values: int
    first_span: int
    restart_cells: int


class Passes(Protocol):
    """A kernel's passes over its rows and state."""

    def pending(self, cols: np.ndarray) -> np.ndarray:
        """Which of tests ``cols`` fired on their last row and restart on their next one."""
        ...

    def restart(self, mask: np.ndarray) -> None:
        """Restart the tests in ``mask`` (length ``n``)."""
        ...

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        """The end of the pass over rows ``[p, stop)`` (``stop`` or earlier)."""
        ...

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        """Advance tests ``cols`` over rows ``[p + offset, stop)``; record their detections in
        ``hits``; return the rows each consumed (fewer when a detection ends it)."""
        ...


def run_passes(passes: Passes, n_rows: int, n_tests: int,
               schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """Advance ``n_tests`` tests over ``n_rows`` rows; return the detections as (rows,
    columns), ordered by row then column."""
    hits = Hits()
    chunk = max(schedule.first_span, schedule.chunk_values // max(1, n_tests))
    for first in range(0, n_rows, chunk):
        end = min(n_rows, first + chunk)
        pos = np.full(n_tests, first, dtype=np.int64)
        span = end - first
        while True:
            waiting = pos < end
            if not waiting.any():
                break
            p = int(pos[waiting].min())
            stop = min(end, p + span)
            cols = np.flatnonzero(pos < stop)
            pending = passes.pending(cols)
            if pending.any():
                mask = np.zeros(n_tests, dtype=bool)
                mask[cols[pending]] = True
                passes.restart(mask)
            offset = pos[cols] - p
            stop = passes.limit(p, stop, cols, offset)
            pos[cols] += passes.run(p, stop, cols, offset, hits)
            if (pos[cols] < stop).any():
                waiting_now = int(np.count_nonzero(pos < end))
                span = max(schedule.first_span, schedule.restart_cells // max(1, waiting_now))
            else:
                span = min(2 * span, end - first)
    return hits.sorted()
