"""What the runners need of the monitored model: its profile, decoder and pipelines.

Two event formats reach the executor. The bundled insurance demo's events
(``{"event_id", "features": {...}}``, :mod:`executor.decode`) are served by the trained MLP
(``model.kind: driftline``): :class:`TrainedMonitoring` decodes them with an
:class:`executor.decode.EventDecoder` and runs :class:`executor.pipeline.DetectionPipeline`.
Events an event schema describes (any other model kind: ``torchscript``, ``pytorch``,
``none``; the schema is the one ``driftline profile`` copied into ``model.artifacts_dir``) go
through :class:`SchemaMonitoring`: :class:`executor.schema_pipeline.SchemaRecordDecoder` and
:class:`executor.schema_pipeline.SchemaPipeline`. :func:`open_monitoring` picks one from the
run config (a model that cannot be loaded raises :class:`model.adapters.ModelLoadError` or
:class:`model.artifacts.ArtifactError`, one line naming the file and the key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from driftline.executor.config import RunConfig

__all__ = ["SchemaMonitoring", "TrainedMonitoring", "open_monitoring"]


class TrainedMonitoring:
    """The insurance MLP (``driftline train``) on the insurance event format."""

    def __init__(self, model: Any, config: RunConfig) -> None:
        self.model = model
        self.config = config
        self.profile = model.profile
        self.class_names = list(model.class_names)
        self.model_sha256 = str(model.profile.model_sha256)
        self.feature_names = list(self.profile.feature_names)

    def decoder(self, *, ranges: bool = True) -> Any:
        """The event decoder (``ranges``: count values outside the reference range)."""
        from driftline.executor.decode import EventDecoder, reference_ranges

        return EventDecoder(
            self.profile.feature_names, n_classes=len(self.class_names),
            ranges=(reference_ranges(self.profile, self.config.metrics.range_tolerance)
                    if ranges else None))

    def quality_baselines(self) -> dict[tuple[str, str], float]:
        """No data-quality series on this format (bad values are dead-lettered)."""
        return {}

    def pipeline(self, state: Mapping[str, Any] | None = None) -> Any:
        from driftline.executor.pipeline import DetectionPipeline

        return DetectionPipeline(self.model, self.config, state=state)


class SchemaMonitoring:
    """A model adapter on events an event schema describes."""

    def __init__(self, adapter: Any, schema: Any, config: RunConfig) -> None:
        from driftline.executor.schema_decoder import SchemaDecoder

        self.adapter = adapter
        self.config = config
        self.profile = adapter.profile
        self.class_names = list(adapter.class_names)
        self.feature_names = [*self.profile.feature_names, *self.profile.categorical]
        # a checkpoint belongs to the model and to the reference it was calibrated on
        self.model_sha256 = hashlib.sha256(json.dumps(
            [adapter.model_sha256, self.profile.reference_data_sha256,
             self.profile.schema_sha256]).encode()).hexdigest()
        self.schema_decoder = SchemaDecoder.from_profile(schema, self.profile)

    def decoder(self, *, ranges: bool = True) -> Any:
        """The record decoder (quality flags, out-of-range included, are always counted)."""
        from driftline.executor.schema_pipeline import SchemaRecordDecoder

        return SchemaRecordDecoder(self.schema_decoder)

    def quality_baselines(self) -> dict[tuple[str, str], float]:
        """``{(field, flag): reference rate}`` of the data-quality series."""
        from driftline.executor.schema_streams import quality_baseline, quality_columns

        decoder = self.schema_decoder
        return {(name, flag): quality_baseline(self.profile, name, flag)
                for _, name, flag in quality_columns(decoder.schema, decoder.field_names)}

    def pipeline(self, state: Mapping[str, Any] | None = None) -> Any:
        from driftline.executor.schema_pipeline import SchemaPipeline

        return SchemaPipeline(self.adapter, self.schema_decoder, self.config, state=state)


def open_monitoring(config: RunConfig, model: Any = None,
                    source: str | None = None) -> TrainedMonitoring | SchemaMonitoring:
    """The monitoring of ``config.model``; ``model`` (a loaded insurance model, or a
    monitoring) skips loading."""
    if isinstance(model, TrainedMonitoring | SchemaMonitoring):
        return model
    if model is not None:
        return TrainedMonitoring(model, config)
    if config.model.kind == "driftline":
        from driftline.model.artifacts import load_artifacts

        return TrainedMonitoring(load_artifacts(config.model.artifacts_dir), config)
    from driftline.model.adapters.loading import load_model_adapter, load_reference

    schema, _, profile = load_reference(config.model, source=source)
    adapter = load_model_adapter(config.model, schema=schema, profile=profile, source=source)
    return SchemaMonitoring(adapter, schema, config)
