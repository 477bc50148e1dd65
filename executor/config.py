"""Schema of ``driftline run`` configs (``configs/demo.yaml``, ``configs/kafka.yaml``).

Declared once as pydantic models (:class:`configs.ConfigModel`); ``driftline config-schema``
exports them as ``configs/run.schema.json``. Loaded with :func:`load_run_config`, which
validates through :func:`configs.load_config` (errors name the file and the dotted key) and
applies the environment overrides used by docker-compose:
``DRIFTLINE_KAFKA_BOOTSTRAP`` -> ``source.bootstrap_servers``, ``DRIFTLINE_METRICS_HOST`` ->
``metrics.host``, ``DRIFTLINE_METRICS_PORT`` -> ``metrics.port`` and
``DRIFTLINE_CHECKPOINT_STORE`` -> ``checkpoint.store`` (replicas on several machines: ``kafka``).

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
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from driftline.configs import ConfigError, ConfigModel, key_error, load_config
from driftline.configs.kafka_names import (
    MAX_TOPIC_LENGTH,
    BootstrapServers,
    TopicName,
    TopicSuffix,
)
from driftline.dataloader.image_replay import ImageReplayConfig
from driftline.dataloader.replay_config import FileReplayConfig
from driftline.executor.alarms_config import AlarmsConfig
from driftline.executor.detectors_config import CalibrationConfig, DetectorsConfig
from driftline.model.adapters.config import ModelConfig, TrainedModelConfig

__all__ = [
    "AlarmsConfig",
    "BatchConfig",
    "CalibrationConfig",
    "CheckpointConfig",
    "DeadLetterConfig",
    "DetectorsConfig",
    "LabelsConfig",
    "LoggingConfig",
    "MetricsConfig",
    "ModelConfig",
    "OutputsConfig",
    "RunConfig",
    "ScenarioConfig",
    "SourceConfig",
    "load_run_config",
]

ENV_OVERRIDES = {
    "DRIFTLINE_KAFKA_BOOTSTRAP": "source.bootstrap_servers",
    "DRIFTLINE_METRICS_HOST": "metrics.host",
    "DRIFTLINE_METRICS_PORT": "metrics.port",
    "DRIFTLINE_CHECKPOINT_STORE": "checkpoint.store",
}


Month = Annotated[int, Field(ge=1, le=36)]


class ScenarioConfig(ConfigModel):
    """A tabular drift scenario of :mod:`dataloader.scenarios` replayed instead of the data."""

    name: str = "abrupt"
    seed: int = Field(0, ge=0)
    n_rows: int = Field(20_000, ge=1)


class SourceConfig(ConfigModel):
    """Where events come from: an in-process replay or a Kafka consumer group."""

    kind: Literal["replay", "kafka"] = "replay"
    # replay
    dataset: Literal["insurance", "scenario", "file", "digits"] = "insurance"
    months: list[Month] = Field(default_factory=lambda: list(range(1, 37)))
    scenario: ScenarioConfig = Field(default_factory=ScenarioConfig)
    file: FileReplayConfig | None = None  # dataset: file (dataloader/replay_config.py)
    digits: ImageReplayConfig | None = None  # dataset: digits (dataloader/image_replay.py)
    rate: float | None = Field(None, gt=0.0)
    partitions: int = Field(1, ge=1, le=1024)
    poison_records: int = Field(0, ge=0)
    # kafka
    bootstrap_servers: BootstrapServers = "127.0.0.1:9092"
    topic: TopicName = "driftline.events"
    group_id: str = "driftline-executor"
    labels_topic: TopicName | None = None
    client_id: str = "driftline-executor"
    poll_timeout_ms: int = Field(500, ge=0)
    max_poll_records: int = Field(2000, ge=1)
    session_timeout_ms: int = Field(10_000, ge=1)
    heartbeat_interval_ms: int = Field(3_000, ge=1)
    max_poll_interval_ms: int = Field(300_000, ge=1)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if self.kind == "replay" and self.dataset == "insurance" and not self.months:
            raise key_error("months", "must name at least one month")
        if self.kind == "replay" and self.dataset == "file" and self.file is None:
            raise key_error("file", "is required with dataset: file (path, schema, ...)")
        if self.kind == "replay" and self.dataset == "digits" and self.digits is None:
            raise key_error("digits", "is required with dataset: digits (length, "
                            "change_point, shift, ...)")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise key_error("heartbeat_interval_ms", "must be below session_timeout_ms "
                            f"({self.session_timeout_ms}), got {self.heartbeat_interval_ms}")
        if self.labels_topic == self.topic:
            raise key_error("labels_topic", f"must differ from topic ({self.topic!r})")
        return self


class BatchConfig(ConfigModel):
    """Micro-batch size: at most ``max_rows`` events or ``max_wait_ms`` of waiting.

    ``worker_process`` (Kafka executor): decode and detect in a child process while the
    consumer polls the next batch (``executor/forked_detection.py``); False keeps everything
    in one. ``max_retries``: failures of a batch at the same place (a pipeline error, a worker
    that died or got stuck) before its records are detected one at a time and the one that
    fails alone is dead-lettered as ``processing_failed`` (``executor/failures.py``).
    ``workers``: with ``worker_process``, how many child processes detect in parallel, each
    owning whole partitions (a partition's records stay in order on one worker:
    ``executor/worker_pool.py``); unset, one per core this process may run on.
    """

    max_rows: int = Field(1000, ge=1)
    max_wait_ms: int = Field(200, ge=0)
    worker_process: bool = True
    max_retries: int = Field(3, ge=1)
    workers: int | None = Field(None, ge=1, le=256)


class LabelsConfig(ConfigModel):
    """Bounded buffers joining late labels and predictions by event id."""

    buffer_size: int = Field(100_000, ge=1)
    max_age_s: float = Field(3600.0, gt=0.0)


class MetricsConfig(ConfigModel):
    """``/metrics``, ``/healthz`` and ``/readyz`` endpoint (port 0 picks a free port).

    ``/healthz`` is 200 while a batch went through, or the consumer was seen caught up, within
    ``max_age_s``. ``range_tolerance``: a value beyond its feature's reference minimum or
    maximum by more than this fraction of the reference range is counted in
    ``driftline_data_quality_flags_total{flag="out_of_range"}`` (and still served).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    max_age_s: float = Field(60.0, gt=0.0)
    drift_hold_s: float = Field(300.0, ge=0.0)
    range_tolerance: float = Field(0.1, ge=0.0)


