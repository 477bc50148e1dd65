"""Schema of ``driftline evaluate`` configs (``configs/evaluate.yaml``): pydantic models,
exported by ``driftline config-schema`` as ``configs/evaluate.schema.json`` and loaded with
:func:`configs.load_config`; errors name the file and the dotted key.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> from driftline.evaluation.config import EvaluateConfig
>>> config = load_config(CONFIG_DIR / "evaluate_small.yaml", EvaluateConfig)
>>> config.target_arl0 > 1
True
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error

__all__ = [
    "CalibrationChecksConfig",
    "CalibrationConfig",
    "DetectorConfig",
    "EvaluateConfig",
    "InsuranceConfig",
    "StreamConfig",
    "TradeoffConfig",
]

StreamKind = Literal["mean_shift", "variance", "bimodal", "no_drift", "error_rate"]


Month = Annotated[int, Field(ge=1, le=36)]


class StreamConfig(ConfigModel):
    """One synthetic stream (a generator of :mod:`dataloader.scenarios_univariate`).

    ``params`` go to the generator (``shift``, ``factor``, ``separation``, ``rates``, ...);
    ``change_points`` are the true change points (empty for ``no_drift``).
    """

    name: str
    kind: StreamKind
    length: int = Field(4000, ge=10)
    change_points: list[int] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> StreamConfig:
        if self.kind == "no_drift" and self.change_points:
            raise key_error("change_points", "must be empty for kind no_drift")
        if self.kind != "no_drift" and not self.change_points:
            raise key_error("change_points",
                            f"kind {self.kind} needs at least one change point")
        for i, point in enumerate(self.change_points):
            if not 0 < point < self.length:
                raise key_error(f"change_points[{i}]",
                                f"must lie in (0, length={self.length}), got {point}")
        return self

    @property
    def binary(self) -> bool:
        """Whether the stream is 0/1 (error-rate) data."""
        return self.kind == "error_rate"


class DetectorConfig(ConfigModel):
    """One detector of the comparison.

    ``library`` is ``driftline`` (``name`` from :data:`detectors.REGISTRY`), ``river`` or
    ``skmultiflow`` (class name, e.g. ``PageHinkley``, ``KSWIN``, ``DDM``) or ``baseline``
    (the always-fire dummy). ``label`` defaults to ``name`` for driftline detectors and to
    ``library.name`` otherwise. ``threshold_param`` is the parameter calibration sets, searched
    in ``threshold_bounds`` on a ``threshold_scale`` scale; ``threshold_increasing`` says whether
    a larger value means fewer alarms (a threshold) or more (a significance level such as
    ``alpha`` or ``delta``). ``input`` restricts the detector to real-valued or 0/1 streams.
    ``use_reference`` hands the pre-change reference sample to driftline detectors that take one
    (``incremental_ks``: the first ``n_reference`` values; ``page_hinkley``: pinned mean/std).
    ``run_length_factor`` overrides ``calibration.run_length_factor`` for this detector (cheap
    detectors with heavy-tailed run lengths, such as DDM, need more alarms for a stable ARL0).
    ``streams`` limits the detector to those stream names (empty: every compatible stream), for
    detectors too slow to run everywhere (river's KSWIN runs a scipy KS test per value).
    """

    name: str
    library: Literal["driftline", "river", "skmultiflow", "baseline"] = "driftline"
    label: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    input: Literal["real", "binary", "any"] = "any"
    threshold_param: str | None = None
    threshold_bounds: list[float] = Field(default_factory=lambda: [0.0, 1000.0])
    threshold_scale: Literal["linear", "log"] = "linear"
    threshold_increasing: bool = True
    threshold_integer: bool = False
    use_reference: bool = False
    n_reference: int = Field(2000, ge=1)
    calibrate: bool = True
    run_length_factor: float | None = Field(None, ge=2.0)
    streams: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("label") and isinstance(data.get("name"), str):
            library = data.get("library", "driftline")
            name = data["name"]
            data = {**data, "label": name if library == "driftline" else f"{library}.{name}"}
        return data

    @model_validator(mode="after")
    def _check(self) -> DetectorConfig:
        bounds = self.threshold_bounds
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise key_error("threshold_bounds",
                            f"must be [low, high] with low < high, got {bounds}")
        if self.threshold_scale == "log" and bounds[0] <= 0:
            raise key_error("threshold_bounds", f"a log scale needs low > 0, got {bounds}")
        if self.calibrate and self.library != "baseline" and self.threshold_param is None:
            raise key_error("threshold_param", "required when calibrate is true")
        return self


class CalibrationConfig(ConfigModel):
    """How thresholds are calibrated to the common target ARL0 (see :mod:`evaluation.thresholds`).

    ``reference_length`` values are drawn from each stream's pre-change distribution (with
    ``seed``, independent of the evaluation seeds); ``n_streams`` bootstrap streams feed
    :func:`detectors.calibration.calibrate_threshold`; the generic bisection measures the run
    length on ``run_length_factor * target_arl0`` bootstrapped values, cut into streams of
    ``stream_length`` values each run from a fresh detector (``None``: ``3 * target_arl0``), in
    ``iterations`` steps.
    """

    reference_length: int = Field(20_000, ge=100)
    n_streams: int = Field(100, ge=10)
    stream_length: int | None = Field(None, ge=10)
    run_length_factor: float = Field(20.0, ge=2.0)
    iterations: int = Field(14, ge=2, le=60)
    seed: int = Field(12345, ge=0)


class TradeoffConfig(ConfigModel):
    """Delay / false-alarm curves: every calibrated threshold multiplied by each of ``scales``
    (clipped to its ``threshold_bounds``), run on ``stream`` and on its reference distribution;
    ``detectors`` restricts the curves to those labels (empty: every calibrated detector)."""

    enabled: bool = True
    stream: str = ""
    scales: list[Annotated[float, Field(gt=0.0)]] = Field(
        default_factory=lambda: [0.5, 0.75, 1.0, 1.5, 2.0])
    detectors: list[str] = Field(default_factory=list)


class InsuranceConfig(ConfigModel):
    """Replay of the insurance months: per-feature detectors, model error detectors."""

    enabled: bool = True
    artifacts_dir: str = "artifacts"
    train_if_missing: bool = True
    months: list[Month] = Field(default_factory=lambda: list(range(1, 37)), min_length=1)
    target_arl0: float = Field(5000.0, gt=1.0)
    feature_detectors: list[str] = Field(default_factory=lambda: ["page_hinkley"])
    error_detectors: list[str] = Field(default_factory=lambda: ["ddm"])


class CalibrationChecksConfig(ConfigModel):
    """Acceptance measurements of the calibration methods (:mod:`evaluation.calibration_checks`).

    Pinned Page-Hinkley (allowance ``delta``) at each of ``targets`` on fresh N(0, 1) draws and
    on bootstrap draws of the insurance reference (``insurance``), about ``alarms`` alarms each;
    its ARL0 at ``importance_target`` by importance sampling (``importance_cycles`` cycles) and
    its delay for a 1 sigma shift (``delay_trials``); the Incremental-KS bank at ``ks_targets``
    (``ks_alarms``) and NM-DDM's fitted null tail at ``nm_ddm_targets`` (``nm_ddm_alarms``) on
    the insurance reference; the budget of ``false_pages`` per ``period_days`` at
    ``events_per_s`` split over the default detectors; everything seeded by ``seed``.
    """

    enabled: bool = True
    targets: list[Annotated[float, Field(gt=1.0)]] = Field(
        default_factory=lambda: [1e4, 1e5, 1e6])
    delta: float = Field(0.1, gt=0.0)
    alarms: int = Field(1000, ge=10)
    insurance: bool = True
    importance_target: float = Field(1e9, gt=1.0)
    importance_cycles: int = Field(20_000, ge=100)
    delay_trials: int = Field(20_000, ge=100)
    ks_targets: list[Annotated[float, Field(gt=1.0)]] = Field(default_factory=lambda: [1e4])
    ks_alarms: int = Field(300, ge=10)
    nm_ddm_targets: list[Annotated[float, Field(gt=1.0)]] = Field(
        default_factory=lambda: [1e5])
    nm_ddm_alarms: int = Field(10, ge=1)
    false_pages: float = Field(1.0, gt=0.0)
    period_days: float = Field(30.0, gt=0.0)
    events_per_s: float = Field(1000.0, gt=0.0)
    seed: int = Field(2024, ge=0)


class EvaluateConfig(ConfigModel):
    """Top level of ``configs/evaluate.yaml``."""

    streams: list[StreamConfig] = Field(min_length=1)
    detectors: list[DetectorConfig] = Field(min_length=1)
    output_dir: str = "runs/evaluate"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    target_arl0: float = Field(1000.0, gt=1.0)
    tolerance: int | None = Field(1000, ge=1)
    calibrated: bool = True
    defaults: bool = True
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    tradeoff: TradeoffConfig = Field(default_factory=TradeoffConfig)
    trace_stream: str = ""
    insurance: InsuranceConfig = Field(default_factory=InsuranceConfig)
    calibration_checks: CalibrationChecksConfig = Field(default_factory=CalibrationChecksConfig)
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        if not (self.calibrated or self.defaults):
            raise key_error("calibrated", "at least one of calibrated/defaults must be true")
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise key_error("streams", f"names must be unique, got {names}")
        labels = [d.label for d in self.detectors]
        if len(set(labels)) != len(labels):
            raise key_error("detectors", f"labels must be unique, got {labels}")
        for key, value in (("tradeoff.stream", self.tradeoff.stream),
                           ("trace_stream", self.trace_stream)):
            if value and value not in names:
                raise key_error(key, f"unknown stream {value!r}; streams are {names}")
        for i, detector in enumerate(self.detectors):
            unknown = sorted(set(detector.streams) - set(names))
            if unknown:
                raise key_error(f"detectors[{i}].streams",
                                f"unknown streams {unknown}; streams are {names}")
        known = {d.label for d in self.detectors if d.library != "baseline"}
        for label in self.tradeoff.detectors:
            if label not in known:
                raise key_error("tradeoff.detectors", f"{label!r} is not the label of a "
                                f"detector in detectors ({sorted(known)})")
        for key in ("feature_detectors", "error_detectors") if self.insurance.enabled else ():
            for label in getattr(self.insurance, key):
                if label not in known:
                    raise key_error(f"insurance.{key}", f"{label!r} is not the label of a "
                                    f"detector in detectors ({sorted(known)})")
        return self
