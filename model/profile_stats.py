"""Streaming statistics for ``driftline profile``, each fed chunk by chunk in bounded memory.

- :class:`Moments`: exact count, missing count, mean, population variance (Chan et al.'s
  pairwise update), min, max and "only 0/1 values" per column.
- :class:`RowReservoir`: a uniform sample of rows without replacement (Vitter's Algorithm R,
  vectorised per chunk), returned in file order; it holds every row while they fit.
- :class:`CategoryCounter`: exact category counts while at most ``max_tracked`` distinct values
  have been seen, then a Misra-Gries summary of that size (counts become lower bounds, off by
  at most ``n / (max_tracked + 1)``; the result says it is no longer exact).

Example
-------
>>> import numpy as np
>>> moments = Moments(1)
>>> for part in (np.array([[1.0], [2.0]]), np.array([[np.nan], [6.0]])):
...     moments.add(part)
>>> moments.count.tolist(), moments.mean.tolist(), moments.std().tolist()
([3], [3.0], [2.160246899469287])
>>> reservoir = RowReservoir(capacity=2, n_columns=1, seed=0)
>>> reservoir.add(np.arange(5.0).reshape(5, 1))
>>> reservoir.n_seen, reservoir.sample().shape
(5, (2, 1))
>>> counter = CategoryCounter(max_tracked=10)
>>> counter.add({"a": 2, "b": 1}, n_missing=1); counter.add({"a": 1}, n_missing=0)
>>> counter.counts, counter.n_values, counter.n_missing, counter.exact
({'a': 3, 'b': 1}, 4, 1, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["CategoryCounter", "Moments", "RowReservoir"]


class Moments:
    """Per-column count, mean, variance, min, max of float64 columns (NaN = missing)."""

    def __init__(self, n_columns: int) -> None:
        self.count = np.zeros(n_columns, dtype=np.int64)
        self.n_missing = np.zeros(n_columns, dtype=np.int64)
        self.mean = np.zeros(n_columns)
        self.m2 = np.zeros(n_columns)
        self.min = np.full(n_columns, np.inf)
        self.max = np.full(n_columns, -np.inf)
        self.binary = np.ones(n_columns, dtype=bool)

    def add(self, values: np.ndarray) -> None:
        """Fold in a ``(rows, n_columns)`` chunk."""
        for j in range(values.shape[1]):
            column = values[:, j]
            present = column[~np.isnan(column)]
            self.n_missing[j] += column.size - present.size
            if not present.size:
                continue
            n_b = present.size
            mean_b = present.mean()
            m2_b = float(np.square(present - mean_b).sum())
            n_a = int(self.count[j])
            n = n_a + n_b
            delta = mean_b - self.mean[j]
            self.mean[j] = mean_b if n_a == 0 else self.mean[j] + delta * n_b / n
            self.m2[j] = m2_b if n_a == 0 else self.m2[j] + m2_b + delta * delta * n_a * n_b / n
            self.count[j] = n
            self.min[j] = min(self.min[j], present.min())
            self.max[j] = max(self.max[j], present.max())
            if self.binary[j]:
                self.binary[j] = bool(np.all((present == 0.0) | (present == 1.0)))

    def std(self) -> np.ndarray:
        """Population standard deviation (0 for columns without values)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, np.sqrt(self.m2 / np.maximum(self.count, 1)), 0.0)


class RowReservoir:
    """A uniform sample of at most ``capacity`` rows of a stream of chunks.

    Row ``t`` (0-based) of the stream replaces a uniformly chosen slot with probability
    ``capacity / (t + 1)``; within a chunk, later rows win a contested slot, exactly as if the
    rows were offered one at a time. ``dtype`` is the stored values' type (float32 halves the
    memory of wide vector fields).
    """

    def __init__(self, capacity: int, n_columns: int, seed: int = 0,
                 dtype: Any = np.float64) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.values = np.empty((0, n_columns), dtype=dtype)
        self.rows = np.empty(0, dtype=np.int64)
        self.n_seen = 0
        self._rng = np.random.default_rng(seed)

    def add(self, chunk: np.ndarray) -> None:
        """Offer the rows of a ``(rows, n_columns)`` chunk."""
        m = chunk.shape[0]
        start = self.n_seen
        fill = min(max(self.capacity - start, 0), m)
        if fill:
            self.values = np.concatenate([self.values, chunk[:fill].astype(self.values.dtype)])
            self.rows = np.concatenate([self.rows, np.arange(start, start + fill)])
        if fill < m:
            offered = np.arange(fill, m)
            slots = self._rng.integers(0, start + offered + 1)
            accepted = slots < self.capacity
            slots, offered = slots[accepted], offered[accepted]
            # the last row offered to a slot is the one that stays in it
            last_slots, first_in_reverse = np.unique(slots[::-1], return_index=True)
            winners = offered[::-1][first_in_reverse]
            self.values[last_slots] = chunk[winners]
            self.rows[last_slots] = start + winners
        self.n_seen += m

    def sample(self, size: int | None = None, seed: int = 0) -> np.ndarray:
        """The sampled rows in file order; ``size`` takes a uniform subsample of them."""
        order = np.argsort(self.rows, kind="stable")
        if size is not None and size < order.size:
            keep = np.random.default_rng(seed).choice(order.size, size=size, replace=False)
            order = order[np.sort(keep)]
        return self.values[order]

    @property
    def complete(self) -> bool:
        """Whether the reservoir holds every row seen."""
        return self.n_seen <= self.capacity


class CategoryCounter:
    """Counts of category values (see the module docstring)."""

    def __init__(self, max_tracked: int = 10_000) -> None:
        if max_tracked < 1:
            raise ValueError(f"max_tracked must be >= 1, got {max_tracked}")
        self.max_tracked = int(max_tracked)
        self.counts: dict[Any, int] = {}
        self.n_values = 0
        self.n_missing = 0
        self.exact = True

    def add(self, counts: Mapping[Any, int], n_missing: int) -> None:
        """Fold in one chunk's ``{value: count}`` and its number of missing values."""
        for value, count in counts.items():
            self.counts[value] = self.counts.get(value, 0) + int(count)
            self.n_values += int(count)
        self.n_missing += int(n_missing)
        if len(self.counts) > self.max_tracked:
            # Misra-Gries: subtract the (k+1)-th largest count from all, keep the positive ones
            cut = sorted(self.counts.values(), reverse=True)[self.max_tracked]
            self.counts = {v: c - cut for v, c in self.counts.items() if c > cut}
            self.exact = False

    def most_common(self) -> list[tuple[Any, int]]:
        """``(value, count)`` by decreasing count, ties by value text."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))
