"""Several pipelines, one set of detector series: per-source readings and how they combine.

The Kafka executor runs one :class:`executor.pipeline.DetectionPipeline` per partition, and each
reports the same ``(detector, stream, feature)`` series. The exporter keeps the latest
:class:`DetectorReading` of every *source* (a partition's pipeline) and exports their
combination (:func:`combine_readings`), so one partition cannot overwrite another's drift flag
or statistic. The executor names the source of each pipeline's readings
(:meth:`executor.exporter.DriftExporter.apply_readings`).

Example
-------
>>> a = DetectorReading(statistic=2.0, threshold=4.0, n_seen=10, ready=True)
>>> b = DetectorReading(statistic=3.0, threshold=4.0, n_seen=5, drift=True, ready=False)
>>> c = combine_readings([a, b])
>>> c.statistic, c.n_seen, c.drift, c.ready
(3.0, 15.0, True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["DetectorReading", "combine_readings", "finite_or_none"]


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when that is a finite number, else None (a statistic not reported)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass(frozen=True)
class DetectorReading:
    """Latest values one source reported for one detector series (``None``: never finite)."""

    statistic: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    n_seen: float | None = None
    error_rate: float | None = None
    drift: bool = False
    warning: bool = False
    ready: bool = False

    def updated(self, **values: Any) -> DetectorReading:
        """A copy with the non-``None`` ``values`` replacing the current ones (a non-finite
        statistic in a batch keeps the previous one)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @property
    def ratio(self) -> float | None:
        """``statistic / threshold`` when both are known and the threshold is non-zero."""
        if self.statistic is None or not self.threshold:
            return None
        return self.statistic / self.threshold


def _lead(readings: Sequence[DetectorReading]) -> DetectorReading:
    """The reading closest to drift: highest ratio, else highest statistic."""
    with_ratio = [r for r in readings if r.ratio is not None]
    if with_ratio:
        return max(with_ratio, key=lambda r: r.ratio or 0.0)
    with_stat = [r for r in readings if r.statistic is not None]
    if with_stat:
        return max(with_stat, key=lambda r: r.statistic or 0.0)
    return readings[0]


def combine_readings(readings: Iterable[DetectorReading]) -> DetectorReading:
    """One reading for the sources of one series.

    Drift and warning: any source. Statistic and threshold: those of the source nearest to its
    threshold (highest ratio), so the exported ratio is one source's real ratio. p-value: the
    smallest; error rate: the largest; observations: the sum; ready: every source is past its
    warm-up.
    """
    items = list(readings)
    if not items:
        return DetectorReading()
    lead = _lead(items)
    p_values = [r.p_value for r in items if r.p_value is not None]
    error_rates = [r.error_rate for r in items if r.error_rate is not None]
    seen = [r.n_seen for r in items if r.n_seen is not None]
    return DetectorReading(
        statistic=lead.statistic, threshold=lead.threshold,
        p_value=min(p_values) if p_values else None,
        n_seen=float(sum(seen)) if seen else None,
        error_rate=max(error_rates) if error_rates else None,
        drift=any(r.drift for r in items), warning=any(r.warning for r in items),
        ready=all(r.ready for r in items))
