"""Detectors on a reducer's components: what the pipeline attaches to each reducer of the profile.

A reducer (:mod:`model.reducers`) turns a vector or image field into ``k`` components named
``<reducer>_<i>``. On them run, each calibrated by the calibration package to its ``target_arl0``
(mean in-control events between false alarms):

* ``iks`` -- the Incremental KS bank, one detector per component, Bonferroni-corrected across the
  ``k`` components at one family level (:func:`detectors.calibration.calibrate_columns`, method
  ``ks_family``); ``feature`` label: the component, ``pca_3``;
* ``nm_ddm`` -- NM-DDM (RFF-MMD) on the whole reduced vector (it calibrates itself);
  ``feature`` label: the reducer, ``pca``;
* ``label_shift`` -- for a BBSD reducer on the softmax: the chi-square test of the predicted
  classes (argmax of the components) against the reference's predicted-class distribution
  (method ``chi_square``); ``feature`` label ``<reducer>_class``.

So the labels of one reducer are bounded by its components (at most
:data:`model.reducers.spec.MAX_COMPONENTS`) plus two. :func:`build_reduced_detectors` builds them
from the reduced reference (:func:`model.reducers.store.reduced_reference`); its ``calibration``
(JSON) goes into a checkpoint and skips the calibrations when given back.
:meth:`ReducedDetectors.update` feeds a batch of reduced rows and returns the detections.

Example
-------
>>> import numpy as np
>>> from driftline.configs import build_config
>>> rng = np.random.default_rng(0)
>>> reference = rng.normal(size=(600, 3))
>>> config = build_config({"iks": {"window_size": 100, "target_arl0": 5000},
...                        "nm_ddm": {"enabled": False}}, ReducedDetectorsConfig)
>>> detectors = build_reduced_detectors("pca", ["pca_0", "pca_1", "pca_2"], reference, config)
>>> rows = np.r_[rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + [0, 1.5, 0]]
>>> hits = detectors.update(rows)
>>> hits[0][:2], hits[0][2] >= 300
(('incremental_ks', 'pca_1'), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.detectors import detector_class, make_detector
from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import DriftDetector
from driftline.detectors.calibration import ColumnCalibration, ColumnRequest, calibrate_columns
from driftline.executor.config import CalibrationConfig, IKSConfig, NMDDMConfig

__all__ = ["LabelShiftConfig", "ReducedDetectors", "ReducedDetectorsConfig",
           "build_reduced_detectors"]


class LabelShiftConfig(ConfigModel):
    """Chi-square test of the predicted classes of a BBSD (softmax) reducer against the
    reference's, over a sliding window; its per-column level is calibrated to ``target_arl0``
    (``calibration``: ``bootstrap`` simulates it, ``bound`` is instant and conservative)."""

    enabled: bool = True
    window_size: int = Field(200, ge=10)
    target_arl0: float = Field(20_000.0, gt=2.0)
    min_expected: float = Field(5.0, ge=0.0)
    calibration: Literal["bootstrap", "bound"] = "bootstrap"


class ReducedDetectorsConfig(ConfigModel):
    """The detectors on every reducer's components (see the module docstring)."""

    iks: IKSConfig = Field(default_factory=lambda: IKSConfig(window_size=200))
    nm_ddm: NMDDMConfig = Field(default_factory=lambda: NMDDMConfig(window_size=200))
    label_shift: LabelShiftConfig = Field(default_factory=LabelShiftConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)

    @model_validator(mode="after")
    def _check(self) -> ReducedDetectorsConfig:
        if not (self.iks.enabled or self.nm_ddm.enabled or self.label_shift.enabled):
            raise key_error("iks", "at least one of iks, nm_ddm, label_shift must be enabled")
        return self


