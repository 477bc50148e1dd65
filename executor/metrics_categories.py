"""Prometheus metrics of categorical features, effect sizes and data-quality baselines.

Part of :class:`executor.exporter.DriftExporter`'s registry:

* ``driftline_category_reference_ratio{stream, feature, category}`` -- the profile's frequency
  of each category (its categories up to the cap, then ``__other__``, ``__missing__``,
  ``__unseen__``: the label set is bounded by the profile), set once;
* ``driftline_category_values_total{stream, feature, category}`` -- live values per category
  (the recording rule ``driftline:category_live_ratio:10m`` turns them into frequencies);
* ``driftline_detector_effect_size{detector, stream, feature, measure}`` -- the effect sizes a
  detector reports among its statistics (``js_distance``: Jensen-Shannon distance, ``psi``:
  population stability index of the window against the reference);
* ``driftline_unseen_category_rate{detector, stream, feature}`` and
  ``driftline_unseen_category_drift{...}`` -- the rate of categories the reference never
  showed in the window, and the flag of their own alarm (``unseen_drift``);
* ``driftline_data_quality_baseline_ratio{feature, flag}`` -- the profile's rate of each
  data-quality flag (the live rate is the ``driftline_detector_error_rate`` of the
  ``data_quality`` stream's series ``<feature>:<flag>``).

Several pipelines (partitions) report the same detector series: each keeps its latest value
and the gauge shows the largest (the most drifted partition).

Example
-------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = CategoryMetrics(registry)
>>> metrics.set_reference("colour", ["red", "__other__"], [0.75, 0.25])
>>> metrics.observe_statistics(("chi_square", "inputs", "colour"), "0",
...                            {"js_distance": 0.125, "unseen_rate": 0.0, "unseen_drift": 0.0})
>>> registry.get_sample_value("driftline_detector_effect_size", {
...     "detector": "chi_square", "stream": "inputs", "feature": "colour",
...     "measure": "js_distance"})
0.125
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["EFFECT_SIZES", "CategoryMetrics"]

#: statistics exported as effect sizes (the ``measure`` label)
EFFECT_SIZES = ("js_distance", "psi")
_DETECTOR = ("detector", "stream", "feature")


class CategoryMetrics:
    """The metrics of the module docstring, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}
        self.reference_ratio = Gauge(
            "driftline_category_reference_ratio", "Reference frequency of each category of a "
            "categorical feature (bounded by the profile's category cap).",
            ["stream", "feature", "category"], registry=registry)
        self.values = Counter(
            "driftline_category_values", "Live values of a categorical feature, by category.",
            ["stream", "feature", "category"], registry=registry)
        self.effect_size = Gauge(
            "driftline_detector_effect_size", "Effect size of the detector's window against "
            "the reference (measure: js_distance, psi).", [*_DETECTOR, "measure"],
            registry=registry)
        self.unseen_rate = Gauge(
            "driftline_unseen_category_rate", "Rate of categories the reference never showed, "
            "in the detector's window.", _DETECTOR, registry=registry)
        self.unseen_drift = Gauge(
            "driftline_unseen_category_drift", "1 while the unseen categories' own alarm "
            "fires.", _DETECTOR, registry=registry)
        self.quality_baseline = Gauge(
            "driftline_data_quality_baseline_ratio", "Reference rate of a data-quality flag "
            "on a feature.", ["feature", "flag"], registry=registry)

    def set_reference(self, feature: str, labels: Sequence[str], ratios: Sequence[float],
                      stream: str = "inputs") -> None:
        """The reference frequencies of ``feature``'s categories; the live counters start."""
        for label, ratio in zip(labels, ratios, strict=True):
            self.reference_ratio.labels(stream, feature, label).set(float(ratio))
            self.values.labels(stream, feature, label)

    def add_counts(self, feature: str, labels: Sequence[str], counts: np.ndarray,
                   stream: str = "inputs") -> None:
        """Count a batch's values of ``feature`` per category."""
        for label, n in zip(labels, np.asarray(counts).tolist(), strict=True):
            if n:
                self.values.labels(stream, feature, label).inc(n)

    def set_quality_baselines(self, baselines: Mapping[tuple[str, str], float]) -> None:
        """``{(feature, flag): reference rate}``."""
        for (feature, flag), rate in baselines.items():
            self.quality_baseline.labels(feature, flag).set(float(rate))

    def observe_statistics(self, labels: tuple[str, str, str], source: str,
                           statistics: Mapping[str, Any]) -> None:
        """Export the effect sizes and unseen-category readings among ``statistics``."""
        exported = [(self.effect_size, (*labels, name), statistics.get(name))
                    for name in EFFECT_SIZES]
        exported += [(self.unseen_rate, labels, statistics.get("unseen_rate")),
                     (self.unseen_drift, labels, statistics.get("unseen_drift"))]
        with self._lock:
            for gauge, key, value in exported:
                if value is None or not math.isfinite(float(value)):
                    continue
                latest = self._latest.setdefault((gauge._name, key), {})
                latest[source] = float(value)
                gauge.labels(*key).set(max(latest.values()))

    def forget_source(self, source: str) -> None:
        """Drop ``source``'s latest values (its partition was revoked)."""
        with self._lock:
            for latest in self._latest.values():
                latest.pop(source, None)
