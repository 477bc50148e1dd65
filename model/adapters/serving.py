"""The model stage of the pipeline: a decoded batch in, predictions or dead letters out.

:func:`run_model` is what the detection pipeline calls once per batch. It never raises for a
model failure: when the adapter raises :class:`~model.adapters.base.ModelError`, every event of
the batch becomes a :class:`~executor.decoded.DeadLetter` with reason ``model_error``
(:data:`MODEL_ERROR`) and the error's text as detail; the pipeline forwards them to the
dead-letter topic (filling in the original bytes with :func:`executor.decoded.with_originals`)
and goes on with the next batch.

Example
-------
>>> import numpy as np
>>> from driftline.model.adapters.served import ServedElsewhereAdapter
>>> from driftline.model.adapters.base import InputBatch
>>> adapter = ServedElsewhereAdapter(["no", "yes"], "confidence", has_prediction=True,
...                                  has_score=True)
>>> class Batch(InputBatch):
...     event_ids, offsets, topic, partition = ["a", "b"], np.array([7, 8]), "events", 0
...     event_time = np.array([1.5, np.nan])
>>> good = Batch(numeric=np.empty((2, 0)), numeric_names=[], prediction=[0, 1],
...              score=[0.9, 0.6])
>>> run_model(adapter, good).predictions.labels.tolist()
[0, 1]
>>> bad = Batch(numeric=np.empty((2, 0)), numeric_names=[], prediction=[0, 1], score=[0.9, 1.6])
>>> outcome = run_model(adapter, bad)
>>> outcome.predictions is None, [(d.reason, d.offset, d.timestamp_ms)
...                                for d in outcome.dead_letters]
(True, [('model_error', 7, 1500), ('model_error', 8, None)])
>>> outcome.dead_letters[0].detail
"the events' score (confidence) must be in [0, 1]; row 1 has 1.6"
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from driftline.executor.decoded import DeadLetter
from driftline.model.adapters.base import ModelAdapter, ModelError, ModelInput, Predictions

__all__ = ["MODEL_ERROR", "ModelOutcome", "model_error_dead_letters", "run_model"]

#: ``DeadLetter.reason`` of the events of a batch the model failed on
MODEL_ERROR = "model_error"
_MAX_DETAIL = 500


@dataclass
class ModelOutcome:
    """What :func:`run_model` gives back: predictions, or the batch's dead letters and why."""

    predictions: Predictions | None
    dead_letters: list[DeadLetter] = field(default_factory=list)
    error: ModelError | None = None


def model_error_dead_letters(batch: Any, error: BaseException) -> list[DeadLetter]:
    """One ``model_error`` dead letter per event of ``batch`` (a
    :class:`~executor.schema_decoder.DecodedBatch`: ``event_ids``, ``offsets``, ``topic``,
    ``partition``, ``event_time`` in seconds). The key is the event id; the value is left for
    the pipeline to fill in from the original records."""
    detail = str(error)[:_MAX_DETAIL] or type(error).__name__
    letters = []
    for event_id, offset, seconds in zip(batch.event_ids, batch.offsets, batch.event_time,
                                         strict=True):
        timestamp_ms = None if math.isnan(seconds) else round(float(seconds) * 1000)
        letters.append(DeadLetter(MODEL_ERROR, detail, None, str(event_id).encode("utf-8"),
                                  str(batch.topic), int(batch.partition), int(offset),
                                  timestamp_ms))
    return letters


def run_model(adapter: ModelAdapter, batch: ModelInput) -> ModelOutcome:
    """Predictions for ``batch``, or (on :class:`ModelError`) its dead letters."""
    try:
        return ModelOutcome(adapter.predict(batch))
    except ModelError as error:
        return ModelOutcome(None, model_error_dead_letters(batch, error), error)
