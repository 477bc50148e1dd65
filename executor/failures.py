"""Why the Kafka executor's sessions fail, how long to wait, and which records are poison.

A consumer session that ends with an error is a failure of a *kind*: for a batch that could
not be detected or applied (:class:`executor.kafka_batch.BatchError`: an error in a pipeline,
a worker that died or got stuck on it) the kind is that stage, and the failure says where the
batch lay in each partition; for anything else (the broker, an output, a commit) the kind is
the stage and the error's type. :class:`FailureTracker` keeps count:

* **backoff** -- the wait before the next session doubles with each consecutive failure of
  the kind that just failed, from ``backoff_initial_s`` up to ``backoff_max_s``. It is reset
  only when that kind is over: for a batch, once every partition it lay in has been processed
  past it; for the rest, after any batch that went through. A poison pill on one partition
  keeps backing off while the others succeed.
* **poison pills** -- a partition whose batches failed ``max_retries`` times without getting
  past the failed range is *suspect*: while any suspect is left, the executor detects one
  record per batch (:meth:`FailureTracker.isolating`). A one-record batch that fails then
  names its record: it is *poison* (:meth:`FailureTracker.poisoned`), and the executor
  dead-letters it (``processing_failed``) instead of detecting it again. A failure that was
  not about the data (a worker killed from outside) passes in isolation, and nothing is
  dead-lettered.

Example
-------
>>> from kafka import TopicPartition
>>> from driftline.executor.kafka_batch import BatchError
>>> tracker = FailureTracker(max_retries=2, backoff_initial_s=0.5, backoff_max_s=30.0)
>>> tp = TopicPartition("events", 0)
>>> crash = lambda first, end: BatchError("detect", {tp: (first, end)}, ValueError("boom"))
>>> tracker.failed("detect", crash(100, 200)), tracker.isolating()
(0.5, False)
>>> tracker.failed("detect", crash(100, 180)), tracker.isolating()
(1.0, True)
>>> tracker.failed("detect", crash(150, 151))  # one record in isolation: the poison
2.0
>>> tracker.poisoned(tp, 150)
'failed detect 3 times: ValueError: boom'
>>> tracker.succeeded({tp: 200})  # past the failed range: over
>>> tracker.isolating(), tracker.poisoned(tp, 150)
(False, None)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftline.executor.kafka_batch import BatchError

__all__ = ["FailureTracker"]

log = logging.getLogger("driftline.kafka")


@dataclass
class _Suspect:
    """A partition whose batches keep failing before ``end``; the latest from ``start``."""

    start: int
    end: int
    count: int
    stage: str


class FailureTracker:
    """Counts session failures by kind, for backoff and poison pills (see the module
    docstring).

    Parameters
    ----------
    max_retries : int
        Failures of batches at a partition's same place before its records are detected one
        at a time.
    backoff_initial_s, backoff_max_s : float
        The first wait after a failure, and the cap of the doubling.
    """

    def __init__(self, max_retries: int, backoff_initial_s: float,
                 backoff_max_s: float) -> None:
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("backoff: need 0 < backoff_initial_s <= backoff_max_s")
        self.max_retries = int(max_retries)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self._counts: dict[tuple[str, str], int] = {}
        self._suspects: dict[Any, _Suspect] = {}
        self._poison: dict[tuple[Any, int], str] = {}

    def failed(self, stage: str, error: BaseException) -> float:
        """Count the failure ``error`` of ``stage``; returns the backoff to wait before the
        next session."""
        if isinstance(error, BatchError):
            kind = ("batch", error.stage)
            self._batch_failed(error)
        else:
            kind = (stage, type(error).__name__)
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        return min(self.backoff_initial_s * 2.0 ** (count - 1), self.backoff_max_s)

    def _batch_failed(self, error: BatchError) -> None:
        isolated = self.isolating()
        single = [(tp, first) for tp, (first, end) in error.positions.items() if end - first == 1]
        if isolated and len(error.positions) == 1 and single:
            tp, offset = single[0]
            suspect = self._suspects.get(tp)
            times = (suspect.count + 1) if suspect is not None else 1
            self._poison[(tp, offset)] = f"failed {error.stage} {times} times: {error.cause}"
            log.error("%s/%d@%d fails %s every time (%s): it will be dead-lettered",
                      tp.topic, tp.partition, offset, error.stage, error.cause)
        for tp, (first, end) in error.positions.items():
            suspect = self._suspects.get(tp)
            if suspect is None or first >= suspect.end:
                self._suspects[tp] = _Suspect(first, end, 1, error.stage)
            else:
                suspect.start, suspect.end = first, max(end, suspect.end)
                suspect.count += 1
                suspect.stage = error.stage
        if not isolated and self.isolating():
            log.warning("batches keep failing at %s: detecting one record at a time until past",
                        ", ".join(f"{tp.topic}/{tp.partition}@{s.start}-{s.end - 1}"
                                  for tp, s in sorted(self._suspects.items())
                                  if s.count >= self.max_retries))

    def succeeded(self, next_offsets: Mapping[Any, int]) -> None:
        """A batch went through; ``next_offsets`` are the partitions' next offsets after it."""
        for tp, suspect in list(self._suspects.items()):
            if next_offsets.get(tp, -1) >= suspect.end:
                del self._suspects[tp]
        for key in [k for k in self._poison if next_offsets.get(k[0], -1) > k[1]]:
            del self._poison[key]
        for kind in list(self._counts):
            if kind[0] != "batch" or not self._suspects:
                del self._counts[kind]

    def isolating(self) -> bool:
        """Whether records are to be detected one per batch (a suspect partition is left)."""
        return any(s.count >= self.max_retries for s in self._suspects.values())

    def poisoned(self, tp: Any, offset: int) -> str | None:
        """Why the record ``tp``@``offset`` is poison, or None."""
        return self._poison.get((tp, offset))
