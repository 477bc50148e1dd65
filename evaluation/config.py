"""Schema of ``driftline evaluate`` configs (``configs/evaluate.yaml``), loaded with
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

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CalibrationConfig",
    "DetectorConfig",
    "EvaluateConfig",
    "InsuranceConfig",
    "StreamConfig",
    "TradeoffConfig",
]

StreamKind = Literal["mean_shift", "variance", "bimodal", "no_drift", "error_rate"]


@dataclass
class StreamConfig:
    """One synthetic stream (a generator of :mod:`dataloader.scenarios_univariate`).

    ``params`` go to the generator (``shift``, ``factor``, ``separation``, ``rates``, ...);
    ``change_points`` are the true change points (empty for ``no_drift``).
    """

    name: str
    kind: StreamKind
    length: int = field(default=4000, metadata={"min": 10})
    change_points: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == "no_drift" and self.change_points:
            raise ValueError("change_points: must be empty for kind no_drift")
        if self.kind != "no_drift" and not self.change_points:
            raise ValueError(f"change_points: kind {self.kind} needs at least one change point")
        if any(not 0 < c < self.length for c in self.change_points):
            raise ValueError(f"change_points: each must lie in (0, length={self.length})")

    @property
    def binary(self) -> bool:
        """Whether the stream is 0/1 (error-rate) data."""
        return self.kind == "error_rate"


@dataclass
class DetectorConfig:
    """One detector of the comparison.

    ``library`` is ``driftline`` (``name`` from :data:`detectors.REGISTRY`), ``river`` or
    ``skmultiflow`` (class name, e.g. ``PageHinkley``, ``KSWIN``, ``DDM``) or ``baseline``
    (the always-fire dummy). ``threshold_param`` is the parameter calibration sets, searched in
    ``threshold_bounds`` on a ``threshold_scale`` scale; ``threshold_increasing`` says whether a
    larger value means fewer alarms (a threshold) or more (a significance level such as
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
    params: dict[str, Any] = field(default_factory=dict)
    input: Literal["real", "binary", "any"] = "any"
    threshold_param: str | None = None
    threshold_bounds: list[float] = field(default_factory=lambda: [0.0, 1000.0])
    threshold_scale: Literal["linear", "log"] = "linear"
    threshold_increasing: bool = True
    threshold_integer: bool = False
    use_reference: bool = False
    n_reference: int = field(default=2000, metadata={"min": 1})
    calibrate: bool = True
    run_length_factor: float | None = field(default=None, metadata={"min": 2.0})
    streams: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name if self.library == "driftline" else f"{self.library}.{self.name}"
        bounds = self.threshold_bounds
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ValueError(f"threshold_bounds: must be [low, high] with low < high, got "
                             f"{self.threshold_bounds}")
        if self.threshold_scale == "log" and self.threshold_bounds[0] <= 0:
            raise ValueError("threshold_bounds: a log scale needs low > 0")
        if self.calibrate and self.library != "baseline" and self.threshold_param is None:
            raise ValueError("threshold_param: required when calibrate is true")


@dataclass
class CalibrationConfig:
    """How thresholds are calibrated to the common target ARL0 (see :mod:`evaluation.thresholds`).

    ``reference_length`` values are drawn from each stream's pre-change distribution (with
    ``seed``, independent of the evaluation seeds); ``n_streams`` bootstrap streams feed
    :func:`detectors.calibration.calibrate_threshold`; the generic bisection measures the run
    length on ``run_length_factor * target_arl0`` bootstrapped values, cut into streams of
    ``stream_length`` values each run from a fresh detector (``None``: ``3 * target_arl0``), in
    ``iterations`` steps.
    """

    reference_length: int = field(default=20_000, metadata={"min": 100})
    n_streams: int = field(default=100, metadata={"min": 10})
    stream_length: int | None = field(default=None, metadata={"min": 10})
    run_length_factor: float = field(default=20.0, metadata={"min": 2.0})
    iterations: int = field(default=14, metadata={"min": 2, "max": 60})
    seed: int = field(default=12345, metadata={"min": 0})


@dataclass
class TradeoffConfig:
    """Delay / false-alarm curves: every calibrated threshold multiplied by each of ``scales``
    (clipped to its ``threshold_bounds``), run on ``stream`` and on its reference distribution;
    ``detectors`` restricts the curves to those labels (empty: every calibrated detector)."""

    enabled: bool = True
    stream: str = ""
    scales: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0, 1.5, 2.0])
    detectors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if any(s <= 0 for s in self.scales):
            raise ValueError(f"scales: must all be > 0, got {self.scales}")


@dataclass
class InsuranceConfig:
    """Replay of the insurance months: per-feature detectors, model error detectors."""

    enabled: bool = True
    artifacts_dir: str = "artifacts"
    train_if_missing: bool = True
    months: list[int] = field(default_factory=lambda: list(range(1, 37)))
    target_arl0: float = field(default=5000.0, metadata={"exclusive_min": 1.0})
    feature_detectors: list[str] = field(default_factory=lambda: ["page_hinkley"])
    error_detectors: list[str] = field(default_factory=lambda: ["ddm"])

    def __post_init__(self) -> None:
        if not self.months:
            raise ValueError("months: must name at least one month")
        if any(not 1 <= m <= 36 for m in self.months):
            raise ValueError(f"months: each must be in 1..36, got {self.months}")


@dataclass
class EvaluateConfig:
    """Top level of ``configs/evaluate.yaml``."""

    streams: list[StreamConfig]
    detectors: list[DetectorConfig]
    output_dir: str = "runs/evaluate"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    target_arl0: float = field(default=1000.0, metadata={"exclusive_min": 1.0})
    tolerance: int | None = field(default=1000, metadata={"min": 1})
    calibrated: bool = True
    defaults: bool = True
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    tradeoff: TradeoffConfig = field(default_factory=TradeoffConfig)
    trace_stream: str = ""
    insurance: InsuranceConfig = field(default_factory=InsuranceConfig)
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds: must hold at least one seed")
        if not self.streams:
            raise ValueError("streams: must hold at least one stream")
        if not self.detectors:
            raise ValueError("detectors: must hold at least one detector")
        if not (self.calibrated or self.defaults):
            raise ValueError("calibrated: at least one of calibrated/defaults must be true")
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"streams: names must be unique, got {names}")
        labels = [d.label for d in self.detectors]
        if len(set(labels)) != len(labels):
            raise ValueError(f"detectors: labels must be unique, got {labels}")
        for key, value in (("tradeoff.stream", self.tradeoff.stream),
                           ("trace_stream", self.trace_stream)):
            if value and value not in names:
                raise ValueError(f"{key}: unknown stream {value!r}; streams are {names}")
        for i, detector in enumerate(self.detectors):
            unknown = sorted(set(detector.streams) - set(names))
            if unknown:
                raise ValueError(f"detectors[{i}].streams: unknown streams {unknown}; streams "
                                 f"are {names}")
        known = {d.label for d in self.detectors if d.library != "baseline"}
        for label in self.tradeoff.detectors:
            if label not in known:
                raise ValueError(f"tradeoff.detectors: {label!r} is not the label of a detector "
                                 f"in detectors ({sorted(known)})")
        for key in ("feature_detectors", "error_detectors") if self.insurance.enabled else ():
            for label in getattr(self.insurance, key):
                if label not in known:
                    raise ValueError(f"insurance.{key}: {label!r} is not the label of a detector "
                                     f"in detectors ({sorted(known)})")
