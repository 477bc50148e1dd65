"""The pipeline's stage for vector and image fields: reduce, then detect.

:class:`ReducedStage` loads the reducers the profile lists (:func:`model.reducers.store.
load_reducers`: PCA, SRP, UAE from their files beside the profile, hashes checked; BBSD from the
served model's adapter), computes each one's reduced reference on the profile's vector sample,
and builds the detectors the run config lists for the streams ``reduced_components``,
``reduced_vector`` and ``predicted_class`` (:mod:`executor.reduced_detectors`). For a batch,
:meth:`ReducedStage.run` reduces the batch's vector fields in torch (one forward pass per
reducer over the whole batch; BBSD reads the model's outputs of the same batch, no second
forward pass) and feeds the detectors; detections, flags and readings go into the batch's
:class:`executor.outcome.BatchResult`. Rows whose reduced values are not finite (a reducer fed
values it was not fitted for) are left out of that reducer's detectors and counted as
``failed_by_reason["reduced_non_finite"]``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftline.executor.outcome import BatchResult, Detection
from driftline.executor.reduced_detectors import (
    CLASS_FEATURE,
    REDUCED_STREAMS,
    ReducedDetectors,
    build_reduced_detectors,
)
from driftline.model.adapters.base import InputBatch
from driftline.model.reducers.base import component_names

__all__ = ["ReducedStage", "reduced_entries"]


def _rows_of(served: Any, rows: np.ndarray) -> Any:
    """The predictions of ``rows`` only (every per-row array of a ``Predictions``)."""
    import dataclasses

    return dataclasses.replace(served, **{
        f.name: getattr(served, f.name)[rows] for f in dataclasses.fields(served)
        if isinstance(getattr(served, f.name), np.ndarray)})


def reduced_entries(streams: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]]:
    """The entries of the reduced streams in a config's ``detectors.streams``."""
    return {stream: list((streams or {}).get(stream) or ()) for stream in REDUCED_STREAMS}


