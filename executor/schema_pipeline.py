"""The detection pipeline of events a schema describes: any model adapter, every stream.

:class:`SchemaPipeline` is :class:`executor.pipeline.DetectionPipeline` for a user's stream:
the records of one partition are decoded together by :class:`SchemaRecordDecoder` (a
:class:`executor.schema_decoder.SchemaDecoder` built from the profile: typed columns, quality
flags, dead letters), the model adapter of the run config serves the batch
(:func:`model.adapters.serving.run_model`; a failing model dead-letters the batch with reason
``model_error``), and every stream of :mod:`executor.detector_streams` gets its values:

* ``features`` / ``input_vector`` -- the numeric fields of the profile; rows with a missing
  numeric value skip them (the ``data_quality`` stream counts the gap);
* ``categories`` -- the categorical fields' codes (:class:`executor.schema_streams.
  CategoryColumns`), whose per-category counts are read out for the exported frequencies;
* ``prediction`` -- the served model's confidence, class (and score), calibrated on the
  model's predictions of the profile's reference rows; for a model served elsewhere (or
  reference rows the profile does not keep) the predicted class, against the profile's class
  distribution;
* ``errors`` -- served class vs inline label (or one joined later by event id), against the
  profile's baseline error rate;
* ``data_quality`` -- each field's quality flags as 0/1 series against the profile's rates
  (:func:`executor.schema_streams.quality_columns`);
* ``reduced_components`` / ``reduced_vector`` / ``predicted_class`` -- for vector and image
  fields, the profile's reducers run on the batch and their detectors
  (:class:`executor.reduced_stage.ReducedStage`).

Readings, state, restore and the alarm budget (``alarms:``: every calibrated entry of these
streams gets its share, :attr:`SchemaPipeline.alarm_plan`) work as in
:class:`executor.pipeline.DetectionPipeline`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from driftline.dataloader.field_values import QUALITY_FLAGS
from driftline.executor.alarm_budget import AlarmPlan
from driftline.executor.config import RunConfig
from driftline.executor.detection import DecodedRecords, PartitionBatch
from driftline.executor.detectors_config import DetectorSeries
from driftline.executor.labels import LabelJoin
from driftline.executor.outcome import BatchResult, CategoryCounts, DistributionCounts, bin_counts
from driftline.executor.pipeline import cap_torch_threads
from driftline.executor.pipeline_detectors import StreamDetectors
from driftline.executor.reduced_detectors import REDUCED_STREAMS
from driftline.executor.reduced_stage import ReducedStage
from driftline.executor.schema_decoder import DecodedBatch, SchemaDecoder
from driftline.executor.schema_streams import CategoryColumns, quality_baseline, quality_columns
from driftline.executor.stream_runner import StreamRunner
from driftline.model.adapters.base import InputBatch, ModelAdapter
from driftline.model.adapters.serving import MODEL_ERROR, run_model

__all__ = ["STATE_VERSION", "SchemaPipeline", "SchemaRecordDecoder"]

STATE_VERSION = 1
_COUNTERS = ("n_batches", "n_processed", "n_labelled", "n_errors", "n_model_failures",
             "n_detector_failures", "n_late_labels")


class SchemaRecordDecoder:
    """A partition's records -> one :class:`DecodedBatch` (the
    :class:`executor.detection.RecordDecoder` of the schema path)."""

    def __init__(self, decoder: SchemaDecoder) -> None:
        self.decoder = decoder

    def decode_records(self, batch: PartitionBatch) -> DecodedRecords:
        records = list(batch.records)
        decoded = self.decoder.decode_batch(
            [r[0] for r in records], topic=batch.topic, partition=batch.partition,
            offsets=[r[2] for r in records], timestamps_ms=[r[3] for r in records],
            keys=[r[1] for r in records])
        offsets = [int(o) for o in decoded.offsets]
        originals = {int(offset): (value, key, timestamp)
                     for value, key, offset, timestamp in records}
        periods = None
        if batch.periods is not None:
            period_of = {r[2]: p for r, p in zip(records, batch.periods, strict=True)}
            periods = [period_of[o] for o in offsets]
        return DecodedRecords(decoded, offsets, periods, list(decoded.dead_letters), originals,
                              decoded.quality_counts())


class SchemaPipeline:
    """Model adapter plus detectors for one partition's schema events (module docstring).

    Parameters
    ----------
    adapter : ModelAdapter
        The run config's model (its ``profile`` is the reference).
    decoder : SchemaDecoder
        The decoder of the events (column names and their order).
    config : RunConfig
        Uses ``detectors``, ``alarms`` and ``labels`` (with ``alarms``, ``config`` becomes the
        budgeted config and ``alarm_plan`` the plan).
    state : dict, optional
        A :meth:`state_dict` to continue from (its calibration is reused, except for entries
        whose target changed since: those are recalibrated and start afresh, ``retargeted``).
    clock : callable
        Wall clock for label-buffer ageing.
    torch_threads : int or None
        Cap on torch's intra-op threads (see :mod:`executor.pipeline`; idle OpenMP workers
        also deadlock a forked detection worker); ``None`` leaves torch as it is.
    """

    def __init__(self, adapter: ModelAdapter, decoder: SchemaDecoder, config: RunConfig, *,
                 state: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.time, torch_threads: int | None = 1) -> None:
        if torch_threads is not None:
            cap_torch_threads(torch_threads)
        self.adapter = adapter
        self.config = config
        self.clock = clock
        profile = self.profile = adapter.profile
        self.feature_names = [n for n in decoder.numeric_names if n in profile.reference_samples]
        self._numeric = [decoder.numeric_names.index(n) for n in self.feature_names]
        cat_names = [n for n in decoder.categorical_names if n in profile.categorical]
        self._categorical = [decoder.categorical_names.index(n) for n in cat_names]
        self.categories = CategoryColumns(cat_names, profile.categorical)
        self.quality = quality_columns(decoder.schema, decoder.field_names)
        self.prediction_names, ref_predictions = self._prediction_reference()
        columns = {"features": self.feature_names, "categories": cat_names,
                   "prediction": self.prediction_names,
                   "data_quality": [f"{name}:{flag}" for _, name, flag in self.quality]}
        references: dict[str, Any] = {
            "prediction": ref_predictions,
            "data_quality": [quality_baseline(profile, name, flag)
                             for _, name, flag in self.quality]}
        if self.feature_names:
            lengths = {len(profile.reference_samples[n]) for n in self.feature_names}
            size = min(lengths)
            matrix = np.column_stack([profile.reference_samples[n][:size]
                                      for n in self.feature_names])
            references["features"] = matrix
            if len(lengths) == 1:  # aligned rows: the vector's joint reference
                references["input_vector"] = matrix
        if cat_names:
            references["categories"] = self.categories.reference()
        error_rate = (profile.baseline_error_rate if profile.baseline_error_rate is not None
                      else config.detectors.calibration.error_rate)
        self.notes: list[str] = []
        if error_rate is not None:
            references["errors"] = [float(error_rate)]
        elif config.detectors.streams.errors:
            self.notes.append("the errors stream has no detectors: the profile has no baseline "
                              "error rate (its reference had no predictions); set "
                              "detectors.calibration.error_rate")
        self.counters = dict.fromkeys(_COUNTERS, 0)
        # the reduced streams share the alarm budget: their series are known before their
        # detectors are built (executor/reduced_stage.py)
        reduced = ReducedStage(
            adapter, profile, config.model.artifacts_dir,
            {name: config.detectors.streams.entries(name) for name in REDUCED_STREAMS},
            self._vector_reference_predictions(),
            n_streams=config.detectors.calibration.n_streams,
            seed=config.detectors.calibration.seed, build=False) if profile.reducers else None
        self.detectors = StreamRunner(config.detectors, columns, references, self.counters,
                                      state=state, alarms=config.alarms,
                                      shared=reduced.columns() if reduced is not None else None)
        if self.alarm_plan is not None:  # the budgeted targets
            self.config = config.model_copy(update={"detectors": self.detectors.config})
        self.reduced = reduced
        if reduced is not None:
            reduced.configure(self.config.detectors, budgeted=self.alarm_plan is not None,
                              state=state)
        self.join = LabelJoin(config.labels.buffer_size, config.labels.max_age_s)
        self._histograms = [(name, np.asarray(h.edges, dtype=np.float64))
                            for name, h in profile.feature_histograms.items()
                            if name in self.feature_names]
        if state is not None:
            self.load_state_dict(dict(state))

    # -- set-up -------------------------------------------------------------------------------
    def _vector_reference_predictions(self) -> Any:
        """The model's predictions on the profile's vector reference sample (rows where every
        vector field has a value), or None without vector fields or a model in driftline."""
        if not self.profile.vectors or self.adapter.kind == "none":
            return None
        from driftline.model.profile_vectors import read_vector_samples

        samples = read_vector_samples(self.config.model.artifacts_dir, self.profile.vectors)
        present = np.all([~np.isnan(b).any(axis=1) for b in samples.values()], axis=0)
        if self.profile.feature_names or not present.any():
            return None
        return self.adapter.predict(InputBatch(
            numeric=np.empty((int(present.sum()), 0)), numeric_names=[],
            vectors={name: block[present] for name, block in samples.items()}))

    def _prediction_reference(self) -> tuple[list[str], np.ndarray | None]:
        """Prediction columns and their reference (see the module docstring); a model of
        vector or image fields only: its predictions on the profile's vector sample."""
        profile = self.profile
        if self.adapter.kind != "none":
            try:
                rows = InputBatch.from_profile(profile)
            except ValueError:
                rows = None
            served_vectors = self._vector_reference_predictions() if rows is None else None
            if served_vectors is not None:
                names = ["confidence", "label"] + (
                    ["score"] if served_vectors.risk is not None else [])
                return names, self._prediction_matrix(served_vectors, names)
            if rows is not None:
                served = self.adapter.predict(rows)
                names = ["confidence", "label"] + (["score"] if served.risk is not None else [])
                return names, self._prediction_matrix(served, names)
        if not profile.class_distribution:
            return [], None
        counts = np.round(np.asarray(profile.class_distribution) * profile.n_reference)
        labels = np.repeat(np.arange(len(counts), dtype=np.float64), counts.astype(np.int64))
        return ["label"], labels[:, None]

    @staticmethod
    def _prediction_matrix(served: Any, names: list[str]) -> np.ndarray:
        values = {"confidence": served.confidence, "label": served.labels.astype(np.float64),
                  "score": served.risk}
        return np.column_stack([values[name] for name in names])

    @property
    def streams(self) -> dict[str, StreamDetectors]:
        return self.detectors.streams

    @property
    def alarm_plan(self) -> AlarmPlan | None:
        """The run's alarm budget split over the entries (``None`` without ``alarms``)."""
        return self.detectors.alarm_plan

    @property
    def retargeted(self) -> set[tuple[str, str]]:
        """``(stream, detector)`` recalibrated because its target changed since the state."""
        return self.detectors.retargeted | (
            self.reduced.retargeted if self.reduced is not None else set())

    def series_targets(self) -> list[tuple[str, str, str, float]]:
        """``(detector, exported stream, feature, target ARL0)`` of every series: a bank's
        target is for its ``k`` series together, so each gets ``k`` times it."""
        out = self.detectors.series_targets()
        if self.reduced is not None:
            out += self.reduced.series_targets()
        return out

    def detector_series(self) -> list[tuple[str, str, list[str]]]:
        """``(detector, exported stream, features)`` of every series, for the exporter."""
        return self.detectors.detector_series() + (
            self.reduced.series() if self.reduced is not None else [])

    def series(self) -> list[DetectorSeries]:
        """Every detector series with its entry's ``target_arl0``
        (:func:`executor.detectors_config.detector_series`), the reduced streams' included."""
        out = self.detectors.series()
        if self.reduced is not None:
            targets = {(stream, entry.detector): entry.target_arl0 for stream in REDUCED_STREAMS
                       for entry in self.config.detectors.streams.entries(stream)}
            out += [DetectorSeries(stream, detector, feature, targets[(stream, detector)])
                    for detector, stream, features in self.reduced.series()
                    for feature in features]
        return out

    @property
    def calibration_notes(self) -> list[str]:
        """Why a calibration is not at its target, or a stream could not be built."""
        return self.notes + self.detectors.calibration_notes

    # -- processing ---------------------------------------------------------------------------
    def process(self, batch: DecodedBatch) -> BatchResult:
        """Run one decoded batch of one partition through the model and the detectors."""
        start = time.perf_counter()
        result = BatchResult()
        n = len(batch)
        if n == 0:
            return result
        now = self.clock()
        outcome = run_model(self.adapter, batch)
        if outcome.predictions is None:
            self.counters["n_model_failures"] += n
            result.dead_letters = outcome.dead_letters
            result.readings.failed_by_reason[MODEL_ERROR] = n
            result.seconds = time.perf_counter() - start
            return result
        served = outcome.predictions
        ids = list(batch.event_ids)
        labels = self._labels_of(batch, now)
        result.event_ids, result.predicted, result.labels = ids, served.labels, labels
        result.used_fallback, result.confidence = served.used_fallback, served.confidence
        result.n_processed = n
        result.n_fallback = int(served.used_fallback.sum())
        result.n_model = n - result.n_fallback
        run = self.detectors.run
        X = batch.numeric[:, self._numeric]
        complete = np.flatnonzero(np.isfinite(X).all(axis=1))
        run("features", X[complete], complete, ids, result)
        run("input_vector", X[complete], complete, ids, result)
        codes = self.categories.transform(batch.categorical[:, self._categorical])
        run("categories", codes, np.arange(n), ids, result)
        if self.prediction_names:
            P = self._prediction_matrix(served, self.prediction_names)
            rows = np.flatnonzero(np.isfinite(P).all(axis=1) & (served.labels >= 0))
            run("prediction", P[rows], rows, ids, result)
        if self.reduced is not None:
            try:
                self.reduced.run(batch.vectors, served, ids, result)
            except Exception as exc:  # a failing reducer must not take the executor down
                self.detectors._failed("reduced", "reduced_components", exc, result)
        labelled = np.flatnonzero((labels >= 0) & (served.labels >= 0))
        errors = (served.labels[labelled] != labels[labelled]).astype(np.float64)
        self.counters["n_errors"] += int(errors.sum())
        run("errors", errors, labelled, ids, result)
        for i in np.flatnonzero((labels < 0) & (served.labels >= 0)):
            self.join.add_prediction(ids[i], int(served.labels[i]), now)
        if self.quality:
            flags = np.column_stack([(batch.flags[:, j] & QUALITY_FLAGS[flag]) != 0
                                     for j, _, flag in self.quality]).astype(np.float64)
            run("data_quality", flags, np.arange(n), ids, result)
        c = self.counters
        c["n_batches"] += 1
        c["n_processed"] += n
        c["n_labelled"] += len(labelled)
        result.seconds = time.perf_counter() - start
        self._read_batch(X, codes, served, result)
        return result

    def _labels_of(self, batch: DecodedBatch, now: float) -> np.ndarray:
        labels = np.asarray(batch.label, dtype=np.int64).copy()
        if self.join.n_waiting_labels > 0:
            for i in np.flatnonzero(labels < 0):
                found = self.join.take_label(batch.event_ids[i], now)
                if found is not None:
                    labels[i] = found
        return labels

    def _read_batch(self, X: np.ndarray, codes: np.ndarray, served: Any,
                    result: BatchResult) -> None:
        readings = result.readings
        for name, edges in self._histograms:
            counts, total = bin_counts(edges, X[:, self.feature_names.index(name)])
            readings.distributions.append(DistributionCounts("inputs", name, counts, total))
        labels = self.categories.labels
        readings.categories = [CategoryCounts(name, labels[name], counts) for name, counts in
                               zip(self.categories.names, self.categories.counts(codes),
                                   strict=True)]
        readings.n_processed = result.n_processed
        readings.n_model = result.n_model
        readings.n_fallback = result.n_fallback
        readings.seconds = result.seconds

    # -- late labels --------------------------------------------------------------------------
    def add_labels(self, labels: Mapping[str, int]) -> BatchResult:
        """Join labels arriving after (or before) their events; feed completed errors."""
        result = BatchResult()
        completed = self.join.add_labels(labels, self.clock())
        if not completed:
            return result
        self.detectors.run_late_labels(completed, result)
        return result

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot of every detector, the calibration, counters and label buffers."""
        return {"version": STATE_VERSION, "model_sha256": self.adapter.model_sha256,
                **self._with_reduced(self.detectors.state_dict()),
                "counters": dict(self.counters), "labels": self.join.state_dict()}

    def _with_reduced(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.reduced is not None:
            state["calibration"]["reduced"] = self.reduced.calibration
            state["reduced"] = self.reduced.state_dict()
            state["reduced_targets"] = self.reduced.targets
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (``ValueError`` if it belongs to another set-up)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"pipeline state version {state.get('version')!r} is not "
                             f"{STATE_VERSION}")
        if state.get("model_sha256") != self.adapter.model_sha256:
            raise ValueError("pipeline state was produced with another model")
        if (state.get("reduced") is None) != (self.reduced is None):
            raise ValueError("pipeline state and config disagree on the reduced streams")
        if self.reduced is not None and not self.reduced.retargeted:
            self.reduced.load_state_dict(state["reduced"])
        self.detectors.load_state_dict(state)
        self.counters.update({k: int(state["counters"].get(k, 0)) for k in _COUNTERS})
        self.join.load_state_dict(state["labels"])
