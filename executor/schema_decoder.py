"""Schema-driven event decoding: bytes -> typed columns, data-quality flags or a dead letter.

:class:`SchemaDecoder` reads the events an :class:`dataloader.schema.EventSchema` describes.
:meth:`~SchemaDecoder.decode` turns one record into a :class:`SchemaEvent` or a
:class:`DeadLetter`; :meth:`~SchemaDecoder.decode_batch` turns many into one
:class:`DecodedBatch` of column arrays (numeric and boolean fields as a float64 matrix with NaN
where there is no value, categorical fields as integer codes of a
:class:`~dataloader.field_values.CategoryVocabulary`) plus the dead letters. Neither raises.

What is served and what is dead-lettered:

================================================  ==========================================
served, with a quality flag on the field          dead letter (``reason``)
================================================  ==========================================
optional field absent or ``null``: ``missing``    required field absent or ``null``:
                                                  ``missing_field``
optional field of the wrong JSON type, or a non-  required field of the wrong type:
finite number: ``wrong_type`` (value as missing)  ``wrong_type``; non-finite: ``non_finite``
number outside the range (declared, else the      ... with ``range_policy: dead_letter``:
reference's min/max): ``out_of_range``            ``out_of_bounds``
category the reference / declared list does not   (never)
know: ``unseen_category`` (code ``unseen``)
================================================  ==========================================

Record-level reasons: ``empty``, ``too_large`` (over ``max_bytes``, before parsing),
``bad_encoding`` (not UTF-8), ``not_json``, ``too_deep``, ``duplicate_key``, ``not_object``,
``unknown_field`` (``unknown_fields: error``), ``bad_metadata``, ``invalid`` (a decoder bug,
never expected). Event id: ``missing_field`` or ``bad_event_id`` (not a non-empty string or an
integer, too long, or text that cannot be encoded as UTF-8 such as a lone surrogate). Event
time: ``bad_timestamp`` (absent: the Kafka timestamp, or ``missing_field`` if the schema makes it
required). Outputs: ``bad_prediction``, ``bad_score``, ``bad_label`` (``missing_field`` for an
absent required prediction or score; an absent inline label is simply no label).

Quality flags are bits per field (:data:`~dataloader.field_values.QUALITY_FLAGS`:
``missing`` 1, ``out_of_range`` 2, ``unseen_category`` 4, ``wrong_type`` 8), so the data-quality
detectors can read each one as a 0/1 stream per field (:meth:`DecodedBatch.flagged`).

Columns are read one field at a time (:mod:`executor.schema_columns`): a field type is a column
reader plus a block of :class:`DecodedBatch`. Vector and image fields are each an ``(n, size)``
float32 block of :attr:`DecodedBatch.vectors` (images flattened in row-major order); their
values are checked by :mod:`dataloader.vector_values` (reasons ``wrong_type``, ``bad_shape``,
``bad_base64``, ``non_finite``, ``out_of_bounds``; an optional field's unreadable value is
flagged ``wrong_type`` and served as missing, a NaN row).

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [
...     {"name": "age", "path": "f.age", "type": "numeric", "range": [0, 120]},
...     {"name": "region", "type": "categorical", "optional": True}]}, EventSchema)
>>> decoder = SchemaDecoder(schema, vocabularies={"region": CategoryVocabulary(["n", "s"])})
>>> batch = decoder.decode_batch([b'{"event_id": "a", "f": {"age": 31}, "region": "s"}',
...                               b'{"event_id": "b", "f": {"age": 130}}',
...                               b'{"event_id": "c", "f": {"age": "old"}}'],
...                              topic="t", partition=0, offsets=[0, 1, 2])
>>> batch.numeric.tolist(), batch.categorical.tolist(), batch.quality_counts()
([[31.0], [130.0]], [[1], [4]], {'age': {'out_of_range': 1}, 'region': {'missing': 1}})
>>> [(d.reason, d.detail) for d in batch.dead_letters]
[('wrong_type', "field 'age' (f.age): a number is expected, got str")]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from driftline.dataloader.field_values import QUALITY_FLAGS, CategoryVocabulary
from driftline.dataloader.json_path import parse_path, path_column, trie_of, unknown_key
from driftline.dataloader.schema import (
    ARRAY_FIELD_TYPES,
    CategoricalField,
    EventIdSpec,
    EventSchema,
    NumericField,
)
from driftline.executor.decoded import DeadLetter
from driftline.executor.schema_columns import (
    array_column,
    boolean_column,
    categorical_column,
    class_column,
    event_id_column,
    event_time_column,
    numeric_column,
    score_column,
)
from driftline.executor.schema_parse import (
    RecordError,
    parse_event,
    parse_events,
)

__all__ = ["REASONS", "CategoryVocabulary", "DeadLetter", "DecodedBatch", "SchemaDecoder",
           "SchemaEvent"]

#: every ``DeadLetter.reason`` this decoder produces
REASONS = (
    "empty", "too_large", "bad_encoding", "not_json", "too_deep", "duplicate_key", "not_object",
    "unknown_field", "bad_metadata", "missing_field", "bad_event_id", "bad_timestamp",
    "wrong_type", "non_finite", "out_of_bounds", "bad_shape", "bad_base64", "bad_prediction",
    "bad_score", "bad_label", "invalid",
)
_NO_VECTORS: Mapping[str, np.ndarray] = MappingProxyType({})


class SchemaEvent(NamedTuple):
    """One decoded event (see :class:`DecodedBatch` for the meaning of each value)."""

    event_id: str
    event_time: float
    numeric: np.ndarray
    categorical: np.ndarray
    flags: np.ndarray
    prediction: int
    score: float
    label: int
    topic: str
    partition: int
    offset: int
    vectors: Mapping[str, np.ndarray] = _NO_VECTORS


class DecodedBatch(NamedTuple):
    """The accepted events of a batch as columns, and the rejected ones as dead letters.

    ``numeric`` is ``(n, len(numeric_names))`` float64 (numeric and boolean fields in schema
    order, booleans as 0.0/1.0, NaN where there is no valid value); ``categorical`` is
    ``(n, len(categorical_names))`` int32 codes of ``vocabularies``; ``flags`` is
    ``(n, len(field_names))`` uint8 bits of :data:`~dataloader.field_values.QUALITY_FLAGS`;
    ``prediction`` and ``label`` are class indices (-1: none), ``score`` float (NaN: none),
    ``event_time`` seconds since the epoch (NaN: none). ``vectors`` holds per vector or image
    field (``vector_names``) an ``(n, size)`` float32 block (a NaN row: no valid value).
    """

    event_ids: list[str]
    event_time: np.ndarray
    numeric: np.ndarray
    categorical: np.ndarray
    flags: np.ndarray
    prediction: np.ndarray
    score: np.ndarray
    label: np.ndarray
    offsets: np.ndarray
    topic: str
    partition: int
    field_names: list[str]
    numeric_names: list[str]
    categorical_names: list[str]
    dead_letters: list[DeadLetter]
    vectors: Mapping[str, np.ndarray] = _NO_VECTORS

    @property
    def vector_names(self) -> list[str]:
        """The vector and image fields, in schema order."""
        return list(self.vectors)

    def __len__(self) -> int:
        return len(self.event_ids)

    def flagged(self, flag: str) -> np.ndarray:
        """``(n, n_fields)`` bool: which fields carry quality flag ``flag`` (a
        :data:`~dataloader.field_values.QUALITY_FLAGS` name)."""
        return (self.flags & QUALITY_FLAGS[flag]) != 0

    def quality_counts(self) -> dict[str, dict[str, int]]:
        """``{field: {flag: count}}`` over the batch (only non-zero counts)."""
        out: dict[str, dict[str, int]] = {}
        for flag, bit in QUALITY_FLAGS.items():
            counts = np.count_nonzero(self.flags & bit, axis=0)
            for j in np.flatnonzero(counts):
                out.setdefault(self.field_names[j], {})[flag] = int(counts[j])
        return {name: out[name] for name in self.field_names if name in out}


class SchemaDecoder:
    """Decode the events of ``schema`` (see the module docstring).

    Parameters
    ----------
    schema : EventSchema
        The validated schema.
    vocabularies : mapping of str to CategoryVocabulary, optional
        Codes of each categorical field (default: its declared categories, else none known:
        every value gets the "other" code and nothing is called unseen).
    ranges : mapping of str to (low, high), optional
        Reference range of numeric fields without a declared range (the profile's min/max).
    """

    def __init__(self, schema: EventSchema, *,
                 vocabularies: Mapping[str, CategoryVocabulary] | None = None,
                 ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.schema = schema
        self.max_bytes = schema.max_bytes
        vocabularies = dict(vocabularies or {})
        self._ranges = dict(ranges or {})
        unknown = sorted((set(vocabularies) | set(self._ranges)) - set(schema.field_names))
        if unknown:
            raise ValueError(f"vocabularies/ranges name unknown field {unknown[0]!r}")
        self.field_names = schema.field_names
        self.numeric_names = [f.name for f in schema.fields
                              if not isinstance(f, (CategoricalField, *ARRAY_FIELD_TYPES))]
        self.categorical_names = [f.name for f in schema.fields
                                  if isinstance(f, CategoricalField)]
        self.vocabularies: dict[str, CategoryVocabulary] = {
            f.name: vocabularies.get(f.name) or CategoryVocabulary(
                f.categories or (), complete=f.categories is not None)
            for f in schema.fields if isinstance(f, CategoricalField)}
        outputs = schema.outputs
        self.class_names = list(outputs.classes or [])
        self._class_index = {name: i for i, name in enumerate(self.class_names)}
        self._inline_label = outputs.label is not None and outputs.label.topic is None
        self._trie = trie_of([path for _, path in schema.located()])

    @classmethod
    def from_profile(cls, schema: EventSchema, profile: Any) -> SchemaDecoder:
        """A decoder whose vocabularies and reference ranges come from a
        :class:`model.profile.ReferenceProfile` built for ``schema``."""
        known = set(schema.field_names)
        vocabularies = {name: entry.vocabulary() for name, entry in profile.categorical.items()
                        if name in known}
        ranges = {}
        if profile.quantile_levels[0] == 0.0 and profile.quantile_levels[-1] == 1.0:
            ranges = {name: (float(values[0]), float(values[-1]))
                      for name, values in profile.quantiles.items() if name in known}
        return cls(schema, vocabularies=vocabularies, ranges=ranges)

    def decode(self, value: bytes | None, *, key: bytes | None = None, topic: str,
               partition: int, offset: int, timestamp_ms: int | None = None,
               ) -> SchemaEvent | DeadLetter:
        """Decode one record; never raises (a failure is a :class:`DeadLetter`)."""
        batch = self.decode_batch([value], topic=topic, partition=partition, offsets=[offset],
                                  timestamps_ms=[timestamp_ms], keys=[key])
        if batch.dead_letters:
            return batch.dead_letters[0]
        return SchemaEvent(batch.event_ids[0], float(batch.event_time[0]), batch.numeric[0],
                           batch.categorical[0], batch.flags[0], int(batch.prediction[0]),
                           float(batch.score[0]), int(batch.label[0]), topic, partition, offset,
                           {name: block[0] for name, block in batch.vectors.items()})

    def decode_batch(self, values: Sequence[bytes | None], *, topic: str, partition: int,
                     offsets: Sequence[int], timestamps_ms: Sequence[int | None] | None = None,
                     keys: Sequence[bytes | None] | None = None) -> DecodedBatch:
        """Decode the records of one partition; never raises."""
        n = len(values)
        if timestamps_ms is None:
            timestamps_ms = [None] * n
        offsets = list(offsets)
        if len(offsets) != n:
            offsets = (offsets + [None] * n)[:n]
        bad_metadata = _bad_metadata(partition, offsets, timestamps_ms)
        docs, rows, rejects = parse_events(
            values if not bad_metadata else [None if i in bad_metadata else v
                                             for i, v in enumerate(values)], self.max_bytes)
        rejects.update(bad_metadata)  # their values were blanked: they are not in rows
        if self.schema.unknown_fields == "error":
            for k, doc in enumerate(docs):
                where = unknown_key(doc, self._trie)
                if where is not None:
                    rejects[rows[k]] = ("unknown_field", f"unknown key {where}")
            kept = [k for k, i in enumerate(rows) if i not in rejects]
            docs, rows = [docs[k] for k in kept], [rows[k] for k in kept]
        try:
            columns = self._columns(docs, [timestamps_ms[i] for i in rows])
        except Exception as exc:  # the decoder must never take the executor down
            for i in rows:
                rejects[i] = ("invalid", f"{type(exc).__name__}: {exc}"[:500])
            rows, columns = [], self._columns([], [])
        return self._batch(columns, rows, rejects, values, offsets, timestamps_ms, keys, topic,
                           partition)

    def _columns(self, docs: list[dict[str, Any]], timestamps_ms: list[int | None],
                 ) -> tuple[Any, ...]:
        """Typed columns of parsed events; their rejects are keyed by position in ``docs``."""
        n = len(docs)
        schema, outputs = self.schema, self.schema.outputs
        cache: dict[tuple[Any, ...], list[Any]] = {}
        rejects: dict[int, tuple[str, str]] = {}
        ids = event_id_column(schema.event_id,
                              path_column(schema.event_id.json_path, docs, cache), rejects)
        flags = np.zeros((n, len(self.field_names)), dtype=np.uint8)
        numeric = np.empty((n, len(self.numeric_names)))
        codes = np.empty((n, len(self.categorical_names)), dtype=np.int32)
        vectors: dict[str, np.ndarray] = {}
        i_numeric = i_codes = 0
        for j, spec in enumerate(schema.fields):
            raw = path_column(spec.json_path, docs, cache)
            column_flags = flags[:, j]
            if isinstance(spec, ARRAY_FIELD_TYPES):
                vectors[spec.name] = array_column(spec, raw, column_flags, rejects)
            elif isinstance(spec, CategoricalField):
                codes[:, i_codes] = categorical_column(spec, raw, self.vocabularies[spec.name],
                                                       column_flags, rejects)
                i_codes += 1
            elif isinstance(spec, NumericField):
                numeric[:, i_numeric] = numeric_column(spec, raw, column_flags, rejects,
                                                       self._ranges.get(spec.name))
                i_numeric += 1
            else:
                numeric[:, i_numeric] = boolean_column(spec, raw, column_flags, rejects)
                i_numeric += 1
        time_spec = schema.event_time
        times = event_time_column(time_spec, None if time_spec is None else path_column(
            time_spec.json_path, docs, cache), timestamps_ms, rejects)
        prediction = label = np.full(n, -1, dtype=np.int64)
        score = np.full(n, math.nan)
        if outputs.prediction is not None:
            prediction = class_column("prediction", path_column(
                outputs.prediction.json_path, docs, cache), self._class_index,
                not outputs.prediction.optional, "bad_prediction", rejects)
        if outputs.score is not None:
            score = score_column(path_column(outputs.score.json_path, docs, cache),
                                 not outputs.score.optional, rejects)
        if self._inline_label:
            label = class_column("label", path_column(outputs.label.json_path, docs, cache),  # type: ignore[union-attr]
                                 self._class_index, False, "bad_label", rejects)
        return ids, times, numeric, codes, flags, prediction, score, label, vectors, rejects

    def _batch(self, columns: tuple[Any, ...], rows: list[int], rejects: dict[int, Any],
               values: Sequence[Any], offsets: Sequence[Any], timestamps_ms: Sequence[Any],
               keys: Sequence[Any] | None, topic: str, partition: int) -> DecodedBatch:
        ids, times, numeric, codes, flags, prediction, score, label, vectors, late = columns
        for position, rejection in late.items():
            rejects[rows[position]] = rejection
        keep = np.array([i not in rejects for i in rows], dtype=bool)
        dead = [_dead(*rejects[i], values[i], keys[i] if keys is not None else None, topic,
                      partition, offsets[i], timestamps_ms[i])
                for i in sorted(rejects)]
        return DecodedBatch(
            event_ids=[event_id for event_id, k in zip(ids, keep, strict=True) if k],
            event_time=times[keep], numeric=numeric[keep], categorical=codes[keep],
            flags=flags[keep], prediction=prediction[keep], score=score[keep],
            label=label[keep],
            offsets=np.array([offsets[i] for i, k in zip(rows, keep, strict=True) if k],
                             dtype=np.int64),
            topic=topic, partition=partition, field_names=list(self.field_names),
            numeric_names=list(self.numeric_names),
            categorical_names=list(self.categorical_names), dead_letters=dead,
            vectors={name: block[keep] for name, block in vectors.items()})

    def decode_label(self, value: bytes | None) -> tuple[str, int] | tuple[None, str]:
        """``(event_id, class index)`` of a message on the schema's labels topic (the event id
        at ``outputs.label.key_path``, default ``event_id``; the class at ``outputs.label.path``),
        or ``(None, reason)`` when the message is not a valid label."""
        spec = self.schema.outputs.label
        if spec is None or spec.topic is None:
            raise ValueError("the schema has no labels topic (outputs.label.topic)")
        try:
            data = parse_event(value, self.max_bytes)
        except RecordError as problem:
            return None, problem.reason
        cache: dict[tuple[Any, ...], list[Any]] = {}
        rejects: dict[int, tuple[str, str]] = {}
        ids = event_id_column(EventIdSpec(path=spec.key_path or "event_id"),
                              path_column(parse_path(spec.key_path or "event_id"), [data], cache),
                              rejects)
        if rejects:
            return None, rejects[0][0]
        labels = class_column("label", path_column(spec.json_path, [data], cache),
                              self._class_index, True, "bad_label", rejects)
        if rejects:
            return None, rejects[0][0]
        return ids[0], int(labels[0])


def _bad_metadata(partition: Any, offsets: Sequence[Any], timestamps_ms: Sequence[Any],
                  ) -> dict[int, tuple[str, str]]:
    """``{position: ("bad_metadata", detail)}`` of records with an invalid partition, offset or
    timestamp."""
    out: dict[int, tuple[str, str]] = {}
    if type(partition) is not int or partition < 0:
        detail = f"partition must be an integer >= 0, got {partition!r}"
        return {i: ("bad_metadata", detail) for i in range(len(offsets))}
    for i, (offset, timestamp_ms) in enumerate(zip(offsets, timestamps_ms, strict=True)):
        if type(offset) is not int or offset < 0:
            out[i] = ("bad_metadata", f"offset must be an integer >= 0, got {offset!r}")
        elif timestamp_ms is not None and type(timestamp_ms) is not int:
            out[i] = ("bad_metadata", f"timestamp_ms must be an int or None, got "
                      f"{timestamp_ms!r}")
    return out


def _dead(reason: str, detail: str, value: Any, key: Any, topic: Any, partition: Any,
          offset: Any, timestamp_ms: Any) -> DeadLetter:
    def as_bytes(raw: Any) -> bytes | None:
        if raw is None or isinstance(raw, bytes):
            return raw
        if isinstance(raw, bytearray | memoryview):
            return bytes(raw)
        return repr(raw).encode("utf-8", "replace")

    def as_int(number: Any) -> int:
        return number if type(number) is int else -1

    return DeadLetter(reason, detail, as_bytes(value), as_bytes(key), str(topic),
                      as_int(partition), as_int(offset),
                      timestamp_ms if type(timestamp_ms) is int else None)
