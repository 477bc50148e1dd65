"""Detectors on reduced vector fields: the streams ``reduced_components``, ``reduced_vector``
and ``predicted_class`` of a model that reads vector or image fields.

Every reducer of the profile (:mod:`model.reducers`: PCA, SRP, UAE, BBSD, none) turns a vector
or image field -- or, for BBSD, the model's outputs -- into ``k`` components named
``<reducer>_<i>``. The run config lists, per stream, the detectors to run (``detector``: a
registry name, ``target_arl0``, ``params``; any further fields of an entry are options of its
calibration method, e.g. ``calibration: bound``):

* ``reduced_components`` -- one bank per entry over each reducer's components (the Incremental
  KS bank, Bonferroni-corrected across a reducer's ``k`` components at one family level by the
  calibration package); ``feature`` label: the component, ``pca_3``;
* ``reduced_vector`` -- one detector per entry over each reducer's whole reduced vector (NM-DDM,
  the RFF-MMD test, which calibrates itself to ``target_arl0``); ``feature`` label: the
  reducer, ``pca``;
* ``predicted_class`` -- one bank per entry over the served class (the chi-square label-shift
  test against the classes the model predicts on the reference sample); ``feature`` label
  ``class``.

So a reducer's labels are bounded by its components (at most
:data:`model.reducers.spec.MAX_COMPONENTS`) plus one. The reference of each stream is the
reduced reference sample (:func:`model.reducers.store.reduced_reference`). A detector built on
a stream it cannot watch fails at start-up with the stream and the entry named.
:meth:`ReducedDetectors.update` feeds a batch of reduced rows and returns the detections.

Example
-------
>>> import numpy as np
>>> from types import SimpleNamespace as Entry
>>> rng = np.random.default_rng(0)
>>> reference = rng.normal(size=(600, 3)).astype(np.float32)
>>> iks = Entry(detector="incremental_ks", target_arl0=5000, params={"window_size": 100})
>>> streams = {"reduced_components": [iks]}
>>> detectors = build_reduced_detectors({"pca": reference}, None, streams, n_streams=10)
>>> rows = np.r_[rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + [0, 1.5, 0]]
>>> hits = detectors.update({"pca": rows}, None)
>>> hits[0][:3], hits[0][3] >= 300
(('incremental_ks', 'reduced_components', 'pca_1'), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors import detector_class, make_detector
from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import DriftDetector
from driftline.detectors.calibration import ColumnCalibration, ColumnRequest, calibrate_columns
from driftline.detectors.inputs import VECTOR
from driftline.executor.outcome import DetectorUpdate, bank_updates, detector_update
from driftline.model.reducers.base import component_names

__all__ = ["CLASS_FEATURE", "REDUCED_STREAMS", "ReducedDetectors", "build_reduced_detectors",
           "entry_options"]

#: the streams of reduced vectors, in the order they run
REDUCED_STREAMS = ("reduced_components", "reduced_vector", "predicted_class")
#: the ``feature`` label of the predicted-class stream
CLASS_FEATURE = "class"
#: entry fields that are not options of the calibration method
_ENTRY_FIELDS = ("detector", "target_arl0", "params", "enabled")

Hit = tuple[str, str, str, int]


def entry_options(entry: Any) -> dict[str, Any]:
    """An entry's fields besides ``detector``, ``target_arl0`` and ``params``: the options of
    its calibration method."""
    values = entry.model_dump() if hasattr(entry, "model_dump") else dict(vars(entry))
    return {k: v for k, v in values.items() if k not in _ENTRY_FIELDS and v is not None}


def _calibrated_bank(entry: Any, names: Sequence[str], reference: np.ndarray, n_streams: int,
                     seed: int, saved: Any) -> tuple[DetectorBank, dict[str, Any]]:
    cls = detector_class(entry.detector)
    params = dict(entry.params or {})
    result = ColumnCalibration.from_json(saved) if saved is not None else calibrate_columns(
        ColumnRequest(cls, reference, float(entry.target_arl0), params, n_streams=n_streams,
                      seed=seed, options=entry_options(entry)))
    return result.bank(cls, list(names), reference, params), result.to_json()


def _vector_detector(entry: Any, reference: np.ndarray, saved: Any, where: str,
                     ) -> DriftDetector:
    cls = detector_class(entry.detector)
    if VECTOR not in cls.input_kinds:
        raise ValueError(f"{where}: {entry.detector} does not watch a whole vector (detectors "
                         "of vectors: nm_ddm)")
    params = dict(entry.params or {})
    if "target_arl0" in cls.param_names():
        params.setdefault("target_arl0", float(entry.target_arl0))
    if cls.needs_reference:
        params["reference"] = reference
    detector = make_detector(entry.detector, **params)
    if saved is not None:
        detector.load_state_dict(saved)
    return detector


@dataclass
class ReducedDetectors:
    """The detectors of every reducer and of the predicted class (module docstring)."""

    components: dict[str, dict[str, DetectorBank]] = field(default_factory=dict)
    vectors: dict[str, dict[str, DriftDetector]] = field(default_factory=dict)
    classes: dict[str, DetectorBank] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def series(self) -> list[tuple[str, str, list[str]]]:
        """``(detector, stream, features)`` of every series exported."""
        out = []
        for banks in self.components.values():
            out += [(d, "reduced_components", list(bank.feature_names))
                    for d, bank in banks.items()]
        for name, detectors in self.vectors.items():
            out += [(d, "reduced_vector", [name]) for d in detectors]
        out += [(d, "predicted_class", [CLASS_FEATURE]) for d in self.classes]
        return out

    def update(self, reduced: Mapping[str, np.ndarray], classes: np.ndarray | None,
               updates: list[DetectorUpdate] | None = None) -> list[Hit]:
        """Feed a batch: per reducer its reduced rows ``(n, k)`` and the served classes ``(n,)``
        (stream order); return the detections ``(detector, stream, feature, row)`` by row.
        ``updates`` (optional) receives every series' reading after the batch."""
        hits: list[Hit] = []
        readings: list[DetectorUpdate] = [] if updates is None else updates

        def run_bank(detector: str, stream: str, bank: DetectorBank, rows: np.ndarray) -> None:
            pairs = bank.update_many(rows)
            hits.extend((detector, stream, bank.feature_names[j], int(row)) for row, j in pairs)
            readings.extend(bank_updates(detector, stream, bank, pairs))

        for name, banks in self.components.items():
            rows = np.asarray(reduced[name], dtype=np.float64)
            for detector, bank in banks.items():
                run_bank(detector, "reduced_components", bank, rows)
        for name, detectors in self.vectors.items():
            rows = np.asarray(reduced[name], dtype=np.float64)
            for detector, single in detectors.items():
                fired = single.update_many(rows)
                hits.extend((detector, "reduced_vector", name, int(row)) for row in fired)
                readings.append(detector_update(
                    detector, "reduced_vector", name, single.statistics,
                    drift=single.drift_detected, warning=single.warning_detected,
                    detections=len(fired)))
        if classes is not None and self.classes:
            column = np.asarray(classes, dtype=np.float64)[:, None]
            for detector, bank in self.classes.items():
                run_bank(detector, "predicted_class", bank, column)
        return sorted(hits, key=lambda hit: hit[3])

    def state_dict(self) -> dict[str, Any]:
        """Every detector's JSON state (the calibration travels separately)."""
        return {"reduced_components": {n: {d: b.state_dict() for d, b in banks.items()}
                                       for n, banks in self.components.items()},
                "reduced_vector": {n: {d: s.state_dict() for d, s in dets.items()}
                                   for n, dets in self.vectors.items()},
                "predicted_class": {d: b.state_dict() for d, b in self.classes.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (``ValueError`` when its detectors differ)."""
        mine = self.state_dict()
        for stream in REDUCED_STREAMS:
            saved = state.get(stream, {})
            if _layout(stream, saved) != _layout(stream, mine[stream]):
                raise ValueError(f"pipeline state has {stream} detectors "
                                 f"{_layout(stream, saved)}, this pipeline "
                                 f"{_layout(stream, mine[stream])}")
        for name, banks in self.components.items():
            for detector, bank in banks.items():
                bank.load_state_dict(state["reduced_components"][name][detector])
        for name, detectors in self.vectors.items():
            for detector, single in detectors.items():
                single.load_state_dict(state["reduced_vector"][name][detector])
        for detector, bank in self.classes.items():
            bank.load_state_dict(state["predicted_class"][detector])


def _layout(stream: str, tree: Mapping[str, Any]) -> Any:
    """Which detectors a stream's state holds (per reducer, except for the predicted class)."""
    if stream == "predicted_class":
        return sorted(tree)
    return {name: sorted(detectors) for name, detectors in sorted(tree.items())}


def build_reduced_detectors(references: Mapping[str, np.ndarray], reference_classes:
                            np.ndarray | None, streams: Mapping[str, Sequence[Any]], *,
                            n_streams: int = 40, seed: int = 0,
                            calibration: Mapping[str, Any] | None = None) -> ReducedDetectors:
    """The detectors of ``streams`` (entries per stream of :data:`REDUCED_STREAMS`) over each
    reducer's reduced reference ``(n_ref, k)`` (``references``, by reducer name) and the
    classes the model predicts on the reference (``reference_classes``; ``None`` leaves the
    predicted-class stream out). ``calibration`` (a previous result's, from a checkpoint)
    skips the calibrations it holds."""
    saved = dict(calibration or {})
    out = ReducedDetectors()
    for name, reference in references.items():
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[0] < 20:
            raise ValueError(f"reducer {name!r}: the reduced reference must be (n_ref >= 20, "
                             f"k), got {reference.shape}")
        names = component_names(name, reference.shape[1])
        out.components[name] = {}
        out.vectors[name] = {}
        for entry in streams.get("reduced_components", ()):
            key = f"reduced_components/{name}/{entry.detector}"
            out.components[name][entry.detector], out.calibration[key] = _calibrated_bank(
                entry, names, reference, n_streams, seed, saved.get(key))
        for i, entry in enumerate(streams.get("reduced_vector", ())):
            key = f"reduced_vector/{name}/{entry.detector}"
            detector = _vector_detector(entry, reference, saved.get(key),
                                        f"detectors.streams.reduced_vector[{i}]")
            out.vectors[name][entry.detector] = detector
            out.calibration[key] = detector.state_dict()
    if reference_classes is not None:
        column = np.asarray(reference_classes, dtype=np.float64)[:, None]
        for entry in streams.get("predicted_class", ()):
            key = f"predicted_class/{entry.detector}"
            out.classes[entry.detector], out.calibration[key] = _calibrated_bank(
                entry, [CLASS_FEATURE], column, n_streams, seed, saved.get(key))
    return out
