"""Prometheus export of the executor: detector state, throughput, failures, distributions.

One :class:`DriftExporter` per process owns one ``CollectorRegistry``. The executor gives it
each batch's :class:`executor.outcome.Readings` (:meth:`DriftExporter.apply_readings`, which
uses the ``observe_*`` methods); :func:`executor.metrics_http.serve` exposes
``/metrics`` and ``/healthz``. Names follow the Prometheus conventions: prefix ``driftline_``,
base units (seconds), ``_total`` only on counters, detectors and features as labels
(``detector``, ``stream`` in ``inputs|predictions|errors|data_quality`` and, for vector and
image fields, ``reduced_components|reduced_vector|predicted_class``, ``feature``;
``feature=""`` for detectors over a whole stream); categorical features, effect sizes and
data-quality baselines: :mod:`executor.metrics_categories`. Several pipelines (one per Kafka
partition) report the same series, each as its own ``source``; their readings are combined,
never overwritten (:mod:`executor.exporter_sources`).

Example
-------
>>> from prometheus_client.parser import text_string_to_metric_families
>>> exporter = DriftExporter(feature_names=["age"], failure_reasons=["decode"])
>>> exporter.register_detector("page_hinkley", "inputs", ["age"])
>>> exporter.observe_detector("page_hinkley", "inputs", "age",
...                           {"statistic": 5.0, "threshold": 10.0, "drift": 0.0})
>>> samples = {s.name: s.value for f in text_string_to_metric_families(
...     exporter.generate().decode()) for s in f.samples
...     if s.labels.get("detector") == "page_hinkley"}
>>> samples["driftline_detector_statistic_threshold_ratio"]
0.5
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Info, generate_latest

from driftline.executor.exporter_sources import (
    DetectorReading,
    combine_readings,
    finite_or_none,
)
from driftline.executor.metrics_categories import EFFECT_SIZES, CategoryMetrics
from driftline.executor.metrics_histograms import DistributionCollector
from driftline.executor.metrics_service import DEFAULT_LATENCY_BUCKETS, ServiceMetrics
from driftline.executor.outcome import Readings, bank_updates
from driftline.executor.schema_streams import CategoryColumns

__all__ = ["DEFAULT_LATENCY_BUCKETS", "STREAMS", "DriftExporter"]

STREAMS = ("inputs", "predictions", "errors", "data_quality", "reduced_components",
           "reduced_vector", "predicted_class")
_DETECTOR_LABELS = ("detector", "stream", "feature")
#: statistics exported by :class:`executor.metrics_categories.CategoryMetrics`
_CATEGORY_STATISTICS = frozenset((*EFFECT_SIZES, "unseen_rate", "unseen_drift"))


class DriftExporter(ServiceMetrics):
    """Prometheus metrics of one executor process: detectors, distributions, and the service
    metrics of :class:`executor.metrics_service.ServiceMetrics`.

    Parameters
    ----------
    profile : model.profile.ReferenceProfile, optional
        Reference profile: gives the feature names, the bucket edges and reference counts of the
        live/reference distributions, and the model hash of the info metric.
    feature_names : sequence of str, optional
        Column order of the rows given to :meth:`observe_features` (default: the profile's).
    failure_reasons : iterable of str
        Reasons of failed events, pre-created at 0.
    predictors : iterable of str
        Values of the ``predictor`` label of the predictions counter, pre-created at 0.
    model_version : str
        Version string of the info metric (default: the profile's driftline version).
    latency_buckets : sequence of float
        Upper bounds in seconds of the batch latency histogram.
    drift_hold_seconds : float
        ``driftline_drift_detected`` is 1 until this long after the last detection or drifted
        reading, evaluated when ``/metrics`` is scraped: detectors that reset on drift raise
        their flag for one row only, and holding it gives alert rules (``for: 2m``) a steady
        state while detections keep coming; once the stream goes idle the flag clears when the
        hold runs out. 0 exports the detectors' raw flags (the latest readings).
    clock : callable
        Wall clock in seconds (for timestamps and health).
    """

    def __init__(
        self,
        profile: Any | None = None,
        *,
        feature_names: Sequence[str] | None = None,
        failure_reasons: Iterable[str] = ("decode", "validation", "model", "detector"),
        predictors: Iterable[str] = ("model", "fallback"),
        model_version: str | None = None,
        latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
        drift_hold_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not drift_hold_seconds >= 0:
            raise ValueError(f"drift_hold_seconds must be >= 0, got {drift_hold_seconds}")
        self.drift_hold_seconds = float(drift_hold_seconds)
        if feature_names is None:
            feature_names = list(profile.feature_names) if profile is not None else []
        self.feature_names = [str(n) for n in feature_names]
        super().__init__(CollectorRegistry(auto_describe=True), failure_reasons=failure_reasons,
                         predictors=predictors, latency_buckets=latency_buckets, clock=clock)
        # keyed by (detector labels, source)
        self._last_drift: dict[tuple[tuple[str, str, str], str], bool] = {}
        self._last_n_detections: dict[tuple[tuple[str, str, str], str], float] = {}
        self._last_detection_at: dict[tuple[str, str, str], float] = {}
        self._raw_drift: dict[tuple[str, str, str], bool] = {}
        self._readings: dict[tuple[str, str, str], dict[str, DetectorReading]] = {}
        # labelled children of the per-detector metrics, looked up once (``labels()`` is slow)
        self._children: dict[tuple[str, tuple[str, str, str]], Any] = {}
        r = self.registry
        lab = _DETECTOR_LABELS
        self.drift_detected = Gauge(
            "driftline_drift_detected",
            "1 while the detector flags drift or drifted within the hold (evaluated at scrape).",
            lab, registry=r)
        self.warning_detected = Gauge(
            "driftline_warning_detected", "1 while the detector is in its warning zone.", lab,
            registry=r)
        self.detections = Counter(
            "driftline_drift_detections", "Drift detections since start.", lab, registry=r)
        self.statistic = Gauge(
            "driftline_detector_statistic", "Current test statistic.", lab, registry=r)
        self.threshold = Gauge(
            "driftline_detector_threshold", "Threshold the statistic is compared to.", lab,
            registry=r)
        self.ratio = Gauge(
            "driftline_detector_statistic_threshold_ratio",
            "Statistic divided by threshold (drift near 1).", lab, registry=r)
        self.p_value = Gauge(
            "driftline_detector_p_value", "p-value of the test, where the test has one.", lab,
            registry=r)
        self.ready = Gauge(
            "driftline_detector_ready", "1 once the detector's warm-up is over.", lab, registry=r)
        self.error_rate = Gauge(
            "driftline_detector_error_rate", "Error rate estimated by an error detector.", lab,
            registry=r)
        self.n_seen = Gauge(
            "driftline_detector_observations", "Observations seen by the detector.", lab,
            registry=r)
        self.last_update = Gauge(
            "driftline_detector_last_update_timestamp_seconds",
            "Unix time of the detector's last update.", lab, registry=r)
        self.target_arl0 = Gauge(
            "driftline_detector_target_arl0",
            "In-control average run length (rows) the series is calibrated to, from the alarm "
            "budget.", lab, registry=r)
        self.budget_rate = Gauge(
            "driftline_alarm_budget_events_per_second",
            "Event rate the false-alarm budget was planned for (0: no budget).", registry=r)
        self.info = Info("driftline_reference", "Model and reference profile in use.", registry=r)
        self.distributions = DistributionCollector()
        r.register(self.distributions)
        self.categories = CategoryMetrics(r)
        if profile is not None:
            self._load_profile(profile, model_version)
        elif model_version is not None:
            self.set_reference_info(model_sha256="", profile_sha256="", version=model_version)

    # -- set-up ---------------------------------------------------------------------------------

    def _load_profile(self, profile: Any, model_version: str | None) -> None:
        for name, hist in profile.feature_histograms.items():
            self.distributions.add("inputs", name, hist.edges, hist.counts)
        for name, hist in profile.prediction_histograms.items():
            self.distributions.add("predictions", name, hist.edges, hist.counts)
        columns = CategoryColumns(list(profile.categorical), profile.categorical)
        for name, ratios in columns.reference_ratios().items():
            self.categories.set_reference(name, columns.labels[name], ratios)
        version = model_version or str(profile.versions.get("driftline", ""))
        profile_hash = hashlib.sha256(profile.to_json(indent=None).encode()).hexdigest()
        self.set_reference_info(
            model_sha256=profile.model_sha256, profile_sha256=profile_hash, version=version)

    def set_reference_info(self, *, model_sha256: str, profile_sha256: str, version: str) -> None:
        """Set ``driftline_reference_info{model_sha256, profile_sha256, version} 1``."""
        self.info.info(
            {"model_sha256": model_sha256, "profile_sha256": profile_sha256, "version": version})

    def register_detector(
        self, detector: str, stream: str, features: Iterable[str] = ("",)
    ) -> None:
        """Pre-create every series of ``detector`` on ``stream`` (one set per feature) at 0.

        ``driftline_detector_last_update_timestamp_seconds`` starts at 0 too ("never"), so a
        detector that never manages an update is seen as stale (alert rule
        ``DriftlineDetectorStale``)."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        for feature in features:
            labels = (detector, stream, feature)
            for metric in ("drift_detected", "warning_detected", "detections", "ready", "n_seen",
                           "statistic", "threshold", "last_update"):
                self._child(metric, labels)

    def set_target_arl0(self, detector: str, stream: str, feature: str, arl0: float) -> None:
        """Export the target ARL0 (rows) of one series (:mod:`executor.alarm_budget`)."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        self.target_arl0.labels(detector, stream, feature).set(float(arl0))

    def set_alarm_budget_rate(self, events_per_s: float) -> None:
        """Export the event rate the run's false-alarm budget was planned for."""
        self.budget_rate.set(float(events_per_s))

    # -- per-batch observations -----------------------------------------------------------------

    def observe_detector(
        self,
        detector: str,
        stream: str,
        feature: str,
        statistics: Mapping[str, Any],
        *,
        drift_detected: bool | None = None,
        warning_detected: bool | None = None,
        detections: int | None = None,
        source: str = "",
    ) -> None:
        """Export one detector's ``statistics`` after a batch.

        Keys used: ``statistic``, ``threshold`` (and their ratio when the threshold is non-zero),
        ``p_value``, ``error_rate``, ``n_seen``, ``drift``, ``warning``, ``ready`` (else
        ``window_fill >= 1``, else a finite ``threshold``, else ready), ``n_detections``.
        Non-finite values leave their gauge unchanged. ``drift_detected`` and
        ``warning_detected`` (the detector's properties) override ``drift`` and ``warning``.

        The detections counter grows by ``detections`` when given (e.g. the length of
        ``update_many``'s result), else by the growth of ``statistics["n_detections"]``, else by
        one on each rise of the drift flag.

        ``source`` names the pipeline reporting (e.g. its partition): each source's latest
        reading is kept and the gauges show their combination
        (:func:`executor.exporter_sources.combine_readings`); detections of all sources add up.
        """
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        labels = (detector, stream, feature)
        key = (labels, source)
        stat = finite_or_none(statistics.get("statistic"))
        thr = finite_or_none(statistics.get("threshold"))
        if drift_detected is None:
            drift_detected = bool(finite_or_none(statistics.get("drift")) or 0.0)
        warning = warning_detected
        if warning is None:
            warning = bool(finite_or_none(statistics.get("warning")) or 0.0)
        ready = finite_or_none(statistics.get("ready"))
        if ready is None:
            fill = finite_or_none(statistics.get("window_fill"))
            if fill is not None:
                ready = float(fill >= 1.0)
            else:
                ready = float("threshold" not in statistics or thr is not None)
        now = self.clock()
        with self._lock:
            if detections is None:
                total = finite_or_none(statistics.get("n_detections"))
                if total is not None:
                    previous = self._last_n_detections.get(key, 0.0)
                    # A reset detector restarts its count: count what it has seen since.
                    detections = int(total - previous if total >= previous else total)
                    self._last_n_detections[key] = total
                else:
                    detections = int(drift_detected and not self._last_drift.get(key, False))
            if detections < 0:
                raise ValueError(f"detections must be >= 0, got {detections}")
            self._last_drift[key] = bool(drift_detected)
            if detections or drift_detected:
                self._last_detection_at[labels] = now
            readings = self._readings.setdefault(labels, {})
            readings[source] = readings.get(source, DetectorReading()).updated(
                statistic=stat, threshold=thr, p_value=finite_or_none(statistics.get("p_value")),
                n_seen=finite_or_none(statistics.get("n_seen")),
                error_rate=finite_or_none(statistics.get("error_rate")), drift=bool(drift_detected),
                warning=bool(warning), ready=bool(ready))
            self._export_reading(labels, combine_readings(readings.values()))
            self._child("last_update", labels).set(now)
        self._child("detections", labels).inc(detections)

    def _child(self, metric: str, labels: tuple[str, str, str]) -> Any:
        """``getattr(self, metric).labels(*labels)``, created on first use and kept (the drift
        flag's child reads :meth:`drift_flag` whenever the registry is collected)."""
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[(metric, labels)] = getattr(self, metric).labels(*labels)
            if metric == "drift_detected":
                child.set_function(functools.partial(self.drift_flag, labels))
        return child

    def drift_flag(self, labels: tuple[str, str, str]) -> float:
        """The value of ``driftline_drift_detected`` for ``(detector, stream, feature)`` now.

        With a hold: 1 while the last detection or drifted reading of any source is less than
        ``drift_hold_seconds`` old, so an idle stream clears without new data. Without: the
        combined raw flag of the latest readings.
        """
        with self._lock:
            if self.drift_hold_seconds == 0:
                return float(self._raw_drift.get(labels, False))
            last = self._last_detection_at.get(labels, -math.inf)
        return float(self.clock() - last < self.drift_hold_seconds)

    def _export_reading(self, labels: tuple[str, str, str], reading: DetectorReading) -> None:
        """Set the gauges of one series (unknown values leave their gauge unchanged); the drift
        flag is evaluated at collection (:meth:`drift_flag`)."""
        for value, name in ((reading.statistic, "statistic"), (reading.threshold, "threshold"),
                            (reading.ratio, "ratio"), (reading.p_value, "p_value"),
                            (reading.n_seen, "n_seen"), (reading.error_rate, "error_rate")):
            if value is not None:
                self._child(name, labels).set(value)
        self._raw_drift[labels] = reading.drift
        self._child("drift_detected", labels)
        self._child("warning_detected", labels).set(float(reading.warning))
        self._child("ready", labels).set(float(reading.ready))

    def forget_source(self, source: str | int) -> None:
        """Drop the readings of ``source`` (a revoked partition's pipeline) and re-export the
        combination of the remaining sources; a series left without sources reports no drift
        (past the hold), no warning and not ready."""
        source = str(source)
        with self._lock:
            for labels, readings in self._readings.items():
                if readings.pop(source, None) is None:
                    continue
                self._last_drift.pop((labels, source), None)
                self._last_n_detections.pop((labels, source), None)
                self._export_reading(labels, combine_readings(readings.values()))
        self.categories.forget_source(source)

    def observe_bank(
        self, detector: str, stream: str, bank: Any, detections: Any | None = None,
        source: str = "",
    ) -> None:
        """Export every feature of a :class:`detectors.bank_base.FeatureBankBase`.

        ``detections`` is the ``(k, 2)`` array returned by ``bank.update_many`` for the batch.
        """
        for update in bank_updates(detector, stream, bank, detections):
            self.observe_detector(
                detector, stream, update.feature, update.statistics,
                drift_detected=update.drift, warning_detected=update.warning,
                detections=update.detections, source=source)

    def apply_readings(self, readings: Readings, source: str | int = "") -> None:
        """Export what one pipeline call of ``source`` (e.g. its partition) read: every
        detector update (:meth:`observe_detector`), the live histogram counts, predictions by
        predictor, processed and failed events, and -- for a processed batch -- its latency
        (:meth:`observe_batch_latency`). Health is the runner's to mark
        (:meth:`mark_progress`), once the batch's outputs are acknowledged."""
        source = str(source)
        for update in readings.detectors:
            self.observe_detector(
                update.detector, update.stream, update.feature, update.statistics,
                drift_detected=update.drift, warning_detected=update.warning,
                detections=update.detections, source=source)
            if not _CATEGORY_STATISTICS.isdisjoint(update.statistics):
                self.categories.observe_statistics(
                    (update.detector, update.stream, update.feature), source, update.statistics)
        for counts in readings.categories:
            self.categories.add_counts(counts.feature, counts.labels, counts.counts)
        for counts in readings.distributions:
            self.distributions.add_counts(counts.stream, counts.feature, counts.counts,
                                          counts.total)
        if readings.n_model or readings.n_fallback:
            self.observe_predictions(readings.n_model, readings.n_fallback)
        self.observe_events(processed=readings.n_processed,
                            failed_by_reason=readings.failed_by_reason)
        if readings.seconds is not None:
            self.observe_batch_latency(readings.seconds)

    def observe_predictions(
        self, n_model: int, n_fallback: int, predictions: Mapping[str, Any] | None = None
    ) -> None:
        """Count predictions by predictor; add ``predictions[output]`` values to the live
        prediction histograms (outputs are the profile's, e.g. ``label``, ``confidence``;
        an output without a reference histogram raises ``KeyError``)."""
        self.count_predictions(n_model, n_fallback)
        for output, values in (predictions or {}).items():
            self.distributions.observe("predictions", output, values)

    def observe_features(self, X: Any) -> None:
        """Add rows ``X`` (``(n, n_features)`` in ``feature_names`` order) to the live
        feature histograms; features without a reference histogram are skipped."""
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.feature_names):
            raise ValueError(
                f"X must have shape (n, {len(self.feature_names)}) for features "
                f"{self.feature_names}, got {arr.shape}")
        declared = set(self.distributions.features("inputs"))
        for j, name in enumerate(self.feature_names):
            if name in declared:
                self.distributions.observe("inputs", name, arr[:, j])

    # -- read-out -------------------------------------------------------------------------------

    def generate(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
