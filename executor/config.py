"""Schema of ``driftline run`` configs (``configs/demo.yaml``, ``configs/kafka.yaml``).

Loaded with :func:`load_run_config`, which validates through :func:`configs.load_config` (errors
name the dotted key) and applies the environment overrides used by docker-compose:
``DRIFTLINE_KAFKA_BOOTSTRAP`` -> ``source.bootstrap_servers``, ``DRIFTLINE_METRICS_HOST`` ->
``metrics.host`` and ``DRIFTLINE_METRICS_PORT`` -> ``metrics.port``.

Example
-------
>>> from driftline.configs import CONFIG_DIR
>>> from driftline.executor.config import load_run_config
>>> config = load_run_config(CONFIG_DIR / "demo.yaml", environ={})
>>> config.source.kind, config.source.dataset
('replay', 'insurance')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from driftline.configs import ConfigError, load_config

__all__ = [
    "BatchConfig",
    "CalibrationConfig",
    "CheckpointConfig",
    "DeadLetterConfig",
    "DetectorsConfig",
    "ErrorDetectorsConfig",
    "IKSConfig",
    "LabelsConfig",
    "LoggingConfig",
    "MetricsConfig",
    "ModelConfig",
    "NMDDMConfig",
    "OutputsConfig",
    "PageHinkleyConfig",
    "RunConfig",
    "ScenarioConfig",
    "SourceConfig",
    "load_run_config",
]

ENV_OVERRIDES = {
    "DRIFTLINE_KAFKA_BOOTSTRAP": "source.bootstrap_servers",
    "DRIFTLINE_METRICS_HOST": "metrics.host",
    "DRIFTLINE_METRICS_PORT": "metrics.port",
}


@dataclass
class ScenarioConfig:
    """A tabular drift scenario of :mod:`dataloader.scenarios` replayed instead of the data."""

    name: str = "abrupt"
    seed: int = field(default=0, metadata={"min": 0})
    n_rows: int = field(default=20_000, metadata={"min": 1})


@dataclass
class SourceConfig:
    """Where events come from: an in-process replay or a Kafka consumer group."""

    kind: Literal["replay", "kafka"] = "replay"
    # replay
    dataset: Literal["insurance", "scenario"] = "insurance"
    months: list[int] = field(default_factory=lambda: list(range(1, 37)))
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    rate: float | None = field(default=None, metadata={"exclusive_min": 0.0})
    partitions: int = field(default=1, metadata={"min": 1, "max": 1024})
    poison_records: int = field(default=0, metadata={"min": 0})
    # kafka
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "driftline.events"
    group_id: str = "driftline-executor"
    labels_topic: str | None = None
    client_id: str = "driftline-executor"
    poll_timeout_ms: int = field(default=500, metadata={"min": 0})
    max_poll_records: int = field(default=2000, metadata={"min": 1})
    session_timeout_ms: int = field(default=10_000, metadata={"min": 1})
    heartbeat_interval_ms: int = field(default=3_000, metadata={"min": 1})
    max_poll_interval_ms: int = field(default=300_000, metadata={"min": 1})
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"

    def __post_init__(self) -> None:
        bad = [m for m in self.months if not 1 <= m <= 36]
        if bad:
            raise ValueError(f"months: must lie in [1, 36], got {bad[0]}")
        if self.kind == "replay" and self.dataset == "insurance" and not self.months:
            raise ValueError("months: must name at least one month")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms: must be below session_timeout_ms")


@dataclass
class ModelConfig:
    """The trained model and its reference profile (``driftline train`` output)."""

    artifacts_dir: str = "artifacts"


@dataclass
class CalibrationConfig:
    """Bootstrap calibration of the thresholds (see :mod:`executor.calibrate`)."""

    n_streams: int = field(default=40, metadata={"min": 2})
    seed: int = field(default=0, metadata={"min": 0})
    cache_dir: str | None = None


@dataclass
class IKSConfig:
    """Incremental KS per column, Bonferroni-corrected across the columns, with the family
    level ``alpha`` set for ``target_arl0`` (see :mod:`executor.calibrate_ks`):
    ``calibration: bound`` uses ``alpha = 1 / target_arl0`` (instant, conservative: the union
    bound over steps guarantees ARL0 >= target); ``bootstrap`` simulates the bank (exact up to
    ``stride``, tens of seconds at start-up for ARL0 in the tens of thousands)."""

    enabled: bool = True
    window_size: int = field(default=500, metadata={"min": 10})
    target_arl0: float = field(default=20_000.0, metadata={"exclusive_min": 2.0})
    calibration: Literal["bound", "bootstrap"] = "bound"
    stride: int = field(default=25, metadata={"min": 1})

    def __post_init__(self) -> None:
        if self.calibration == "bootstrap" and self.window_size % self.stride:
            raise ValueError(f"stride: must divide window_size={self.window_size}")


@dataclass
class PageHinkleyConfig:
    """Page-Hinkley per column (pinned reference mean/std); thresholds calibrated per column."""

    enabled: bool = True
    delta: float = field(default=0.1, metadata={"min": 0.0})
    target_arl0: float = field(default=50_000.0, metadata={"exclusive_min": 1.0})
    min_instances: int = field(default=30, metadata={"min": 1})


@dataclass
class NMDDMConfig:
    """NM-DDM on the whole input vector (calibrates itself to ``target_arl0``)."""

    enabled: bool = True
    window_size: int = field(default=500, metadata={"min": 2})
    target_arl0: float = field(default=5_000.0, metadata={"exclusive_min": 1.0})
    n_features_rff: int = field(default=256, metadata={"min": 2})
    calibration_steps: int | None = field(default=None, metadata={"min": 1})
    random_state: int = field(default=0, metadata={"min": 0})

    def __post_init__(self) -> None:
        if self.target_arl0 <= self.window_size:
            raise ValueError("target_arl0: must exceed window_size")


@dataclass
class ErrorDetectorsConfig:
    """Error-rate detectors fed 0/1 errors of labelled events; ``params`` per detector name.

    Each detector's alarm parameter (DDM ``drift_threshold``, EDDM ``beta``, HDDM_A
    ``drift_confidence``, ADWIN ``delta``) is calibrated at start-up to ``target_arl0`` labelled
    events on Bernoulli errors at the reference error rate (:mod:`executor.calibrate`), unless
    ``params`` sets it."""

    enabled: bool = True
    detectors: list[Literal["ddm", "eddm", "hddm_a", "adwin"]] = field(
        default_factory=lambda: ["ddm", "eddm", "hddm_a", "adwin"])
    target_arl0: float = field(default=20_000.0, metadata={"exclusive_min": 1.0})
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.params) - set(self.detectors))
        if unknown:
            raise ValueError(f"params: {unknown[0]!r} is not in detectors {self.detectors}")


@dataclass
class DetectorsConfig:
    """Which detectors run on which stream."""

    iks: IKSConfig = field(default_factory=IKSConfig)
    page_hinkley: PageHinkleyConfig = field(default_factory=PageHinkleyConfig)
    nm_ddm: NMDDMConfig = field(default_factory=NMDDMConfig)
    prediction: bool = True
    errors: ErrorDetectorsConfig = field(default_factory=ErrorDetectorsConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


@dataclass
class BatchConfig:
    """Micro-batch size: at most ``max_rows`` events or ``max_wait_ms`` of waiting.

    ``worker_process`` (Kafka executor): decode and detect in a child process while the
    consumer polls the next batch (``executor/forked_detection.py``); False keeps everything
    in one.
    """

    max_rows: int = field(default=1000, metadata={"min": 1})
    max_wait_ms: int = field(default=200, metadata={"min": 0})
    worker_process: bool = True


@dataclass
class LabelsConfig:
    """Bounded buffers joining late labels and predictions by event id."""

    buffer_size: int = field(default=100_000, metadata={"min": 1})
    max_age_s: float = field(default=3600.0, metadata={"exclusive_min": 0.0})


@dataclass
class MetricsConfig:
    """``/metrics`` and ``/healthz`` endpoint (port 0 picks a free port)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=0, metadata={"min": 0, "max": 65535})
    max_age_s: float = field(default=60.0, metadata={"exclusive_min": 0.0})
    drift_hold_s: float = field(default=300.0, metadata={"min": 0.0})


