"""Boxkite-style live and reference distributions as Prometheus metrics.

Each feature (stream ``inputs``) and each model output (stream ``predictions``) gets a live
histogram whose ``le`` bounds are the bucket edges of the reference profile, plus the reference
distribution itself, so recording rules can compare the two in PromQL:

- ``driftline_live_value`` (histogram, labels ``stream, feature, le``): every observed value.
- ``driftline_live_bin_observations_total`` (counter, labels ``stream, feature, bin``): the same
  counts per bucket, not cumulative (``bin`` is the bucket's upper bound), for divergences.
- ``driftline_reference_cumulative_ratio`` (gauge, ``stream, feature, bin``): reference
  cumulative fraction of values ``<= bin`` (the reference CDF at each edge; ``+Inf`` is 1). Its
  bound label is ``bin``, not ``le``: Prometheus reserves ``le`` for histogram buckets
  (``promtool check metrics``); recording rules join it to the live CDF with ``label_replace``.
- ``driftline_reference_bin_ratio`` (gauge, ``stream, feature, bin``): reference fraction per
  bucket.

Bucket convention is the one of :class:`model.profile.Histogram`: ``edges`` are increasing upper
bounds and a value ``v`` falls in the first bucket with ``v <= edge`` (else in ``+Inf``).

Example
-------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> dist = DistributionCollector()
>>> dist.add("inputs", "age", edges=[30.0, 50.0], reference_counts=[2, 1, 1])
>>> registry.register(dist)
>>> dist.observe("inputs", "age", [25.0, 40.0, 41.0, 99.0])
>>> b'driftline_live_value_bucket{feature="age",le="50.0",stream="inputs"} 3.0' in \
generate_latest(registry)
True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from driftline.executor.outcome import bin_counts

__all__ = ["DistributionCollector"]


class _Distribution:
    def __init__(self, edges: Sequence[float], reference_counts: Sequence[float]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        if self.edges.ndim != 1 or np.any(np.diff(self.edges) <= 0) or not np.all(
            np.isfinite(self.edges)
        ):
            raise ValueError(f"edges must be finite and strictly increasing, got {list(edges)}")
        ref = np.asarray(reference_counts, dtype=np.float64)
        if ref.shape != (self.edges.size + 1,) or np.any(ref < 0) or ref.sum() <= 0:
            raise ValueError(
                f"reference_counts must be {self.edges.size + 1} non-negative counts with a "
                f"positive total, got {list(reference_counts)}"
            )
        self.reference_ratio = ref / ref.sum()
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.total = 0.0
        self.bounds = [floatToGoString(e) for e in self.edges] + ["+Inf"]


class DistributionCollector(Collector):
    """Live histograms with reference bucket edges, and the reference distributions."""

    def __init__(self, namespace: str = "driftline") -> None:
        self.namespace = namespace
        self._dists: dict[tuple[str, str], _Distribution] = {}
        self._lock = threading.Lock()

    def add(
        self, stream: str, feature: str, edges: Sequence[float], reference_counts: Sequence[float]
    ) -> None:
        """Declare the distribution of ``feature`` in ``stream`` (all series start at 0)."""
        with self._lock:
            self._dists[(stream, feature)] = _Distribution(edges, reference_counts)

    def features(self, stream: str) -> list[str]:
        """Names declared for ``stream``, in declaration order."""
        return [f for (s, f) in self._dists if s == stream]

    def _get(self, stream: str, feature: str) -> _Distribution:
        dist = self._dists.get((stream, feature))
        if dist is None:
            raise KeyError(f"no distribution declared for stream={stream!r} feature={feature!r}")
        return dist

    def observe(self, stream: str, feature: str, values: Any) -> None:
        """Count finite ``values`` into the live histogram of ``feature`` (NaN/inf skipped)."""
        counts, total = bin_counts(self._get(stream, feature).edges, values)
        self.add_counts(stream, feature, counts, total)

    def add_counts(self, stream: str, feature: str, counts: Any, total: float) -> None:
        """Add values already counted into the reference buckets of ``feature``
        (:func:`executor.outcome.bin_counts`): ``counts`` per bucket, ``+Inf`` last, and
        ``total`` their sum."""
        dist = self._get(stream, feature)
        binned = np.asarray(counts, dtype=np.int64)
        if binned.shape != dist.counts.shape:
            raise ValueError(f"counts for stream={stream!r} feature={feature!r} must have "
                             f"{dist.counts.size} buckets, got shape {binned.shape}")
        with self._lock:
            dist.counts += binned
            dist.total += float(total)

    def collect(self) -> Iterator[Metric]:
        ns = self.namespace
        live = HistogramMetricFamily(
            f"{ns}_live_value",
            "Live values in the reference profile's buckets.",
            labels=["stream", "feature"],
        )
        bins = CounterMetricFamily(
            f"{ns}_live_bin_observations",
            "Live values per reference bucket (not cumulative); bin is the upper bound.",
            labels=["stream", "feature", "bin"],
        )
        ref_cdf = GaugeMetricFamily(
            f"{ns}_reference_cumulative_ratio",
            "Reference fraction of values <= bin (reference CDF at the bucket upper bounds).",
            labels=["stream", "feature", "bin"],
        )
        ref_bins = GaugeMetricFamily(
            f"{ns}_reference_bin_ratio",
            "Reference fraction of values per bucket; bin is the upper bound.",
            labels=["stream", "feature", "bin"],
        )
        with self._lock:
            for (stream, feature), dist in self._dists.items():
                cumulative = np.cumsum(dist.counts)
                live.add_metric(
                    [stream, feature],
                    buckets=[(b, float(c)) for b, c in zip(dist.bounds, cumulative, strict=True)],
                    sum_value=dist.total,
                )
                ref_cum = np.minimum(np.cumsum(dist.reference_ratio), 1.0)
                ref_cum[-1] = 1.0
                for b, c, r, rc in zip(
                    dist.bounds, dist.counts, dist.reference_ratio, ref_cum, strict=True
                ):
                    bins.add_metric([stream, feature, b], float(c))
                    ref_bins.add_metric([stream, feature, b], float(r))
                    ref_cdf.add_metric([stream, feature, b], float(rc))
        yield live
        yield bins
        yield ref_cdf
        yield ref_bins
