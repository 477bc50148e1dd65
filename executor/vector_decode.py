"""Decoding events that carry vector or image fields: :class:`VectorEventDecoder`.

The wire format is the executor's (:mod:`executor.decode`) with the vector and image fields of
the model's schema inside ``features`` next to the numeric ones::

    {"event_id": "d-17", "features": {"pixels": [[0, 3, ...], ...]}, "label": 7}

A vector field's value is read exactly as the reference readers and the schema decoder read it
(:func:`dataloader.vector_values.array_value`: nested arrays of the declared shape, or base64 of
float32 / uint8 under the field's ``encoding``), so a value of the wrong length or nesting is
dead-lettered as ``bad_shape``, a NaN or infinity as ``non_finite``, a pixel outside the image's
``range`` as ``out_of_bounds``, bad base64 as ``bad_base64``, a non-number as ``wrong_type``;
the decoded event keeps the values as float32 rows in ``DecodedEvent.vectors`` (schema order).
Everything else (event id, label, timestamp, numeric features, duplicate keys, size) is checked
as by :class:`executor.decode.EventDecoder`, with the same reasons.

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import ImageField
>>> image = build_config({"name": "im", "type": "image", "shape": [2, 2], "range": [0, 16]},
...                      ImageField)
>>> decoder = VectorEventDecoder([], [image], n_classes=10)
>>> event = decoder.decode(b'{"event_id": "a", "features": {"im": [[0, 1], [2, 3]]}, '
...                        b'"label": 4}', topic="t", partition=0, offset=0, timestamp_ms=None)
>>> event.vectors[0].tolist(), event.features.shape, event.label
([0.0, 1.0, 2.0, 3.0], (0,), 4)
>>> [decoder.decode(value, topic="t", partition=0, offset=1, timestamp_ms=None).reason
...  for value in (b'{"event_id": "b", "features": {"im": [[0, 1]]}}',
...                b'{"event_id": "c", "features": {"im": [[0, 1], [2, 99]]}}',
...                b'{"event_id": "d", "features": {}}')]
['bad_shape', 'out_of_bounds', 'missing_feature']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.dataloader.field_values import FieldValueError
from driftline.dataloader.schema import ImageField, VectorField
from driftline.dataloader.vector_values import array_value
from driftline.executor.decode import EventDecoder, _EventError
from driftline.executor.decoded import DeadLetter, DecodedEvent

__all__ = ["VectorEventDecoder"]

_TOP_LEVEL = frozenset({"event_id", "timestamp", "features", "label"})


class VectorEventDecoder(EventDecoder):
    """An :class:`executor.decode.EventDecoder` whose events also carry ``vector_fields``
    (vector and image fields of the schema, see the module docstring).

    Parameters
    ----------
    feature_names : sequence of str
        Numeric features (may be empty), in the column order of ``DecodedEvent.features``.
    vector_fields : sequence of VectorField or ImageField
        The vector and image fields, in the order of ``DecodedEvent.vectors``.
    **options
        As for :class:`EventDecoder` (``max_bytes`` defaults to 4 MiB here: a 768-d embedding
        written as JSON numbers takes ~15 kB, a 224x224x3 image ~600 kB).
    """

    def __init__(self, feature_names: Sequence[str],
                 vector_fields: Sequence[VectorField | ImageField], **options: Any) -> None:
        if not vector_fields:
            raise ValueError("vector_fields must name at least one vector or image field "
                             "(use EventDecoder otherwise)")
        numeric = [str(n) for n in feature_names]
        names = [f.name for f in vector_fields]
        options.setdefault("max_bytes", 4 * 1024 * 1024)
        super().__init__([*numeric, *names], **options)
        if options.get("bounds") and set(options["bounds"]) & set(names):
            raise ValueError("bounds apply to numeric features, not to vector fields")
        # from here on ``feature_names`` are the numeric ones (what ``features`` holds)
        self.feature_names = numeric
        self._index = {name: j for j, name in enumerate(numeric)}
        self._accept = [entry for entry in self._accept if entry[0] in self._index]
        self.vector_fields = list(vector_fields)
        self._vector_names = frozenset(names)
        self._n_base64 = sum(f.encoding != "array" for f in vector_fields)

    def decode(self, value: bytes | None, *, key: bytes | None = None, topic: str,
               partition: int, offset: int, timestamp_ms: int | None,
               ) -> DecodedEvent | DeadLetter:
        """Decode one record; never raises (every failure is a :class:`DeadLetter`)."""
        try:
            self._check_metadata(partition, offset, timestamp_ms)
            parsed = self._fast_parse(value)
            event_id, (row, vectors), label, timestamp = (
                self._validate(parsed) if parsed is not None else self._parse(value))
        except _EventError as rejection:
            return self._dead(rejection.reason, rejection.detail, value, key, topic, partition,
                              offset, timestamp_ms)
        except Exception as exc:  # the decoder must never take the executor down
            return self._dead("invalid", f"{type(exc).__name__}: {exc}"[:500], value, key, topic,
                              partition, offset, timestamp_ms)
        if timestamp is None:
            timestamp = timestamp_ms / 1000.0 if timestamp_ms is not None else math.nan
        return DecodedEvent(event_id, row, label, timestamp, topic, partition, offset, vectors)

    def _fast_parse(self, value: Any) -> dict[str, Any] | None:
        """The parsed object when orjson reads it and it cannot hide a duplicate key: no
        backslash, and its strings are exactly its keys, the event id and the base64 values
        (every ``"`` then delimits one of them); otherwise ``None`` (the strict path)."""
        if type(value) is not bytes or not 0 < len(value) <= self.max_bytes or b"\\" in value:
            return None
        try:
            data = self._loads(value)
        except Exception:
            return None
        if type(data) is not dict or not data.keys() <= _TOP_LEVEL:
            return None
        raw = data.get("features")
        if type(raw) is not dict or type(data.get("event_id")) is not str:
            return None
        if value.count(b'"') != 2 * (len(data) + len(raw) + 1 + self._n_base64):
            return None
        return data

    def _features(self, raw: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:  # type: ignore[override]
        if not isinstance(raw, dict):
            raise _EventError("not_features",
                              f"features must be an object, got {type(raw).__name__}")
        vectors = []
        for spec in self.vector_fields:
            if spec.name not in raw:
                raise _EventError("missing_feature", f"feature {spec.name!r} is missing")
            try:
                vectors.append(array_value(spec, raw[spec.name]))
            except FieldValueError as problem:
                raise _EventError(problem.kind, f"feature {spec.name!r}: {problem}") from None
        numeric = {k: v for k, v in raw.items() if k not in self._vector_names}
        return super()._features(numeric), tuple(vectors)