class ReducedStage:
    """Reducers and their detectors for one partition's pipeline (module docstring).

    Parameters
    ----------
    adapter : model.adapters.base.ModelAdapter
        The served model (BBSD reducers read its outputs).
    profile : model.profile.ReferenceProfile
        The reference profile with its ``vectors`` and ``reducers``.
    artifacts_dir : str or Path
        Where ``driftline profile`` wrote the profile, the vector sample and the reducers.
    streams : mapping of stream to entries
        ``detectors.streams`` of the run config (only the reduced streams are read).
    reference_predictions : model.adapters.base.Predictions, optional
        The model's predictions on the vector reference sample (the reference of the
        predicted-class stream); computed here when not given.
    n_streams, seed : int
        The calibration package's simulation budget and seed.
    calibration : dict, optional
        :attr:`calibration` of an earlier stage (a checkpoint): skips the calibrations.
    """

    def __init__(self, adapter: Any, profile: Any, artifacts_dir: str | Path,
                 streams: Mapping[str, Sequence[Any]] | None,
                 reference_predictions: Any = None, *, n_streams: int = 40, seed: int = 0,
                 calibration: Mapping[str, Any] | None = None, build: bool = True) -> None:
        from driftline.model.profile_vectors import read_vector_samples
        from driftline.model.reducers.bbsd import BBSDReducer
        from driftline.model.reducers.store import load_reducers, reduced_reference

        self.reducers = list(load_reducers(artifacts_dir, profile, adapter=adapter).values())
        self._bbsd = [isinstance(r, BBSDReducer) for r in self.reducers]
        self.n_streams, self.seed = n_streams, seed
        entries = reduced_entries(streams)
        samples = read_vector_samples(artifacts_dir, profile.vectors)
        self.references = {r.name: reduced_reference(r, samples, adapter=adapter)
                           for r in self.reducers} if (
            entries["reduced_components"] or entries["reduced_vector"]) else {}
        self.reference_classes = None
        if entries["predicted_class"]:
            if reference_predictions is None:
                present = np.all([~np.isnan(b).any(axis=1) for b in samples.values()], axis=0)
                reference_predictions = adapter.predict(InputBatch(
                    numeric=np.empty((int(present.sum()), 0)), numeric_names=[],
                    vectors={name: b[present] for name, b in samples.items()}))
            self.reference_classes = reference_predictions.labels
        self.detectors = ReducedDetectors()
        self.entries = reduced_entries(streams)
        self.targets: dict[str, dict[str, float]] = {}
        self.retargeted: set[tuple[str, str]] = set()
        if build:
            self.build(entries, calibration)
        self.seconds = 0.0

    def columns(self) -> dict[str, list[str]]:
        """The series names of each reduced stream before its detectors are built (stream ->
        components of every reducer / reducer names / the class), for an alarm budget."""
        return {"reduced_components": [c for name, ref in self.references.items()
                                       for c in component_names(name, np.shape(ref)[1])],
                "reduced_vector": list(self.references),
                "predicted_class": [CLASS_FEATURE] if self.reference_classes is not None
                else []}

    def configure(self, detectors: Any, *, budgeted: bool,
                  state: Mapping[str, Any] | None = None) -> None:
        """Build the detectors of the reduced entries of ``detectors`` (the run config's
        ``detectors`` section, budgeted when ``budgeted``), from ``state``'s calibration unless
        a target changed since it was saved (then the stage recalibrates and starts afresh:
        :attr:`retargeted`). Under a budget an entry's share is for all its series, while the
        components and vector streams build one detector per reducer: each of the ``R``
        reducers' detectors takes ``R`` times the share."""
        self.entries = {name: list(detectors.streams.entries(name)) for name in REDUCED_STREAMS}
        self.targets = {name: {e.detector: e.target_arl0 for e in entries}
                        for name, entries in self.entries.items()}
        saved = (state or {}).get("reduced_targets")
        if isinstance(saved, Mapping):
            self.retargeted = {
                (stream, detector) for stream, by_detector in self.targets.items()
                for detector, target in by_detector.items()
                if not math.isclose(float(saved.get(stream, {}).get(detector, math.nan)),
                                    target, rel_tol=1e-9)}
        n_reducers = len(self.references)
        if budgeted and n_reducers > 1:
            for name in ("reduced_components", "reduced_vector"):
                self.entries[name] = [
                    e.model_copy(update={"target_arl0": e.target_arl0 * n_reducers})
                    for e in self.entries[name]]
        calibration = None if self.retargeted else dict(
            (state or {}).get("calibration", {})).get("reduced")
        self.build(self.entries, calibration)

    def series_targets(self) -> list[tuple[str, str, str, float]]:
        """``(detector, stream, feature, target ARL0)`` of every series: a detector's target
        is for its ``k`` series together, so each gets ``k`` times it."""
        targets = {(stream, e.detector): e.target_arl0
                   for stream, entries in self.entries.items() for e in entries}
        return [(d, stream, feature, targets[(stream, d)] * len(features))
                for d, stream, features in self.series() for feature in features]

    def build(self, streams: Mapping[str, Sequence[Any]] | None,
              calibration: Mapping[str, Any] | None = None) -> None:
        """Build the detectors of the entries ``streams`` (``calibration``: an earlier
        stage's, which skips the calibrations it holds)."""
        self.detectors = build_reduced_detectors(
            self.references, self.reference_classes, reduced_entries(streams),
            n_streams=self.n_streams, seed=self.seed, calibration=calibration)

    @property
    def calibration(self) -> dict[str, Any]:
        """The calibrations (JSON), for a checkpoint."""
        return self.detectors.calibration

    def series(self) -> list[tuple[str, str, list[str]]]:
        """``(detector, stream, features)`` of every series exported."""
        return self.detectors.series()

    def reduce(self, vectors: Mapping[str, np.ndarray], served: Any) -> dict[str, np.ndarray]:
        """Each reducer's ``(n, k)`` components of a batch."""
        return {r.name: (r.outputs(served) if bbsd else r.transform(vectors[r.field]))
                for r, bbsd in zip(self.reducers, self._bbsd, strict=True)}

    def run(self, vectors: Mapping[str, np.ndarray], served: Any, event_ids: Sequence[str],
            result: BatchResult) -> None:
        """Reduce the batch and feed the detectors; record what they report in ``result``.
        Rows without a value of a vector field (an optional field left out: a NaN row, which
        the data-quality stream counts) are left out; rows whose reduced values are not finite
        are left out and counted as ``failed_by_reason["reduced_non_finite"]``."""
        started = time.perf_counter()
        keep = np.ones(len(event_ids), dtype=bool)
        for block in vectors.values():
            keep &= ~np.isnan(block).any(axis=1)
        if not keep.all():
            rows = np.flatnonzero(keep)
            vectors = {name: block[rows] for name, block in vectors.items()}
            served = _rows_of(served, rows)
            event_ids = [event_ids[i] for i in rows]
        reduced = self.reduce(vectors, served)
        finite = np.ones(len(event_ids), dtype=bool)
        for block in reduced.values():
            finite &= np.isfinite(block).all(axis=1)
        ids = list(event_ids)
        classes = served.labels
        if not finite.all():
            rows = np.flatnonzero(finite)
            reduced = {name: block[rows] for name, block in reduced.items()}
            ids = [ids[i] for i in rows]
            classes = classes[rows]
            failed = result.readings.failed_by_reason
            failed["reduced_non_finite"] = (failed.get("reduced_non_finite", 0)
                                            + int((~finite).sum()))
        if ids:
            updates: list[Any] = []
            hits = self.detectors.update(reduced, classes, updates)
            result.readings.detectors.extend(updates)
            result.detections.extend(Detection(detector, stream, feature, ids[row])
                                     for detector, stream, feature, row in hits)
            for update in updates:
                result.flags[(update.detector, update.stream, update.feature)] = update.drift
        self.seconds += time.perf_counter() - started

    def state_dict(self) -> dict[str, Any]:
        """The detectors' states (JSON)."""
        return self.detectors.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.detectors.load_state_dict(state)
