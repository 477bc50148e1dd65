"""The detectors of a :class:`executor.pipeline.DetectionPipeline`, built from the config.

One builder, :func:`build_stream_detectors`, turns a stream's entries
(``detectors.streams.<stream>``, :mod:`executor.detectors_config`) into detectors through the
registry (:data:`detectors.REGISTRY`) and the calibration package: on a per-column stream each
entry becomes a bank over the columns, on a whole stream one detector. Each entry's alarm
parameter is set for its ``target_arl0`` by the method its detector declares (see
:mod:`executor.detector_streams`):

* a column method of :data:`detectors.calibration.METHODS` --
  :func:`detectors.calibration.calibrate_columns` (per-column Page-Hinkley thresholds pinned to
  the reference, a Bonferroni-corrected Incremental-KS bank at one family level, chi-square
  levels per categorical column, ...);
* ``fresh_streams`` (error-rate detectors: DDM family, ADWIN) --
  :func:`detectors.calibration.calibrate_error_detector` on Bernoulli streams at the reference
  rate: of the whole stream, or of each column at ``k * target_arl0`` (Bonferroni split);
* ``self`` (NM-DDM) -- the target is a constructor argument; the detector calibrates itself
  and keeps the result in its state;
* an entry whose ``params`` set the alarm parameter keeps it (status ``configured``).

The reference a stream is calibrated on: a sample ``(n_ref, k)`` for real and categorical
columns and ``(n_ref, d)`` for the input vector; for binary streams (errors, data-quality
flags) the reference rate, one per column (a whole stream: one). Calibration results are JSON
and travel in the pipeline's ``state_dict``, so a restored pipeline does not recalibrate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.configs import ConfigError
from driftline.detectors import make_detector
from driftline.detectors.bank import DetectorBank
from driftline.detectors.calibration import (
    ColumnCalibration,
    ColumnRequest,
    calibrate_columns,
    calibrate_error_detector,
)
from driftline.executor.detector_streams import STREAMS, StreamKind
from driftline.executor.detectors_config import DetectorEntry, DetectorsConfig, entry_params

__all__ = ["StreamDetectors", "build_stream_detectors"]


@dataclass
class StreamDetectors:
    """The detectors of one stream: per registry name a bank over ``names`` (per-column
    stream) or one detector (whole stream, ``names == [""]``), and their calibrations."""

    stream: StreamKind
    names: list[str]
    detectors: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The exported ``stream`` label."""
        return self.stream.exported

    def notes(self) -> list[str]:
        """Why a calibration is not at its target (out of reach), if any."""
        found: list[str] = []
        for result in self.calibration.values():
            for part in (result.get("columns", [result]) if isinstance(result, dict) else []):
                if isinstance(part, dict) and part.get("message"):
                    found.append(str(part["message"]))
        return found


@dataclass(frozen=True)
class _Build:
    """One entry to build: what every method needs."""

    entry: DetectorEntry
    stream: StreamKind
    names: list[str]
    reference: np.ndarray
    params: dict[str, Any]
    config: DetectorsConfig
    saved: Any


def _configured_result(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"params": dict(params), "status": "configured", "measured_arl0": None, "message": ""}


# -- per-column streams -----------------------------------------------------------------------
def _registry_columns(job: _Build) -> tuple[Any, Any]:
    cls, entry = job.entry.detector_class, job.entry
    calibration = job.config.calibration
    if job.saved is not None:
        result = ColumnCalibration.from_json(job.saved)
    elif entry.configured:
        value = float(job.params[cls.alarm.name])
        result = ColumnCalibration(cls.alarm.name, [value] * len(job.names))
    else:
        result = calibrate_columns(ColumnRequest(
            cls, job.reference, entry.target_arl0, job.params, n_streams=calibration.n_streams,
            seed=calibration.seed, options=entry.options()))
    params = {k: v for k, v in job.params.items() if k != cls.alarm.name}
    return result.bank(cls, job.names, job.reference, params), result.to_json()


def _fresh_columns(job: _Build) -> tuple[Any, Any]:
    entry, rates = job.entry, np.asarray(job.reference, dtype=np.float64).reshape(-1)
    per_column = entry.target_arl0 * len(job.names)
    if job.saved is not None:
        results = list(job.saved["columns"])
    elif entry.configured:
        results = [_configured_result(job.params) for _ in job.names]
    else:
        results = [calibrate_error_detector(entry.detector, float(rate), per_column,
                                            params=job.params, seed=job.config.calibration.seed)
                   for rate in rates]
    bank = DetectorBank(job.names, [make_detector(entry.detector, **r["params"])
                                    for r in results])
    return bank, {"columns": results}


# -- whole streams ----------------------------------------------------------------------------
def _self_calibrated(job: _Build) -> tuple[Any, Any]:
    cls = job.entry.detector_class
    detector = cls(**job.params, **cls.reference_params(job.reference))
    return detector, None


def _fresh_whole(job: _Build) -> tuple[Any, Any]:
    entry = job.entry
    if job.saved is not None:
        result = dict(job.saved)
    elif entry.configured:
        result = _configured_result(job.params)
    else:
        rate = float(np.asarray(job.reference, dtype=np.float64).reshape(-1)[0])
        result = calibrate_error_detector(entry.detector, rate, entry.target_arl0,
                                          params=job.params, seed=job.config.calibration.seed)
    return make_detector(entry.detector, **result["params"]), result


Builder = Callable[[_Build], tuple[Any, Any]]
#: calibration method -> builder of a per-column stream's bank (default: the column registry)
_COLUMN_BUILDERS: dict[str, Builder] = {"fresh_streams": _fresh_columns}
#: calibration method -> builder of a whole stream's detector (a configured alarm parameter
#: needs no calibration: the detector is built as it is, like ``self``)
_WHOLE_BUILDERS: dict[str, Builder] = {"self": _self_calibrated, "fresh_streams": _fresh_whole}


def _builder(entry: DetectorEntry, stream: StreamKind) -> Builder:
    method = entry.method_name
    if stream.per_column:
        return _COLUMN_BUILDERS.get(method, _registry_columns)
    if entry.configured and method != "fresh_streams":
        return _self_calibrated
    return _WHOLE_BUILDERS[method]


def build_stream_detectors(
    stream: str,
    names: Sequence[str],
    reference: Any,
    config: DetectorsConfig,
    calibration: Mapping[str, Any] | None = None,
) -> StreamDetectors:
    """The detectors ``config`` lists on ``stream``, over the columns ``names`` (ignored for a
    whole stream) and calibrated on ``reference`` (see the module docstring);
    ``calibration`` (a :class:`StreamDetectors`' ``calibration``, e.g. from a ``state_dict``)
    skips the calibrations it holds. A calibration that fails (e.g. a target out of the
    method's reach) is a :class:`configs.ConfigError` naming the entry."""
    kind = STREAMS[stream]
    out = StreamDetectors(kind, list(names) if kind.per_column else [""])
    saved = dict(calibration or {})
    reference = np.asarray(reference, dtype=np.float64)
    for i, entry in enumerate(config.streams.entries(stream)):
        job = _Build(entry, kind, out.names, reference, entry_params(entry, kind), config,
                     saved.get(entry.detector))
        try:
            out.detectors[entry.detector], result = _builder(entry, kind)(job)
        except ValueError as exc:  # a calibration out of reach, a reference that cannot serve
            raise ConfigError(f"detectors.streams.{stream}[{i}]: {entry.detector} cannot be "
                              f"set up on the reference profile: {exc}") from exc
        out.calibration[entry.detector] = result
    return out
