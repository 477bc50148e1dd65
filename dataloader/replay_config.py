"""The ``source.file`` section of a run config: replay a data file as events of a schema.

Used by the embedded replay (``source: {kind: replay, dataset: file, file: ...}``) and by
``driftline replay --replay-config`` (which sends the same events to Kafka or a JSON Lines
file). Relative paths are taken from the working directory, as everywhere in a run config.

.. code-block:: yaml

    source:
      kind: replay
      dataset: file
      file:
        path: configs/examples/segment/data/stream.csv.gz   # CSV, Parquet or JSON Lines
        schema: configs/examples/segment/schema.yaml
        order: shuffle            # or file (the file's row order)
        seed: 0                   # of the shuffle
        labels: file              # the label column goes into the events; none: left out
        predictions:
          source: columns         # the file's prediction/score columns; model; none
        drift:                    # optional (dataloader/drift_injection.py)
          change_point: 600
          injections:
            - {kind: numeric_shift, field: intensity_mean, scale: 1.3}

Example
-------
>>> from driftline.configs import build_config
>>> config = build_config({"path": "rows.csv", "schema": "schema.yaml",
...                        "predictions": {"source": "model", "model": "service.yaml"}},
...                       FileReplayConfig)
>>> config.schema_path, config.order, config.predictions.score
('schema.yaml', 'file', 'confidence')
>>> try:
...     build_config({"path": "rows.csv", "schema": "s.yaml",
...                   "predictions": {"source": "model"}}, FileReplayConfig, source="run.yaml")
... except ValueError as exc:
...     print(str(exc)[:59])
run.yaml: predictions.model: is required with source: model
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.dataloader.drift_injection import DriftConfig

__all__ = ["FileReplayConfig", "ReplayPredictionsConfig"]


class ReplayPredictionsConfig(ConfigModel):
    """Where the events' predictions and scores come from (schema ``outputs.prediction`` and
    ``outputs.score``).

    ``columns``: the file's own columns (a log of a model served elsewhere); ``model``: the
    ``model:`` section of the run config at ``model`` predicts every event after drift
    injection, as a service would, and its class and ``score`` (the served class's
    ``confidence``, the ``positive_probability`` of the second of two classes, or the model's
    ``risk`` output) are written into the event; ``none``: the events carry neither.
    """

    source: Literal["columns", "model", "none"] = "columns"
    model: str | None = Field(None, min_length=1)
    score: Literal["confidence", "positive_probability", "risk"] = "confidence"

    @model_validator(mode="after")
    def _check_model(self) -> ReplayPredictionsConfig:
        if self.source == "model" and self.model is None:
            raise key_error("model", "is required with source: model (a run config whose "
                            "model: section serves the predictions)")
        if self.source != "model" and self.model is not None:
            raise key_error("model", f"only applies to source: model, got source: {self.source}")
        return self


class FileReplayConfig(ConfigModel):
    """A data file replayed as events of an event schema (see the module docstring).

    Events get ids ``<id_prefix>-<position>`` and times ``start_time + position * interval_s``
    (``start_time`` default: when the replay starts); the summary groups them in periods of
    ``period_rows`` events.
    """

    path: str = Field(min_length=1)
    schema_path: str = Field(min_length=1, alias="schema")
    order: Literal["file", "shuffle"] = "file"
    seed: int = Field(0, ge=0)
    labels: Literal["file", "none"] = "file"
    predictions: ReplayPredictionsConfig = Field(default_factory=ReplayPredictionsConfig)
    drift: DriftConfig | None = None
    id_prefix: str = Field("event", min_length=1, max_length=100, pattern=r"^\S+$")
    start_time: float | None = None
    interval_s: float = Field(1.0, gt=0.0)
    period_rows: int = Field(1000, ge=1)
    chunk_rows: int = Field(4096, ge=1)
    delimiter: str | None = Field(None, min_length=1, max_length=1)

    model_config = ConfigDict(**ConfigModel.model_config, populate_by_name=True)

    @model_validator(mode="after")
    def _check_time(self) -> FileReplayConfig:
        if self.start_time is not None and not math.isfinite(self.start_time):
            raise key_error("start_time", f"must be finite, got {self.start_time}")
        return self
