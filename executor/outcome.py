"""What detection reports, as plain data: readings for the exporter, results for the sinks.

A :class:`executor.pipeline.DetectionPipeline` answers every call with a :class:`BatchResult`:
the served predictions, the detections, and :class:`Readings` -- per detector series its
statistics, flags and new detections (:class:`DetectorUpdate`), the live histogram counts of
the features and predictions binned where the values are (:class:`DistributionCounts`), and
the counters of the batch. A detection backend (:mod:`executor.detection`) wraps the results of
one partition of a batch, with the records it could not decode, into a
:class:`PartitionOutcome`. Nothing here refers to a live detector or exporter: outcomes cross
the forked backend's pipe by pickling and are applied in the executor's process by the sinks
(:mod:`executor.sinks`) and :meth:`executor.exporter.DriftExporter.apply_readings`.

Example
-------
>>> import numpy as np
>>> counts, total = bin_counts(np.array([1.0, 2.0]), [0.5, 1.0, 1.5, 9.0, float("nan")])
>>> counts.tolist(), total
([2, 1, 1], 12.0)
>>> class Bank:  # what bank_updates reads from a feature bank
...     feature_names = ["age", "miles"]
...     drift_detected = np.array([False, True])
...     warning_detected = np.array([False, False])
...     def feature_statistics(self):
...         return {"age": {"statistic": 0.1}, "miles": {"statistic": 0.9}}
>>> [(u.feature, u.drift, u.detections) for u in bank_updates(
...     "incremental_ks", "inputs", Bank(), np.array([[7, 1], [9, 1]]))]
[('age', False, 0), ('miles', True, 2)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from driftline.executor.decoded import DeadLetter

__all__ = ["BatchResult", "CategoryCounts", "Detection", "DetectorUpdate", "DistributionCounts",
           "PartitionOutcome", "Readings", "bank_updates", "bin_counts", "detector_update"]


class Detection(NamedTuple):
    """One drift detection: which detector on which stream/feature, at which event."""

    detector: str
    stream: str
    feature: str
    event_id: str


@dataclass(frozen=True)
class DetectorUpdate:
    """One detector series after a batch: ``statistics`` as the detector reports them
    (``statistic``, ``threshold``, ``p_value``, ``n_seen`` ...), its flags, and how many
    detections it made during the batch."""

    detector: str
    stream: str
    feature: str
    statistics: dict[str, float]
    drift: bool
    warning: bool
    detections: int


@dataclass(frozen=True)
class DistributionCounts:
    """Values of one batch counted into the reference buckets of ``feature`` in ``stream``
    (``counts`` has one entry per bucket, ``+Inf`` last; ``total`` is the sum of the finite
    values). See :func:`bin_counts`."""

    stream: str
    feature: str
    counts: np.ndarray
    total: float


@dataclass(frozen=True)
class CategoryCounts:
    """Values of one batch of a categorical ``feature`` counted per category (``labels``: the
    profile's categories, then ``__other__``, ``__missing__``, ``__unseen__``)."""

    feature: str
    labels: list[str]
    counts: np.ndarray


@dataclass
class Readings:
    """What the exporter learns from one pipeline call.

    ``seconds`` is the processing time of a batch of events (None for a label join or a
    batch the model failed on: neither is a successful batch).
    """

    detectors: list[DetectorUpdate] = field(default_factory=list)
    distributions: list[DistributionCounts] = field(default_factory=list)
    categories: list[CategoryCounts] = field(default_factory=list)
    n_processed: int = 0
    n_model: int = 0
    n_fallback: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None


def bin_counts(edges: np.ndarray, values: Any) -> tuple[np.ndarray, float]:
    """Counts of the finite ``values`` per bucket of the increasing upper bounds ``edges``
    (a value ``v`` falls in the first bucket with ``v <= edge``, else in ``+Inf``), and their
    sum. NaN and infinite values are skipped."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    index = np.searchsorted(edges, arr, side="left")
    return np.bincount(index, minlength=len(edges) + 1), float(arr.sum())


def detector_update(detector: str, stream: str, feature: str, statistics: Mapping[str, Any],
                    *, drift: bool, warning: bool, detections: int) -> DetectorUpdate:
    """A :class:`DetectorUpdate` holding a copy of ``statistics`` (the detector keeps
    changing after the call)."""
    return DetectorUpdate(detector, stream, feature, dict(statistics), bool(drift),
                          bool(warning), int(detections))


def bank_updates(detector: str, stream: str, bank: Any,
                 detections: Any | None = None) -> list[DetectorUpdate]:
    """One :class:`DetectorUpdate` per feature of a feature bank (``feature_names``,
    ``drift_detected``, ``warning_detected``, ``feature_statistics()``), with the detections
    per feature counted from ``detections``, the ``(k, 2)`` (row, feature) array its
    ``update_many`` returned (None: no detections)."""
    names = list(bank.feature_names)
    flags = np.asarray(bank.drift_detected, dtype=bool)
    warnings = np.asarray(bank.warning_detected, dtype=bool)
    per_feature = np.zeros(len(names), dtype=np.int64)
    if detections is not None:
        pairs = np.asarray(detections, dtype=np.int64).reshape(-1, 2)
        per_feature = np.bincount(pairs[:, 1], minlength=len(names))
    statistics = bank.feature_statistics()
    return [detector_update(detector, stream, name, statistics[name], drift=flags[j],
                            warning=warnings[j], detections=per_feature[j])
            for j, name in enumerate(names)]


@dataclass
class BatchResult:
    """What one call of :meth:`executor.pipeline.DetectionPipeline.process` (or
    ``add_labels``) did.

    ``flags`` maps ``(detector, stream, feature)`` to the drift flag after the batch. The arrays
    follow ``event_ids`` (the processed events, in order): served class, inline or joined label
    (-1 when unknown), fallback use and confidence. ``dead_letters`` holds the events of a batch
    the model failed on (then nothing else is filled but ``readings``).
    """

    n_processed: int = 0
    n_model: int = 0
    n_fallback: int = 0
    detections: list[Detection] = field(default_factory=list)
    flags: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    predicted: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    used_fallback: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    confidence: np.ndarray = field(default_factory=lambda: np.empty(0))
    seconds: float = 0.0
    readings: Readings = field(default_factory=Readings)


@dataclass
class PartitionOutcome:
    """What detection did with one partition's part of a batch.

    ``label_results`` are the joins of the late labels sent with the batch (in order, before
    the records); ``dead_letters`` the records that could not be decoded or that the model
    failed on, with their original bytes; ``result`` the pipeline's result for the decoded
    events (None when none decoded), with ``offsets`` and ``periods`` (when the batch gave
    periods) following ``result.event_ids``; ``quality`` counts data-quality flags of the
    decoded events as ``{feature: {flag: count}}`` (e.g. ``out_of_range``).
    """

    topic: str
    partition: int
    dead_letters: list[DeadLetter] = field(default_factory=list)
    label_results: list[BatchResult] = field(default_factory=list)
    result: BatchResult | None = None
    offsets: list[int] = field(default_factory=list)
    periods: Sequence[str] | None = None
    quality: dict[str, dict[str, int]] = field(default_factory=dict)
