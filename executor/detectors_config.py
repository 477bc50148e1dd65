"""The ``detectors:`` section of a run config: detectors listed per stream by registry name.

.. code-block:: yaml

    detectors:
      calibration: {n_streams: 50, seed: 0}
      streams:
        features:
          - {detector: incremental_ks, target_arl0: 20000, params: {window_size: 500}}
          - {detector: page_hinkley, target_arl0: 20000, params: {delta: 0.1}}
        input_vector:
          - {detector: nm_ddm, target_arl0: 20000, params: {window_size: 500}}
        errors:
          - {detector: ddm, target_arl0: 20000}

Each entry (:class:`DetectorEntry`) names a detector of :data:`detectors.REGISTRY`, its
constructor ``params`` (checked against the constructor: unknown names and bad values are
errors naming ``detectors.streams.<stream>[i].params.<name>``) and ``target_arl0``, the
false-alarm budget (mean in-control values between false alarms of the entry's series together)
that the calibration package turns into the alarm parameter (see
:mod:`executor.detector_streams`). ``method``, ``calibration`` and ``stride`` pass options to
the calibration method. The streams and what they feed: :mod:`executor.detector_streams`.

:func:`detector_series` lists the series a run reports.

Example
-------
>>> from driftline.configs import ConfigError, build_config
>>> config = build_config({"streams": {"features": [
...     {"detector": "page_hinkley", "target_arl0": 5000, "params": {"delta": 0.2}}]}},
...     DetectorsConfig)
>>> [(s.stream, s.detector, s.feature) for s in detector_series(config, {"features": ["a", "b"]})]
[('features', 'page_hinkley', 'a'), ('features', 'page_hinkley', 'b')]
>>> try:
...     build_config({"streams": {"features": [
...         {"detector": "incremental_ks", "params": {"window_size": 0}}]}}, DetectorsConfig)
... except ConfigError as exc:
...     print(exc)
<config>: streams.features[0].params.window_size: window_size must be >= 1, got 0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import Field, field_validator, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.detectors import REGISTRY, detector_class
from driftline.detectors.base import DriftDetector
from driftline.executor.detector_streams import STREAMS, StreamKind

__all__ = ["CalibrationConfig", "DetectorEntry", "DetectorSeries", "DetectorsConfig",
           "StreamsConfig", "detector_series", "entry_params"]

#: parameters an entry does not set: the reference comes from the profile, the policy for
#: non-finite values is the stream's (missing values are data-quality flags, not input)
_FIXED = ("reference", "on_nonfinite")
_TRIAL_ROWS = 200


class CalibrationConfig(ConfigModel):
    """Simulation budget of the calibrations (see :mod:`detectors.calibration.columns`);
    ``error_rate``: the model's reference error rate for the ``errors`` stream when the profile
    has none (a reference without predictions, e.g. the validation error of a model trained
    elsewhere)."""

    n_streams: int = Field(40, ge=2)
    seed: int = Field(0, ge=0)
    cache_dir: str | None = None
    error_rate: float | None = Field(None, ge=0.0, le=1.0)


class DetectorEntry(ConfigModel):
    """One detector on a stream: registry name, constructor parameters, false-alarm budget."""

    detector: str = Field(json_schema_extra={"enum": sorted(REGISTRY)})
    target_arl0: float = Field(20_000.0, gt=1.0)
    params: dict[str, Any] = Field(default_factory=dict)
    method: str | None = None
    calibration: Literal["bound", "bootstrap"] | None = None
    stride: int | None = Field(None, ge=1)

    @field_validator("detector")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in REGISTRY:
            raise ValueError(f"unknown detector {name!r}; the registry has {sorted(REGISTRY)}")
        return name

    @model_validator(mode="after")
    def _check(self) -> DetectorEntry:
        alarm = detector_class(self.detector).alarm
        if self.method is not None and self.method not in (alarm.method, *alarm.methods):
            raise key_error("method", f"{self.detector} declares the calibration methods "
                                      f"{[alarm.method, *alarm.methods]}, got {self.method!r}")
        window = self.params.get("window_size")
        if self.stride is not None and isinstance(window, int) and window % self.stride:
            raise key_error("stride", f"must divide window_size={window}, got {self.stride}")
        return self

    @property
    def detector_class(self) -> type[DriftDetector]:
        return detector_class(self.detector)

    @property
    def configured(self) -> bool:
        """Whether ``params`` set the alarm parameter (then it is not calibrated)."""
        return self.detector_class.alarm.name in self.params

    @property
    def method_name(self) -> str:
        """The calibration method: ``method``, else the one the detector declares."""
        return self.method or self.detector_class.alarm.method

    def options(self) -> dict[str, Any]:
        """Options of the calibration method (those set)."""
        given = {"method": self.method, "calibration": self.calibration, "stride": self.stride}
        return {k: v for k, v in given.items() if v is not None}


def entry_params(entry: DetectorEntry, stream: StreamKind) -> dict[str, Any]:
    """The entry's constructor parameters on ``stream``: ``params``, the input ``kind`` of
    a detector taking several, and the target of a detector that calibrates itself."""
    cls = entry.detector_class
    params = dict(entry.params)
    if len(cls.input_kinds) > 1 and "kind" in cls.param_names():
        params.setdefault("kind", stream.kind.name)
    if entry.method_name == "self" and not entry.configured:
        params[cls.alarm.name] = entry.target_arl0
    return params


def _check_entry(stream: StreamKind, entry: DetectorEntry, key: str) -> None:
    """Errors at ``key`` (``<stream>[i]``) for an entry that cannot run on ``stream``."""
    cls = entry.detector_class
    if stream.kind not in cls.input_kinds:
        raise key_error(f"{key}.detector", f"{entry.detector} takes "
                        f"{[k.description for k in cls.input_kinds]}, the {stream.name} stream "
                        f"gives {stream.kind.description}")
    if not entry.configured and entry.method_name not in stream.methods:
        raise key_error(f"{key}.detector", f"{entry.detector} calibrates by the "
                        f"{entry.method_name!r} method, which the {stream.name} stream cannot "
                        f"use ({sorted(stream.methods)}); set params.{cls.alarm.name} instead")
    names = cls.param_names()
    for name in entry.params:
        if name in _FIXED or name not in names:
            settable = [n for n in names if n not in _FIXED]
            raise key_error(f"{key}.params.{name}", f"not a parameter of {entry.detector} "
                            f"(its parameters: {', '.join(settable)})")
    rng = np.random.default_rng(0)
    sample = stream.kind.synthetic(rng, _TRIAL_ROWS)
    params = entry_params(entry, stream)
    if not entry.configured:
        params[cls.alarm.name] = (entry.target_arl0 if entry.method_name == "self"
                                  else cls.alarm.conservative)
    from_reference = cls.reference_params(sample)
    for name in from_reference:
        if name in entry.params:
            raise key_error(f"{key}.params.{name}", f"is taken from the reference profile; "
                            f"{entry.detector} does not accept it in a config")
    try:
        cls(**params, **from_reference)
    except (TypeError, ValueError) as exc:
        named = str(exc).split(" ", 1)[0]
        if named == cls.alarm.name and entry.method_name == "self" and not entry.configured:
            raise key_error(f"{key}.target_arl0", str(exc)) from None
        where = f".params.{named}" if named in entry.params else ".params"
        raise key_error(f"{key}{where}", str(exc)) from None


class StreamsConfig(ConfigModel):
    """Detectors per stream (see :mod:`executor.detector_streams`)."""

    features: list[DetectorEntry] = Field(default_factory=list)
    input_vector: list[DetectorEntry] = Field(default_factory=list)
    categories: list[DetectorEntry] = Field(default_factory=list)
    prediction: list[DetectorEntry] = Field(default_factory=list)
    errors: list[DetectorEntry] = Field(default_factory=list)
    data_quality: list[DetectorEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> StreamsConfig:
        for name, stream in STREAMS.items():
            seen: set[str] = set()
            for i, entry in enumerate(self.entries(name)):
                key = f"{name}[{i}]"
                if entry.detector in seen:
                    raise key_error(f"{key}.detector", f"{entry.detector!r} is listed twice on "
                                    f"the {name} stream (its series would collide)")
                seen.add(entry.detector)
                _check_entry(stream, entry, key)
        return self

    def entries(self, stream: str) -> list[DetectorEntry]:
        """The entries of ``stream``."""
        return list(getattr(self, stream))


def _default_streams() -> StreamsConfig:
    ks = {"detector": "incremental_ks", "target_arl0": 20_000.0, "calibration": "bound",
          "params": {"window_size": 500}}
    ph = {"detector": "page_hinkley", "target_arl0": 50_000.0,
          "params": {"delta": 0.1, "min_instances": 30}}
    return StreamsConfig.model_validate({
        "features": [ks, ph],
        "input_vector": [{"detector": "nm_ddm", "target_arl0": 5_000.0,
                          "params": {"window_size": 500}}],
        "categories": [{"detector": "chi_square", "target_arl0": 20_000.0,
                        "params": {"window_size": 500}}],
        "prediction": [ks, ph],
        "errors": [{"detector": name, "target_arl0": 20_000.0}
                   for name in ("ddm", "eddm", "hddm_a", "adwin")],
        "data_quality": [{"detector": "ddm", "target_arl0": 20_000.0}],
    })


class DetectorsConfig(ConfigModel):
    """Which detectors run on which stream, and the calibrations' simulation budget."""

    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    streams: StreamsConfig = Field(default_factory=_default_streams)


class DetectorSeries(NamedTuple):
    """One series a run reports: config stream, registry name, column (``""`` for a whole
    stream) and the false-alarm budget of its entry (shared by the entry's columns)."""

    stream: str
    detector: str
    feature: str
    target_arl0: float


def detector_series(config: DetectorsConfig,
                    columns: Mapping[str, Sequence[str]]) -> list[DetectorSeries]:
    """Every series of a run whose per-column streams have ``columns`` (stream -> column
    names; a stream missing there has none), in the order the pipeline runs them."""
    out = []
    for name, stream in STREAMS.items():
        names = list(columns.get(name, ())) if stream.per_column else [""]
        if not names:
            continue
        out += [DetectorSeries(name, entry.detector, feature, entry.target_arl0)
                for entry in config.streams.entries(name) for feature in names]
    return out
