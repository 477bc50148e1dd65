"""Replaying a data file as encoded events: the producer side of a user's own stream.

:class:`FileReplay` turns a ``source.file`` section (:class:`dataloader.replay_config.
FileReplayConfig`) into :class:`EncodedEvent` values, the bytes a producer puts on Kafka:

1. read the rows of the CSV, Parquet or JSON Lines file under the event schema
   (:func:`dataloader.file_events.read_event_rows`; a file that does not match the schema
   fails with one line naming the file, the field and the row);
2. order them: as in the file, or shuffled with ``seed``;
3. inject the declared drift from its change point (:mod:`dataloader.drift_injection`);
4. write each row as a JSON event of the schema (:class:`dataloader.file_events.EventWriter`);
5. with ``predictions.source: model``, decode the events as the executor would
   (:class:`executor.schema_decoder.SchemaDecoder` of the model's profile), let the model of
   the named run config predict them, and write its class and score into the events, as a
   service that logs its model's outputs would.

A label on a labels topic (schema ``outputs.label.topic``) travels as its own message
``{<key_path>: id, <path>: class}``.

Example
-------
>>> import tempfile, pathlib
>>> from driftline.configs import build_config
>>> from driftline.dataloader.replay_config import FileReplayConfig
>>> with tempfile.TemporaryDirectory() as tmp:
...     tmp = pathlib.Path(tmp)
...     _ = (tmp / "schema.yaml").write_text("fields: [{name: x, path: f.x, type: numeric}]")
...     _ = (tmp / "rows.csv").write_text("x\\n1\\n2\\n3\\n")
...     config = build_config({"path": str(tmp / "rows.csv"), "schema": str(tmp / "schema.yaml"),
...         "start_time": 0.0, "drift": {"change_point": 2, "injections": [
...             {"kind": "numeric_shift", "field": "x", "shift": 10}]}}, FileReplayConfig)
...     events = list(FileReplay(config).events())
>>> [event.value.decode() for event in events][1:]
['{"event_id":"event-0000001","f":{"x":2.0}}', '{"event_id":"event-0000002","f":{"x":13.0}}']
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.configs import ConfigError
from driftline.dataloader.drift_injection import DriftInjector, check_drift
from driftline.dataloader.file_events import EventRows, EventWriter, put_at_path, read_event_rows
from driftline.dataloader.json_path import parse_path
from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.dataloader.replay_config import FileReplayConfig
from driftline.dataloader.schema import EventSchema, OutputsSpec, load_schema

__all__ = ["EncodedEvent", "FileReplay"]


@dataclass(frozen=True)
class EncodedEvent:
    """One event to send: its id (the record key), the record value, its event time (seconds),
    its summary period, and the message for the labels topic (``None``: no label message)."""

    event_id: str
    value: bytes
    timestamp: float
    period: str
    label_value: bytes | None = None


class _ServedModel:
    """The model of a run config's ``model:`` section, predicting encoded events."""

    def __init__(self, run_config: str, schema: EventSchema, score: str) -> None:
        from driftline.executor.config import load_run_config
        from driftline.executor.schema_decoder import SchemaDecoder
        from driftline.model.adapters.loading import load_model_adapter, load_reference

        try:
            model = load_run_config(run_config).model
            if model.kind in ("none", "driftline"):
                raise ValueError(f"{run_config}: model.kind {model.kind} cannot predict a "
                                 "file's events (use torchscript or pytorch)")
            model_schema, schema_path, profile = load_reference(model, source=run_config)
            self.adapter = load_model_adapter(model, schema=model_schema,
                                              schema_path=schema_path, profile=profile,
                                              source=run_config)
        except ValueError as exc:  # ConfigError and ModelLoadError too: one line each
            raise ValueError(f"predictions.model: {exc}") from None
        self.decoder = SchemaDecoder.from_profile(model_schema, profile)
        classes = list(schema.outputs.classes or [])
        unknown = [c for c in self.adapter.class_names if c not in classes]
        if unknown:
            raise ValueError(f"predictions.model: {run_config}: the model's class {unknown[0]!r} "
                             f"is not in the schema's outputs.classes {classes}")
        if score == "positive_probability" and len(self.adapter.class_names) != 2:
            raise ValueError(f"predictions.score: positive_probability needs two classes, the "
                             f"model of {run_config} has {self.adapter.class_names}")
        self.score = score
        self.class_names = self.adapter.class_names

    def predict(self, values: list[bytes]) -> dict[str, tuple[str, float | None]]:
        """``{event_id: (class name, score)}`` of the events the model's decoder accepts."""
        batch = self.decoder.decode_batch(values, topic="replay", partition=0,
                                          offsets=list(range(len(values))))
        if not len(batch):
            return {}
        served = self.adapter.predict(batch)
        if self.score == "confidence":
            scores = served.confidence
        elif self.score == "positive_probability":
            scores = served.probabilities[:, 1]  # type: ignore[index]
        else:
            if served.risk is None:
                raise ValueError("predictions.score: risk, but the model returns no score "
                                 "(returns: [logits, score])")
            scores = served.risk
        return {event_id: (self.class_names[int(label)], float(score))
                for event_id, label, score in zip(batch.event_ids, served.labels.tolist(),
                                                  scores.tolist(), strict=True)}