class CheckpointConfig(ConfigModel):
    """Per-partition detector checkpoints (state and offset), written before the offsets are
    committed.

    ``store``: ``directory`` keeps them as files in ``dir`` (one machine, or a shared
    volume); ``kafka`` in a compacted changelog topic, ``changelog_topic`` or else
    ``<source.group_id>.driftline-state``, created when missing, so that a partition moves
    warm to a replica on any machine (``executor/changelog.py``). ``dir`` then only caches
    the calibrated fresh pipeline. A checkpoint is taken after every ``every_batches``-th
    batch, and after any batch ``every_seconds`` (if set) after the last one.
    ``restore_timeout_s``: the longest read of the changelog on assignment; beyond it the
    partitions start cold (``driftline_state_restore_failures_total{reason="unreachable"}``).
    """

    store: Literal["directory", "kafka"] = "directory"
    dir: str = "runs/checkpoints"
    every_batches: int = Field(1, ge=1)
    every_seconds: float | None = Field(None, gt=0.0)
    changelog_topic: TopicName | None = None
    restore_timeout_s: float = Field(30.0, gt=0.0)


class DeadLetterConfig(ConfigModel):
    """Dead-letter records: ``<topic><topic_suffix>`` on Kafka, a JSONL file on replay.

    ``max_record_bytes``: the largest record the executor produces (the producer's
    ``max_request_size``); a larger dead letter keeps a prefix of its value, with its size and
    SHA-256 in headers. Lowered to the brokers' ``message.max.bytes`` / the dead-letter topic's
    ``max.message.bytes`` where they say less.
    """

    enabled: bool = True
    topic_suffix: TopicSuffix = ".dlt"
    path: str | None = None
    max_record_bytes: int = Field(1_000_000, ge=4096)


class OutputsConfig(ConfigModel):
    """Optional topic receiving one prediction record per event."""

    predictions_topic: TopicName | None = None


class LoggingConfig(ConfigModel):
    """Structured logs on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class RunConfig(ConfigModel):
    """Everything ``driftline run`` needs."""

    source: SourceConfig = Field(default_factory=SourceConfig)
    # the ``model:`` section: a union discriminated by ``kind`` (model/adapters/config.py)
    model: ModelConfig = Field(default_factory=TrainedModelConfig)
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    # the false-alarm budget in time; when set it replaces every detector's target_arl0
    alarms: AlarmsConfig | None = None
    batch: BatchConfig = Field(default_factory=BatchConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    dead_letter: DeadLetterConfig = Field(default_factory=DeadLetterConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _check_topics(self) -> RunConfig:
        source, predictions = self.source, self.outputs.predictions_topic
        inputs = {"source.topic": source.topic, "source.labels_topic": source.labels_topic}
        for key, topic in inputs.items():
            if predictions is not None and predictions == topic:
                raise key_error("outputs.predictions_topic",
                                f"must differ from {key} ({topic!r}): predictions would be "
                                "read back as input")
        if not self.dead_letter.enabled:
            return self
        for key, topic in inputs.items():
            # both parts are legal on their own: only the length can make the sum illegal
            length = 0 if topic is None else len(topic + self.dead_letter.topic_suffix)
            if length > MAX_TOPIC_LENGTH:
                raise key_error("dead_letter.topic_suffix",
                                f"the dead-letter topic of {key} would be {length} characters "
                                f"long; Kafka allows at most {MAX_TOPIC_LENGTH}")
        return self


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
