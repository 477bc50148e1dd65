"""The detectors of a :class:`executor.pipeline.DetectionPipeline`, built from the config.

Per stream of columns (``inputs``: the model's features; ``predictions``: confidence, class and
risk) a :class:`ColumnDetectors` holds one bank per column detector of the config
(:data:`COLUMN_DETECTORS`), each calibrated to its family ``target_arl0`` by the method its
detector class declares (:func:`detectors.calibration.calibrate_columns`: per-column
Page-Hinkley thresholds pinned to the reference, a Bonferroni-corrected Incremental-KS bank at
one family level). NM-DDM watches the input vector and calibrates itself; error detectors (DDM
family, ADWIN) watch the 0/1 errors of labelled events, their declared alarm parameters
calibrated to ``errors.target_arl0`` at the reference error rate
(:func:`detectors.calibration.calibrate_error_detector`). Calibration results travel in the
pipeline's ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors import detector_class, make_detector
from driftline.detectors.base import DriftDetector
from driftline.detectors.calibration import (
    ColumnCalibration,
    ColumnRequest,
    calibrate_columns,
    calibrate_error_detector,
)
from driftline.executor.config import DetectorsConfig

__all__ = ["COLUMN_DETECTORS", "ColumnDetectors", "build_column_detectors",
           "build_error_detectors", "build_nm_ddm", "calibrate_errors"]

#: config section -> registry name of the detector it runs on every column
COLUMN_DETECTORS = {"iks": "incremental_ks", "page_hinkley": "page_hinkley"}
#: section fields that configure the run, not the detector or its calibration method
_RUN_FIELDS = ("enabled", "target_arl0")


@dataclass
class ColumnDetectors:
    """Banks watching the columns of one stream (``inputs`` or ``predictions``)."""

    stream: str
    names: list[str]
    banks: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)


def build_column_detectors(
    stream: str,
    names: Sequence[str],
    reference: np.ndarray,
    config: DetectorsConfig,
    calibration: dict[str, Any] | None = None,
) -> ColumnDetectors:
    """Banks over ``reference`` columns; ``calibration`` (from a ``state_dict``) skips the
    calibrations it holds."""
    ref = np.asarray(reference, dtype=np.float64)
    out = ColumnDetectors(stream, list(names))
    if not out.names:  # a model of vector fields only: its reduced streams watch them
        return out
    for section, name in COLUMN_DETECTORS.items():
        settings = getattr(config, section).model_dump()
        if not settings["enabled"]:
            continue
        cls = detector_class(name)
        # fields naming constructor parameters configure the detector, the rest its method
        params = {k: v for k, v in settings.items() if k in cls.param_names()}
        options = {k: v for k, v in settings.items() if k not in params and k not in _RUN_FIELDS}
        saved = (calibration or {}).get(name)
        result = ColumnCalibration.from_json(saved) if saved is not None else calibrate_columns(
            ColumnRequest(cls, ref, settings["target_arl0"], params,
                          n_streams=config.calibration.n_streams, seed=config.calibration.seed,
                          options=options))
        out.calibration[name] = result.to_json()
        out.banks[name] = result.bank(cls, out.names, ref, params)
    return out


def build_nm_ddm(reference: np.ndarray, config: DetectorsConfig) -> DriftDetector | None:
    """NM-DDM over the input vectors (it calibrates itself lazily, then keeps it in its state)."""
    nm = config.nm_ddm.model_dump()
    if not nm.pop("enabled"):
        return None
    return make_detector("nm_ddm", reference=np.asarray(reference, dtype=np.float64), **nm)


def calibrate_errors(config: DetectorsConfig, error_rate: float) -> dict[str, Any]:
    """Per error detector, :func:`detectors.calibration.calibrate_error_detector` at
    ``errors.target_arl0`` and the reference ``error_rate``; a detector whose ``params`` set
    its alarm parameter keeps them (status ``"configured"``)."""
    errors = config.errors
    if not errors.enabled:
        return {}
    out: dict[str, Any] = {}
    for name in errors.detectors:
        params = dict(errors.params.get(name, {}))
        if detector_class(name).alarm.name in params:
            out[name] = {"params": params, "status": "configured", "measured_arl0": None,
                         "message": ""}
        else:
            out[name] = calibrate_error_detector(name, error_rate, errors.target_arl0,
                                                 params=params, seed=config.calibration.seed)
    return out


def build_error_detectors(config: DetectorsConfig,
                          calibration: dict[str, Any]) -> dict[str, DriftDetector]:
    """One univariate error detector per configured name (0/1 errors in), with the parameters
    of ``calibration`` (:func:`calibrate_errors` output, possibly from a ``state_dict``)."""
    errors = config.errors
    if not errors.enabled:
        return {}
    missing = sorted(set(errors.detectors) - set(calibration))
    if missing:
        raise ValueError(f"no calibration for error detectors {missing}")
    return {name: make_detector(name, **calibration[name]["params"])
            for name in errors.detectors}
