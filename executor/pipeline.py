"""The detection pipeline: batched inference, then every detector; readings come back as data.

:class:`DetectionPipeline` processes the decoded events of *one* partition at a time (one
pipeline per partition keeps each detector's stream ordered). For a batch it runs the model once
(``torch.no_grad`` inside :mod:`model.predict`) and feeds every stream's detectors (the
entries of ``detectors.streams``, built by :mod:`executor.pipeline_detectors`): the feature
columns (``features``) and the feature vector (``input_vector``), the prediction columns
(confidence, class, risk: ``prediction``), and the 0/1 errors of labelled events (inline
``label`` or joined from :class:`executor.labels.LabelJoin`: ``errors``). :meth:`series` lists
the detector series. All of that is vectorised; the only
per-event Python work is collecting ids and labels. Each call returns a
:class:`executor.outcome.BatchResult` whose ``readings`` (:class:`executor.outcome.Readings`) say
what the exporter should show: every detector series' statistics, flags and new detections, the
live histogram counts of the features and predictions (binned here, where the values are) and
the batch's counters. The pipeline knows no exporter.

``state_dict()`` is JSON-able (detectors, calibration and the targets it was made for,
counters, label buffers) and ``DetectionPipeline(model, config, state=...)`` continues
bit-for-bit without recalibrating (entries whose target changed since, e.g. under a new alarm
budget, are recalibrated and start afresh).
A batch on which the model fails becomes dead letters with reason ``"model"``.

Torch runs with one intra-op thread in a process with a pipeline (``torch_threads``): a
micro-batch of a few thousand rows gains nothing from more, while idle OpenMP workers spinning
between batches take the CPU from the detectors (``evaluation/bench_pipeline.py``, 2 cores: the
model stage went from 13-21 to 1.3 us/event, the whole path from ~7.3k to ~10k events/s).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from driftline.executor.alarm_budget import AlarmPlan
from driftline.executor.config import RunConfig
from driftline.executor.decoded import DeadLetter, DecodedEvent
from driftline.executor.detectors_config import DetectorSeries
from driftline.executor.labels import LabelJoin
from driftline.executor.outcome import (
    BatchResult,
    Detection,
    DistributionCounts,
    bin_counts,
)
from driftline.executor.pipeline_detectors import StreamDetectors
from driftline.executor.stream_runner import StreamRunner

__all__ = ["STATE_VERSION", "BatchResult", "Detection", "DetectionPipeline", "cap_torch_threads"]

STATE_VERSION = 2
_log = logging.getLogger("driftline.pipeline")
_COUNTERS = ("n_batches", "n_processed", "n_model", "n_fallback", "n_labelled", "n_errors",
             "n_model_failures", "n_detector_failures", "n_late_labels")


def cap_torch_threads(n: int) -> None:
    """At most ``n`` torch intra-op threads, if torch is loaded (the model may not use it)."""
    if n < 1:
        raise ValueError(f"torch_threads must be >= 1 or None, got {n}")
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > n:
        torch.set_num_threads(n)


class DetectionPipeline:
    """Model plus detectors for one partition's events (see the module docstring).

    Parameters
    ----------
    model : model.artifacts.LoadedModel
        The served model with its reference profile.
    config : RunConfig
        Uses ``detectors``, ``alarms`` and ``labels``. With ``alarms`` (a false-alarm budget in
        time) every calibrated entry's ``target_arl0`` is its share of the budget
        (:func:`executor.alarm_budget.budget_detectors`, applied by
        :class:`executor.stream_runner.StreamRunner`; ``alarm_plan`` holds the plan and
        ``config`` the budgeted config).
    state : dict, optional
        A :meth:`state_dict` to continue from (its calibration is reused, except for entries
        whose target changed since: those are recalibrated and start afresh, ``retargeted``).
    clock : callable
        Wall clock for label-buffer ageing.
    torch_threads : int or None
        Cap on torch's intra-op threads for the process (see the module docstring); ``None``
        leaves torch as it is.
    """

    def __init__(self, model: Any, config: RunConfig, *,
                 state: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.time, torch_threads: int | None = 1) -> None:
        if torch_threads is not None:
            cap_torch_threads(torch_threads)
        self.model = model
        self.config = config
        self.clock = clock
        profile = model.profile
        self.feature_names = list(profile.feature_names)
        reference = profile.reference_matrix()
        ref_pred = model.predict(reference)
        self.prediction_names = ["confidence", "label"] + (
            ["risk"] if ref_pred.risk is not None else [])
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.detectors = StreamRunner(
            config.detectors, {"features": self.feature_names,
                               "prediction": self.prediction_names},
            {"features": reference, "input_vector": reference,
             "prediction": self._prediction_matrix(ref_pred),
             "errors": [float(profile.baseline_error_rate)]},
            self.counters, state=state, alarms=config.alarms)
        if self.alarm_plan is not None:  # the budgeted targets
            self.config = config.model_copy(update={"detectors": self.detectors.config})
        self.join = LabelJoin(config.labels.buffer_size, config.labels.max_age_s)
        # the live histograms: (stream, column, reference bucket edges)
        self._histograms = [
            (stream, name, np.asarray(hist.edges, dtype=np.float64))
            for stream, declared in (("inputs", profile.feature_histograms),
                                     ("predictions", profile.prediction_histograms))
            for name, hist in declared.items()]
        if state is not None:
            self.load_state_dict(dict(state))

    # -- set-up -------------------------------------------------------------------------------
    @property
    def streams(self) -> dict[str, StreamDetectors]:
        """The detectors of each stream (see :class:`executor.stream_runner.StreamRunner`)."""
        return self.detectors.streams

    @property
    def alarm_plan(self) -> AlarmPlan | None:
        """The run's alarm budget split over the entries (``None`` without ``alarms``)."""
        return self.detectors.alarm_plan

    @property
    def retargeted(self) -> set[tuple[str, str]]:
        """``(stream, detector)`` recalibrated because its target changed since the state."""
        return self.detectors.retargeted

    def series(self) -> list[DetectorSeries]:
        """Every detector series this pipeline runs."""
        return self.detectors.series()

    def series_targets(self) -> list[tuple[str, str, str, float]]:
        """``(detector, exported stream, feature, target ARL0)`` of every series: each series'
        share of its entry's target (:func:`executor.alarm_budget.series_targets`)."""
        return self.detectors.series_targets()

    def detector_series(self) -> list[tuple[str, str, list[str]]]:
        """``(detector, exported stream, features)`` of every series, for the exporter."""
        return self.detectors.detector_series()

    @property
    def calibration_notes(self) -> list[str]:
        """Why a calibration is not at its target (out of reach), if any."""
        return self.detectors.calibration_notes

    @staticmethod
    def _prediction_matrix(pred: Any) -> np.ndarray:
        columns = [pred.confidence, pred.labels.astype(np.float64)]
        if pred.risk is not None:
            columns.append(pred.risk)
        return np.column_stack(columns)

    # -- processing ---------------------------------------------------------------------------
    def _labels_of(self, events: Sequence[DecodedEvent], now: float) -> np.ndarray:
        inline = [event.label for event in events]
        labels = np.array([-1 if label is None else label for label in inline], dtype=np.int64)
        if self.join.n_waiting_labels > 0:
            for i, label in enumerate(inline):
                if label is None:
                    found = self.join.take_label(events[i].event_id, now)
                    if found is not None:
                        labels[i] = found
        return labels

    def process(self, events: Sequence[DecodedEvent]) -> BatchResult:
        """Run one batch of one partition's events through the model and the detectors."""
        start = time.perf_counter()
        result = BatchResult()
        if not events:
            return result
        now = self.clock()
        event_ids = [e.event_id for e in events]
        X = np.stack([e.features for e in events])
        try:
            served = self.model.predict(X)
        except Exception as exc:  # a broken model must not take the executor down
            _log.error("model failed on a batch", extra={"n_events": len(events),
                                                         "error": repr(exc)})
            self.counters["n_model_failures"] += len(events)
            result.dead_letters = [DeadLetter(
                "model", f"{type(exc).__name__}: {exc}"[:500], None, e.event_id.encode(),
                e.topic, e.partition, e.offset, None if np.isnan(e.timestamp)
                else int(e.timestamp * 1000)) for e in events]
            result.readings.failed_by_reason["model"] = len(events)
            result.seconds = time.perf_counter() - start
            return result
        labels = self._labels_of(events, now)
        result.event_ids = event_ids
        result.predicted = served.labels
        result.labels = labels
        result.used_fallback = served.used_fallback
        result.confidence = served.confidence
        result.n_processed = len(events)
        result.n_fallback = int(served.used_fallback.sum())
        result.n_model = len(events) - result.n_fallback

        everything = np.arange(len(X))
        for name in ("features", "input_vector"):
            self.detectors.run(name, X, everything, event_ids, result)
        if "prediction" in self.streams:
            P = self._prediction_matrix(served)
            finite = np.flatnonzero(np.isfinite(P).all(axis=1))
            self.detectors.run("prediction", P[finite], finite, event_ids, result)
        labelled = np.flatnonzero(labels >= 0)
        if len(labelled) and "errors" in self.streams:
            errors = (served.labels[labelled] != labels[labelled]).astype(np.float64)
            self.counters["n_errors"] += int(errors.sum())
            self.detectors.run("errors", errors, labelled, event_ids, result)
        for i in np.flatnonzero(labels < 0):
            self.join.add_prediction(event_ids[i], int(served.labels[i]), now)

        c = self.counters
        c["n_batches"] += 1
        c["n_processed"] += result.n_processed
        c["n_model"] += result.n_model
        c["n_fallback"] += result.n_fallback
        c["n_labelled"] += len(labelled)
        result.seconds = time.perf_counter() - start
        self._read_batch(X, served, result)
        return result

    def _read_batch(self, X: np.ndarray, served: Any, result: BatchResult) -> None:
        """The readings of a processed batch besides the detectors': live histogram counts,
        predictions by predictor, events processed and the processing time."""
        columns = {"inputs": dict(zip(self.feature_names, X.T, strict=True)),
                   "predictions": {"label": served.labels, "confidence": served.confidence,
                                   "risk": served.risk}}
        readings = result.readings
        for stream, name, edges in self._histograms:
            values = columns[stream].get(name)
            if values is not None:
                counts, total = bin_counts(edges, values)
                readings.distributions.append(DistributionCounts(stream, name, counts, total))
        readings.n_processed = result.n_processed
        readings.n_model = result.n_model
        readings.n_fallback = result.n_fallback
        readings.seconds = result.seconds

    # -- late labels --------------------------------------------------------------------------
    def add_labels(self, labels: Mapping[str, int]) -> BatchResult:
        """Join labels arriving after (or before) their events; feed completed errors. The
        result holds the error detectors' detections and readings (no events processed)."""
        result = BatchResult()
        completed = self.join.add_labels(labels, self.clock())
        if not completed or "errors" not in self.streams:
            return result
        self.detectors.run_late_labels(completed, result)
        return result

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot of every detector, the calibration, counters and label buffers."""
        return {
            "version": STATE_VERSION,
            "feature_names": self.feature_names,
            "model_sha256": self.model.profile.model_sha256,
            **self.detectors.state_dict(),
            "counters": dict(self.counters),
            "labels": self.join.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (``ValueError`` if it belongs to another set-up)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"pipeline state version {state.get('version')!r} is not "
                             f"{STATE_VERSION}")
        if state.get("model_sha256") != self.model.profile.model_sha256:
            raise ValueError("pipeline state was produced with other model weights")
        self.detectors.load_state_dict(state)
        self.counters.update({k: int(state["counters"].get(k, 0)) for k in _COUNTERS})
        self.join.load_state_dict(state["labels"])