@dataclass
class ReducedDetectors:
    """The detectors of one reducer (see the module docstring)."""

    reducer: str
    component_names: list[str]
    iks: DetectorBank | None = None
    nm_ddm: DriftDetector | None = None
    label_shift: DetectorBank | None = None
    calibration: dict[str, Any] = field(default_factory=dict)

    def feature_labels(self) -> dict[str, list[str]]:
        """``{detector: [feature label, ...]}`` of what is exported."""
        out: dict[str, list[str]] = {}
        if self.iks is not None:
            out["incremental_ks"] = list(self.component_names)
        if self.nm_ddm is not None:
            out["nm_ddm"] = [self.reducer]
        if self.label_shift is not None:
            out["chi_square"] = list(self.label_shift.feature_names)
        return out

    def update(self, reduced: np.ndarray) -> list[tuple[str, str, int]]:
        """Feed a batch of reduced rows ``(n, k)`` (in stream order); return the detections as
        ``(detector, feature label, row of the batch)``, by row."""
        reduced = np.asarray(reduced, dtype=np.float64)
        if reduced.ndim != 2 or reduced.shape[1] != len(self.component_names):
            raise ValueError(f"reducer {self.reducer!r} has {len(self.component_names)} "
                             f"components, got rows of shape {reduced.shape}")
        hits: list[tuple[str, str, int]] = []
        if self.iks is not None:
            hits += [("incremental_ks", self.component_names[j], int(row))
                     for row, j in self.iks.update_many(reduced)]
        if self.nm_ddm is not None:
            hits += [("nm_ddm", self.reducer, int(row))
                     for row in self.nm_ddm.update_many(reduced)]
        if self.label_shift is not None:
            classes = reduced.argmax(axis=1).astype(np.float64)[:, None]
            label = self.label_shift.feature_names[0]
            hits += [("chi_square", label, int(row))
                     for row, _ in self.label_shift.update_many(classes)]
        return sorted(hits, key=lambda hit: hit[2])


def _calibrated_bank(name: str, names: Sequence[str], reference: np.ndarray,
                     target_arl0: float, params: Mapping[str, Any], options: Mapping[str, Any],
                     config: ReducedDetectorsConfig, saved: Any) -> tuple[DetectorBank, Any]:
    cls = detector_class(name)
    result = ColumnCalibration.from_json(saved) if saved is not None else calibrate_columns(
        ColumnRequest(cls, reference, target_arl0, dict(params),
                      n_streams=config.calibration.n_streams, seed=config.calibration.seed,
                      options=dict(options)))
    return result.bank(cls, list(names), reference, params), result.to_json()


def build_reduced_detectors(reducer: str, component_names: Sequence[str], reference: np.ndarray,
                            config: ReducedDetectorsConfig, *, bbsd_softmax: bool = False,
                            calibration: Mapping[str, Any] | None = None) -> ReducedDetectors:
    """The detectors of ``reducer`` over its reduced reference ``(n_ref, k)``; the label-shift
    test only when ``bbsd_softmax`` (the components are class probabilities). ``calibration``
    (the returned object's, from a checkpoint) skips the calibrations it holds."""
    reference = np.asarray(reference, dtype=np.float64)
    names = list(component_names)
    if reference.ndim != 2 or reference.shape[1] != len(names) or reference.shape[0] < 20:
        raise ValueError(f"reducer {reducer!r}: the reduced reference must be (n_ref >= 20, "
                         f"{len(names)}), got {reference.shape}")
    saved = dict(calibration or {})
    out = ReducedDetectors(reducer, names)
    if config.iks.enabled:
        iks = config.iks
        out.iks, out.calibration["incremental_ks"] = _calibrated_bank(
            "incremental_ks", names, reference, iks.target_arl0,
            {"window_size": iks.window_size},
            {"calibration": iks.calibration, "stride": iks.stride}, config,
            saved.get("incremental_ks"))
    if config.nm_ddm.enabled:
        settings = config.nm_ddm.model_dump()
        settings.pop("enabled")
        out.nm_ddm = make_detector("nm_ddm", reference=reference, **settings)
        if "nm_ddm" in saved:
            out.nm_ddm.load_state_dict(saved["nm_ddm"])
        out.calibration["nm_ddm"] = out.nm_ddm.state_dict()
    if config.label_shift.enabled and bbsd_softmax:
        shift = config.label_shift
        classes = reference.argmax(axis=1)[:, None].astype(np.float64)
        out.label_shift, out.calibration["chi_square"] = _calibrated_bank(
            "chi_square", [f"{reducer}_class"], classes, shift.target_arl0,
            {"window_size": shift.window_size, "min_expected": shift.min_expected},
            {"calibration": shift.calibration}, config, saved.get("chi_square"))
    return out
