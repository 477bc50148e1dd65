"""Run lengths to a false alarm: bootstrapped in-control streams, first passages, estimates.

* :func:`moving_block_bootstrap` — in-control streams resampled from a reference sample;
* :class:`FirstPassages` — the records (new maxima) of a statistic path: the first alarm under
  any threshold ``h`` is the first record above ``h``;
* :func:`estimate_arl` — the censoring-aware (exponential) ARL estimate from first passages;
* :class:`HorizonChains` — the expected number of false alarms over a horizon, from first
  passages chained as a restarting detector would run them (what a false-alarm budget counts);
* :func:`false_alarms` — alarms of a detector over a stream, a fresh detector after each alarm.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.run_length import FirstPassages, estimate_arl
>>> records = FirstPassages()
>>> records.extend(np.array([0.5, 2.0, 1.0, 3.0]))
>>> records.first_passage(1.5), records.first_passage(2.5), records.first_passage(9.0)
(2, 4, 5)
>>> estimate_arl(np.array([5, 10, 101]), 100)
(57.5, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = ["BatchDetector", "FirstPassages", "HorizonChains", "estimate_arl", "false_alarms",
           "moving_block_bootstrap"]

#: values fed to a fresh detector first by :func:`false_alarms`, doubling up to its chunk size
FIRST_CHUNK = 64


class BatchDetector(Protocol):
    """Anything with ``update_many(values) -> indices of the values that raised an alarm``."""

    def update_many(self, values: Any) -> Any: ...


def moving_block_bootstrap(
    reference: np.ndarray, length: int, block_size: int, rng: np.random.Generator
) -> np.ndarray:
    """A stream of ``length`` values made of random blocks of ``block_size`` consecutive
    reference values (``block_size=1``: iid resampling)."""
    n_blocks = -(-length // block_size)
    starts = rng.integers(0, len(reference) - block_size + 1, size=n_blocks)
    idx = (starts[:, None] + np.arange(block_size)).ravel()[:length]
    return reference[idx]


def estimate_arl(first_passages: np.ndarray, stream_length: Any) -> tuple[float, int]:
    """Censoring-aware ARL estimate from first-passage times (``> stream_length`` = censored).

    ``stream_length`` is one length or one per stream. Returns ``(arl, n_alarms)``: total time
    at risk over alarms, ``inf`` when no stream alarmed.
    """
    alarms = int(np.count_nonzero(first_passages <= stream_length))
    exposure = float(np.minimum(first_passages, stream_length).sum())
    return (exposure / alarms if alarms else math.inf), alarms


class FirstPassages:
    """Records of a statistic path that grows chunk by chunk (NaN: no alarm possible there).

    ``positions[k]`` is the number of values consumed when the ``k``-th record was set
    (``step`` values per path entry, the first entry after ``offset`` values).
    """

    def __init__(self, offset: int = 1, step: int = 1) -> None:
        self.offset, self.step = offset, step
        self.length = 0
        self._entries = 0
        self.positions = np.empty(0, dtype=np.int64)
        self.values = np.empty(0)

    def extend(self, path: np.ndarray, values_consumed: int | None = None) -> None:
        """Append a path (one entry per ``step`` values) covering ``values_consumed`` values
        (default ``len(path) * step``)."""
        top = self.values[-1] if len(self.values) else -math.inf
        running = np.maximum(np.fmax.accumulate(np.where(np.isnan(path), -math.inf, path)), top)
        new = running > np.r_[top, running[:-1]]
        index = np.flatnonzero(new) + self._entries
        self.positions = np.r_[self.positions, self.offset + self.step * index]
        self.values = np.r_[self.values, running[new]]
        self._entries += len(path)
        self.length += len(path) * self.step if values_consumed is None else values_consumed

    def first_passage(self, h: float) -> int:
        """Values consumed up to the first alarm above ``h`` (``length + 1``: none)."""
        k = int(np.searchsorted(self.values, h, side="right"))
        return int(self.positions[k]) if k < len(self.values) else self.length + 1


def arl_at(records: list[FirstPassages], h: float) -> tuple[float, int]:
    """:func:`estimate_arl` of first passages above ``h`` over ``records``."""
    passages = np.array([r.first_passage(h) for r in records])
    return estimate_arl(passages, np.array([r.length for r in records]))


class HorizonChains:
    """False alarms of restarting detectors over a horizon, from chained first passages.

    A detector that restarts after each alarm is a renewal process: its alarms over a horizon
    of ``H`` values are its first passage ``T_1`` from a fresh start, then ``T_2`` from the
    restart, ..., as long as their sum stays within ``H``. Each *chain* is one deployment: a
    list of streams of ``H`` values run through fresh detectors that share what a deployment
    fixes (e.g. the reference sample they are pinned to), whose first passages are chained this
    way. Averaged over chains, the count estimates ``E[N(H)]`` without any assumption on the
    run lengths' law: unlike the exponential estimate (total time over alarms), it stays
    unbiased for long-tailed run lengths (a scale re-estimated at every restart) and for a
    mixture over deployments (it averages the *rates* of the deployments, what a budget of false
    alarms counts, where pooled run lengths would average their *means*). One set of paths
    serves every threshold.

    Streams after the first may be shorter than the horizon: a chain is extended (at some
    threshold ``h``) by a stream of the values it still lacks there, which suffices at every
    higher threshold too (first passages only grow with the threshold). A chain whose streams
    are used up before the horizon at ``h`` is *open*: :meth:`open_chains` / :meth:`missing` say
    which to
    extend, and by how much. Open chains enter the estimate with the values they covered,
    ``sum(alarms) / sum(values covered)`` over all chains (a renewal-reward ratio: no ``1 / T``
    of a single run).
    """

    def __init__(self, horizon: int) -> None:
        self.horizon = int(horizon)
        self.chains: list[list[FirstPassages]] = []

    def count(self, chain: list[FirstPassages], h: float) -> tuple[int, int, bool]:
        """``(alarms, values elapsed, open)`` of one chain at threshold ``h``."""
        elapsed = alarms = 0
        for records in chain:
            passage = records.first_passage(h)
            if elapsed + passage > self.horizon:
                return alarms, self.horizon, False
            if passage > records.length:  # no alarm in a stream shorter than what is left
                elapsed += records.length
                continue
            alarms += 1
            elapsed += passage
        return alarms, elapsed, elapsed < self.horizon

    def rate(self, h: float) -> tuple[float, int]:
        """``(expected false alarms per value over the horizon, alarms counted)`` at ``h``."""
        alarms = covered = 0
        for chain in self.chains:
            n, elapsed, _ = self.count(chain, h)
            alarms += n
            covered += elapsed
        return alarms / covered, alarms

    def open_chains(self, h: float) -> list[int]:
        """Chains whose streams are used up before the horizon at threshold ``h``."""
        return [i for i, chain in enumerate(self.chains) if self.count(chain, h)[2]]

    def missing(self, i: int, h: float) -> int:
        """Values chain ``i`` still lacks to cover the horizon at threshold ``h``."""
        return self.horizon - self.count(self.chains[i], h)[1]


def false_alarms(factory: Callable[[], BatchDetector], values: np.ndarray,
                 chunk_size: int = 4096) -> int:
    """Alarms of ``factory()`` over ``values``; a fresh detector after each alarm.

    Values go in chunks of :data:`FIRST_CHUNK` after each (re)start, doubling up to
    ``chunk_size``: a chunk's values past an alarm are wasted work.
    """
    alarms, pos = 0, 0
    size = min(FIRST_CHUNK, chunk_size)
    det = factory()
    while pos < len(values):
        chunk = values[pos : pos + size]
        fired = np.asarray(det.update_many(chunk))
        if len(fired) == 0:
            pos += len(chunk)
            size = min(2 * size, chunk_size)
            continue
        alarms += 1
        pos += int(fired.reshape(len(fired), -1)[0, 0]) + 1
        det = factory()
        size = min(FIRST_CHUNK, chunk_size)
    return alarms