class FileReplay:
    """The events of a ``source.file`` section (see the module docstring).

    Parameters
    ----------
    config : FileReplayConfig
        What to replay.
    source : str, optional
        The config file, named in error messages.
    """

    def __init__(self, config: FileReplayConfig, *, source: str | Path | None = None) -> None:
        self.config = config
        where = f"{source}: source.file" if source is not None else "source.file"
        self.schema = load_schema(config.schema_path)
        outputs = self.schema.outputs
        predictions = config.predictions
        try:
            if predictions.source == "none" and outputs.prediction is not None and not (
                    outputs.prediction.optional):
                raise ValueError("predictions.source: none, but the schema's outputs.prediction "
                                 "is required (events without it are dead-lettered)")
            if predictions.source == "model" and outputs.prediction is None and (
                    outputs.score is None):
                raise ValueError("predictions.source: model, but the schema declares neither "
                                 "outputs.prediction nor outputs.score to write them to")
            if config.drift is not None:
                try:
                    check_drift(config.drift, self.schema)
                except ValueError as exc:
                    raise ValueError(f"drift.{exc}") from None
                self.drift_lines = DriftInjector(config.drift).describe()
            else:
                self.drift_lines = []
            self.model = (_ServedModel(str(predictions.model), self.schema, predictions.score)
                          if predictions.source == "model" else None)
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None
        # the file is read without the outputs it does not provide
        self.read_schema = self.schema.model_copy(update={"outputs": OutputsSpec.model_construct(
            classes=outputs.classes,
            prediction=outputs.prediction if predictions.source == "columns" else None,
            score=outputs.score if predictions.source == "columns" else None,
            label=outputs.label if config.labels == "file" else None)})
        try:  # one pass checks every row before anything is sent, and counts them
            self.n_rows = sum(rows.n_rows for rows in read_event_rows(
                config.path, self.read_schema, chunk_rows=max(config.chunk_rows, 65_536),
                delimiter=config.delimiter))
        except ReferenceDataError as exc:
            raise ConfigError(f"{where}.path: {exc}") from None
        self.start_time = time.time() if config.start_time is None else config.start_time
        self.writer = EventWriter(self.schema, id_prefix=config.id_prefix,
                                  start_time=self.start_time, interval_s=config.interval_s)
        label = outputs.label
        #: the labels topic the label messages go to (None: labels are inline, or not sent)
        self.labels_topic = (label.topic if label is not None and label.topic is not None
                             and config.labels == "file" else None)

    def __len__(self) -> int:
        return self.n_rows

    def _rows(self) -> Iterator[EventRows]:
        config = self.config
        chunks = read_event_rows(config.path, self.read_schema, chunk_rows=config.chunk_rows,
                                 delimiter=config.delimiter)
        if config.order == "file":
            yield from chunks
            return
        rows = EventRows.concat(list(chunks))
        order = np.random.default_rng(config.seed).permutation(rows.n_rows)
        for start in range(0, rows.n_rows, config.chunk_rows):
            yield rows.take(order[start:start + config.chunk_rows])

    def _period(self, position: int) -> str:
        size = self.config.period_rows
        first = position // size * size
        return f"rows {first}-{first + size - 1}"

    def events(self) -> Iterator[EncodedEvent]:
        """The encoded events, in replay order (reads the file again on each call)."""
        injector = None if self.config.drift is None else DriftInjector(self.config.drift)
        position = 0
        for rows in self._rows():
            positions = np.arange(position, position + rows.n_rows)
            position += rows.n_rows
            if injector is not None:
                rows = rows.copy()
                injector.apply(positions, rows.numeric, rows.categories)
            documents = self.writer.documents(rows, positions)
            values = [orjson.dumps(document) for document in documents]
            if self.model is not None:
                values = self._with_predictions(documents, values)
            labels = rows.label if self.labels_topic else None
            for i, value in enumerate(values):
                at = int(positions[i])
                label_value = None
                if labels is not None and labels[i] >= 0:
                    label_value = self._label_message(self.writer.event_id(at), int(labels[i]))
                yield EncodedEvent(self.writer.event_id(at), value, self.writer.event_time(at),
                                   self._period(at), label_value)

    def _with_predictions(self, documents: list[dict[str, Any]], values: list[bytes],
                          ) -> list[bytes]:
        assert self.model is not None
        served = self.model.predict(values)
        outputs = self.schema.outputs
        out = []
        for document, value in zip(documents, values, strict=True):
            result = served.get(self.schema.event_id.json_path.get(document))
            if result is None:  # the model's decoder refused it: the executor will too
                out.append(value)
                continue
            name, score = result
            if outputs.prediction is not None:
                put_at_path(document, outputs.prediction.json_path.parts, name)
            if outputs.score is not None:
                put_at_path(document, outputs.score.json_path.parts, score)
            out.append(orjson.dumps(document))
        return out

    def _label_message(self, event_id: str, label: int) -> bytes:
        spec = self.schema.outputs.label
        assert spec is not None
        message: dict[str, Any] = {}
        key = spec.key_path or "event_id"
        put_at_path(message, parse_path(key).parts, event_id)
        put_at_path(message, spec.json_path.parts, self.writer.classes[label])
        return orjson.dumps(message)

