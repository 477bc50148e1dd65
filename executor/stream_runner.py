"""A partition's detectors, stream by stream: run values through them, report, keep state.

:class:`StreamRunner` builds the detectors the config lists on each stream
(:func:`executor.pipeline_detectors.build_stream_detectors`) for the streams a pipeline can
feed, then :meth:`StreamRunner.run` feeds a stream's values of a batch to its detectors and
writes their detections, flags and readings into the batch's
:class:`executor.outcome.BatchResult`. Both pipelines (:class:`executor.pipeline.
DetectionPipeline` for the insurance events, :class:`executor.schema_pipeline.SchemaPipeline`
for events a schema describes) keep their detectors in one. A detector that raises is counted
(``counters["n_detector_failures"]``) and logged; the others go on.

With a false-alarm budget in time (the run config's ``alarms:``), every calibrated entry of the
streams the runner builds gets its share of the budget as ``target_arl0``
(:func:`executor.alarm_budget.budget_detectors`; :attr:`StreamRunner.alarm_plan` holds the plan,
:attr:`StreamRunner.config` the budgeted section). The targets travel in the state: restored
under other targets (a new budget or rate, an edited ``target_arl0``), the entries whose target
changed are recalibrated and start afresh (:attr:`StreamRunner.retargeted`); the rest continue.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from driftline.executor.alarm_budget import AlarmPlan, budget_detectors, series_targets
from driftline.executor.alarms_config import AlarmsConfig
from driftline.executor.detector_streams import STREAMS
from driftline.executor.detectors_config import DetectorsConfig, DetectorSeries, detector_series
from driftline.executor.outcome import BatchResult, Detection, bank_updates, detector_update
from driftline.executor.pipeline_detectors import StreamDetectors, build_stream_detectors

__all__ = ["StreamRunner"]

_log = logging.getLogger("driftline.pipeline")


class StreamRunner:
    """The detectors of one partition (see the module docstring).

    Parameters
    ----------
    config : DetectorsConfig
        The ``detectors`` section.
    columns : mapping of str to list of str
        Per-column streams the pipeline feeds -> their column names (a stream missing or
        without columns is not built).
    references : mapping of str to array
        Stream -> what its detectors are calibrated on (see
        :mod:`executor.pipeline_detectors`); a stream missing here is not built.
    counters : mutable mapping
        The pipeline's counters (``n_detector_failures`` is counted here).
    state : mapping, optional
        A :meth:`state_dict` (or a pipeline state holding one) to restore: its calibrations are
        reused, except for the entries whose target changed since it was saved.
    alarms : AlarmsConfig, optional
        The run's false-alarm budget: it replaces the calibrated entries' ``target_arl0``.
    shared : mapping of str to list of str, optional
        Streams another stage builds (the reduced streams: stream -> series names) that share
        the budget: their entries are budgeted in :attr:`config` too, but not built here.
    """

    def __init__(self, config: DetectorsConfig, columns: Mapping[str, Sequence[str]],
                 references: Mapping[str, Any], counters: MutableMapping[str, int],
                 state: Mapping[str, Any] | None = None,
                 alarms: AlarmsConfig | None = None,
                 shared: Mapping[str, Sequence[str]] | None = None) -> None:
        self.counters = counters
        names_of = {name: list(columns.get(name, ())) if kind.per_column else [""]
                    for name, kind in STREAMS.items()}
        active = [name for name in STREAMS
                  if name in references and names_of[name] and config.streams.entries(name)]
        self.alarm_plan: AlarmPlan | None = None
        shared = {name: list(names) for name, names in (shared or {}).items()
                  if names and config.streams.entries(name)}
        if alarms is not None and (active or shared):
            config, self.alarm_plan = budget_detectors(
                config, alarms, {**columns, **shared}, [*active, *shared])
        self.config = config
        self.retargeted = self._retargeted(state, active)
        saved = dict((state or {}).get("calibration", {}))
        for stream, detector in self.retargeted:
            saved[stream] = {k: v for k, v in saved.get(stream, {}).items() if k != detector}
        if self.retargeted:
            _log.info("target ARL0 changed since the saved state: recalibrating %s",
                      ", ".join(f"{s}/{d}" for s, d in sorted(self.retargeted)))
        self.streams: dict[str, StreamDetectors] = {
            name: build_stream_detectors(name, names_of[name], references[name], config,
                                         saved.get(name))
            for name in active}

    def _targets(self, streams: Sequence[str]) -> dict[str, dict[str, float]]:
        """Stream -> entry -> its ``target_arl0`` (what the calibrations were made for)."""
        return {name: {e.detector: e.target_arl0 for e in self.config.streams.entries(name)}
                for name in streams}

    def _retargeted(self, state: Mapping[str, Any] | None,
                    streams: Sequence[str]) -> set[tuple[str, str]]:
        """``(stream, detector)`` of the entries whose target differs from ``state``'s."""
        saved = (state or {}).get("targets")
        if not isinstance(saved, Mapping):  # no state, or one from before targets were kept
            return set()
        return {(stream, detector) for stream, targets in self._targets(streams).items()
                for detector, target in targets.items()
                if not math.isclose(float(saved.get(stream, {}).get(detector, math.nan)),
                                    target, rel_tol=1e-9)}

    # -- what runs ----------------------------------------------------------------------------
    def series(self) -> list[DetectorSeries]:
        """Every detector series of this runner (:func:`executor.detectors_config.
        detector_series`)."""
        columns = {name: group.names for name, group in self.streams.items()}
        return [s for s in detector_series(self.config, columns) if s.stream in self.streams]

    def series_targets(self) -> list[tuple[str, str, str, float]]:
        """``(detector, exported stream, feature, target ARL0)`` of every series: each series'
        share of its entry's target (:func:`executor.alarm_budget.series_targets`)."""
        columns = {name: group.names for name, group in self.streams.items()}
        return series_targets(self.config, columns, list(self.streams))

    def detector_series(self) -> list[tuple[str, str, list[str]]]:
        """``(detector, exported stream, features)`` of every series (``[""]`` for a detector
        over a whole stream), for the exporter to create at start-up."""
        return [(name, group.label, list(group.names))
                for group in self.streams.values() for name in group.detectors]

    @property
    def calibration_notes(self) -> list[str]:
        """Why a calibration is not at its target (out of reach), if any."""
        return [note for group in self.streams.values() for note in group.notes()]

    # -- running ------------------------------------------------------------------------------
    def run(self, stream: str, values: np.ndarray, positions: np.ndarray,
            event_ids: Sequence[str], result: BatchResult) -> None:
        """Feed ``values`` (rows at ``positions`` of the batch whose ids are ``event_ids``) to
        the detectors of ``stream``, if it has any."""
        group = self.streams.get(stream)
        if group is None or len(values) == 0:
            return
        label = group.label
        for name, detector in group.detectors.items():
            try:
                hits = detector.update_many(values)
            except Exception as exc:
                self._failed(name, label, exc, result)
                continue
            if not group.stream.per_column:
                for k in hits:
                    result.detections.append(Detection(name, label, "", event_ids[positions[k]]))
                result.flags[(name, label, "")] = bool(detector.drift_detected)
                result.readings.detectors.append(detector_update(
                    name, label, "", detector.statistics, drift=detector.drift_detected,
                    warning=detector.warning_detected, detections=len(hits)))
                continue
            for row, column in hits:
                result.detections.append(
                    Detection(name, label, group.names[column], event_ids[positions[row]]))
            for j, flag in enumerate(detector.drift_detected):
                result.flags[(name, label, group.names[j])] = bool(flag)
            result.readings.detectors.extend(bank_updates(name, label, detector, hits))

    def run_late_labels(self, completed: Sequence[tuple[str, int, int]],
                        result: BatchResult) -> None:
        """Count labels joined after their events (``(event_id, served class, label)``, from
        :meth:`executor.labels.LabelJoin.add_labels`) and feed their 0/1 errors to the
        ``errors`` stream."""
        self.counters["n_late_labels"] += len(completed)
        self.counters["n_labelled"] += len(completed)
        errors = np.array([float(p != y) for _, p, y in completed])
        self.counters["n_errors"] += int(errors.sum())
        ids = [event_id for event_id, _, _ in completed]
        self.run("errors", errors, np.arange(len(ids)), ids, result)

    def _failed(self, name: str, stream: str, exc: Exception, result: BatchResult) -> None:
        self.counters["n_detector_failures"] = self.counters.get("n_detector_failures", 0) + 1
        _log.error("detector failed", extra={"detector": name, "stream": stream,
                                             "error": repr(exc)})
        failed = result.readings.failed_by_reason
        failed["detector"] = failed.get("detector", 0) + 1

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"calibration": ..., "targets": ..., "detectors": ...}`` per stream, JSON-able."""
        return {"calibration": {name: g.calibration for name, g in self.streams.items()},
                "targets": self._targets(list(self.streams)),
                "detectors": {name: {n: d.state_dict() for n, d in g.detectors.items()}
                              for name, g in self.streams.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (``ValueError`` if it belongs to another set-up);
        detectors calibrated for another target than this runner's keep their fresh state."""
        saved = state["detectors"]
        if set(saved) != set(self.streams):
            raise ValueError(f"pipeline state has the streams {sorted(saved)}, this pipeline "
                             f"{sorted(self.streams)}")
        retargeted = self._retargeted(state, list(self.streams))
        for name, group in self.streams.items():
            if set(saved[name]) != set(group.detectors):
                raise ValueError(f"pipeline state has detectors {sorted(saved[name])} on "
                                 f"{name}, this pipeline {sorted(group.detectors)}")
            for detector_name, detector in group.detectors.items():
                if (name, detector_name) not in retargeted:
                    detector.load_state_dict(saved[name][detector_name])
