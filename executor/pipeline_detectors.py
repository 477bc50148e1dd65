"""The detectors of a :class:`executor.pipeline.DetectionPipeline`, built from the config.

Per stream of columns (``inputs``: the model's features; ``predictions``: confidence, class and
risk) a :class:`ColumnDetectors` holds an Incremental-KS bank (Bonferroni-corrected across the
columns, :mod:`detectors.multiple_testing`, at the family level that gives ``target_arl0``,
:mod:`executor.calibrate_ks`) and a Page-Hinkley bank pinned to the reference mean and standard
deviation with thresholds calibrated to the family ``target_arl0`` (:mod:`executor.calibrate`).
Calibration results travel in the pipeline's ``state_dict``. NM-DDM watches the input vector;
error detectors (DDM family, ADWIN) watch the 0/1 errors of labelled events, their alarm parameters
calibrated to ``errors.target_arl0`` at the reference error rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors import make_detector
from driftline.detectors.base import DriftDetector
from driftline.detectors.incremental_ks_bank import IncrementalKSBank
from driftline.detectors.nm_ddm import NMDDM
from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from driftline.executor.calibrate import (
    ERROR_PARAMETERS,
    calibrate_error_detector,
    calibrate_page_hinkley_columns,
)
from driftline.executor.calibrate_ks import ks_family_alpha
from driftline.executor.config import DetectorsConfig

__all__ = ["ColumnDetectors", "build_column_detectors", "build_error_detectors", "build_nm_ddm",
           "calibrate_errors"]

IKS_NAME = "incremental_ks"
PH_NAME = "page_hinkley"


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
    Page-Hinkley calibration."""
    ref = np.asarray(reference, dtype=np.float64)
    out = ColumnDetectors(stream, list(names))
    if config.iks.enabled:
        iks = config.iks
        alpha = (calibration or {}).get(IKS_NAME)
        if alpha is None:
            alpha = ks_family_alpha(ref, iks.window_size, iks.target_arl0, iks.calibration,
                                    n_streams=config.calibration.n_streams, stride=iks.stride,
                                    seed=config.calibration.seed)
        out.calibration[IKS_NAME] = float(alpha)
        out.banks[IKS_NAME] = IncrementalKSBank(
            out.names, ref, window_size=iks.window_size, alpha=float(alpha),
            correction="bonferroni", reset_on_drift=True)
    if config.page_hinkley.enabled:
        ph = config.page_hinkley
        thresholds = (calibration or {}).get(PH_NAME)
        if thresholds is None:
            thresholds = calibrate_page_hinkley_columns(
                ref, ph.target_arl0, delta=ph.delta, min_instances=ph.min_instances,
                n_streams=config.calibration.n_streams, seed=config.calibration.seed)
        out.calibration[PH_NAME] = [float(t) for t in thresholds]
        stds = ref.std(axis=0, ddof=1)
        out.banks[PH_NAME] = PageHinkleyBank(
            out.names, delta=ph.delta, threshold=np.asarray(thresholds),
            reference_means=ref.mean(axis=0), reference_stds=np.where(stds > 0, stds, 1.0),
            min_instances=ph.min_instances, reset_on_drift=True)
    return out


def build_nm_ddm(reference: np.ndarray, config: DetectorsConfig) -> NMDDM | None:
    """NM-DDM over the input vectors (it calibrates itself lazily, then keeps it in its state)."""
    nm = config.nm_ddm
    if not nm.enabled:
        return None
    return NMDDM(np.asarray(reference, dtype=np.float64), window_size=nm.window_size,
                 n_features_rff=nm.n_features_rff, target_arl0=nm.target_arl0,
                 calibration_steps=nm.calibration_steps, random_state=nm.random_state)


def calibrate_errors(config: DetectorsConfig, error_rate: float) -> dict[str, Any]:
    """Per error detector, :func:`executor.calibrate.calibrate_error_detector` at
    ``errors.target_arl0`` and the reference ``error_rate``; a detector whose ``params`` set
    the alarm parameter keeps them (status ``"configured"``)."""
    errors = config.errors
    if not errors.enabled:
        return {}
    out: dict[str, Any] = {}
    for name in errors.detectors:
        params = dict(errors.params.get(name, {}))
        if ERROR_PARAMETERS[name].name in params:
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