@dataclass
class CheckpointConfig:
    """Per-partition detector checkpoints."""

    dir: str = "checkpoints"
    every_batches: int = field(default=1, metadata={"min": 1})


@dataclass
class DeadLetterConfig:
    """Dead-letter records: ``<topic><topic_suffix>`` on Kafka, a JSONL file on replay."""

    enabled: bool = True
    topic_suffix: str = ".dlt"
    path: str | None = None


@dataclass
class OutputsConfig:
    """Optional topic receiving one prediction record per event."""

    predictions_topic: str | None = None


@dataclass
class LoggingConfig:
    """Structured logs on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


@dataclass
class RunConfig:
    """Everything ``driftline run`` needs."""

    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    dead_letter: DeadLetterConfig = field(default_factory=DeadLetterConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for variable, key in ENV_OVERRIDES.items():
        value = environ.get(variable)
        if value is None or value == "":
            continue
        if key == "metrics.port":
            try:
                overrides[key] = int(value)
            except ValueError:
                raise ConfigError(f"{variable}: expected an integer port, got {value!r}") from None
        else:
            overrides[key] = value
    return overrides


def load_run_config(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """Read ``path`` as a :class:`RunConfig`; environment overrides, then ``overrides``, win."""
    merged = _env_overrides(os.environ if environ is None else environ)
    merged.update(overrides or {})
    return load_config(path, RunConfig, merged)
