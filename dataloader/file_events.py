"""A data file's rows as the JSON events an event schema describes, for replaying them.

:func:`read_event_rows` reads a CSV, Parquet or JSON Lines file exactly as ``driftline profile``
reads a reference file (:class:`dataloader.reference_reader.ReferenceReader`: the same columns,
types and one-line errors naming the file, the field and the row) and gives its rows as
:class:`EventRows`, column by column: numeric and boolean fields as float64 (NaN: no value),
categorical fields as object arrays (``None``: no value), and the outputs the schema declares
(predicted class, score, label). :class:`EventWriter` turns rows into event documents: every
value at its field's ``path`` (nested objects and array indices are created as needed; a
missing value is left out, as a producer would), an event id and an event time in the schema's
unit, predictions and labels as class names.

Example
-------
>>> import tempfile, pathlib
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"event_time": {"path": "meta.ts", "unit": "ms"},
...     "fields": [{"name": "x", "path": "f.x", "type": "numeric"},
...                {"name": "c", "path": "f.c", "type": "categorical", "optional": True}],
...     "outputs": {"classes": ["no", "yes"], "label": {"column": "y"}}}, EventSchema)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "rows.csv"
...     _ = path.write_text("x,c,y\\n1.5,a,1\\n2,,no\\n")
...     rows = EventRows.concat(list(read_event_rows(path, schema)))
>>> rows.numeric["x"].tolist(), rows.categories["c"].tolist(), rows.label.tolist()
([1.5, 2.0], ['a', None], [1, 0])
>>> writer = EventWriter(schema, id_prefix="r", start_time=10.0, interval_s=0.5)
>>> writer.documents(rows, np.arange(2))[1]
{'event_id': 'r-0000001', 'meta': {'ts': 10500}, 'f': {'x': 2.0}, 'label': 'no'}
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from driftline.dataloader.field_values import UNIT_SECONDS
from driftline.dataloader.reference_reader import ReferenceDataError, ReferenceReader
from driftline.dataloader.schema import BooleanField, CategoricalField, EventSchema

__all__ = ["EventRows", "EventWriter", "put_at_path", "read_event_rows"]


@dataclass
class EventRows:
    """Rows of a file as columns (see the module docstring); ``prediction`` and ``label`` are
    class indices (-1: none), ``score`` float (NaN: none), each ``None`` when not read."""

    n_rows: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categories: dict[str, np.ndarray] = field(default_factory=dict)
    prediction: np.ndarray | None = None
    score: np.ndarray | None = None
    label: np.ndarray | None = None

    def take(self, index: np.ndarray) -> EventRows:
        """The rows at ``index``, in that order."""
        def part(column: np.ndarray | None) -> np.ndarray | None:
            return None if column is None else column[index]

        return EventRows(len(index), {k: v[index] for k, v in self.numeric.items()},
                         {k: v[index] for k, v in self.categories.items()},
                         part(self.prediction), part(self.score), part(self.label))

    def copy(self) -> EventRows:
        """A copy whose columns can be changed (drift injection) without touching these."""
        return self.take(np.arange(self.n_rows))

    @staticmethod
    def concat(parts: Sequence[EventRows]) -> EventRows:
        """The rows of ``parts`` one after the other (at least one part)."""
        first = parts[0]

        def joined(getter: Any) -> np.ndarray | None:
            columns = [getter(p) for p in parts]
            return None if columns[0] is None else np.concatenate(columns)

        return EventRows(
            sum(p.n_rows for p in parts),
            {k: np.concatenate([p.numeric[k] for p in parts]) for k in first.numeric},
            {k: np.concatenate([p.categories[k] for p in parts]) for k in first.categories},
            joined(lambda p: p.prediction), joined(lambda p: p.score), joined(lambda p: p.label))


def read_event_rows(path: str | Path, schema: EventSchema, *, chunk_rows: int = 65_536,
                    delimiter: str | None = None) -> Iterator[EventRows]:
    """The rows of ``path`` chunk by chunk; :class:`ReferenceDataError` (one line) when the
    file does not match ``schema`` or has no rows."""
    reader = ReferenceReader(path, schema, chunk_rows=chunk_rows, delimiter=delimiter,
                             keep_category_values=True)
    n_rows = 0
    for chunk in reader.chunks():
        categories = {}
        for name, values in chunk.category_values.items():
            column = np.empty(len(values), dtype=object)
            column[:] = values
            categories[name] = column
        n_rows += chunk.n_rows
        yield EventRows(chunk.n_rows, dict(chunk.numeric), categories, chunk.prediction,
                        chunk.score, chunk.label)
    if n_rows == 0:
        raise ReferenceDataError(f"{reader.path}: no data rows")


def put_at_path(document: dict[str, Any], parts: Sequence[str | int], value: Any) -> None:
    """Set ``value`` at the path ``parts`` of ``document``, creating objects (for keys) and
    arrays (for indices, padded with ``null``) on the way."""
    node: Any = document
    for part, following in itertools.pairwise(parts):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            node.extend([None] * (part + 1 - len(node)))
            if node[part] is None:
                node[part] = empty
            node = node[part]
        else:
            node = node.setdefault(part, empty)
    last = parts[-1]
    if isinstance(last, int):
        node.extend([None] * (last + 1 - len(node)))
    node[last] = value


class EventWriter:
    """Event documents of ``schema`` from :class:`EventRows`.

    Parameters
    ----------
    schema : EventSchema
        Where each value goes.
    id_prefix : str
        Event ids are ``<id_prefix>-<position>`` (position in replay order, 7 digits).
    start_time, interval_s : float
        The event at position ``i`` happened at ``start_time + i * interval_s`` seconds since
        the epoch (written in the schema's ``event_time.unit``; no time without
        ``event_time``).
    """

    def __init__(self, schema: EventSchema, *, id_prefix: str, start_time: float,
                 interval_s: float) -> None:
        if not id_prefix:
            raise ValueError("id_prefix must not be empty")
        self.schema = schema
        self.id_prefix = id_prefix
        self.start_time = float(start_time)
        self.interval_s = float(interval_s)
        self._id_parts = schema.event_id.json_path.parts
        time_spec = schema.event_time
        self._time_parts = None if time_spec is None else time_spec.json_path.parts
        self._time_unit = None if time_spec is None else time_spec.unit
        self._fields = [(spec.name, spec.json_path.parts, isinstance(spec, CategoricalField),
                         isinstance(spec, BooleanField)) for spec in schema.fields]
        outputs = schema.outputs
        self.classes = list(outputs.classes or [])
        self._outputs = {role: getattr(outputs, role).json_path.parts
                         for role in ("prediction", "score", "label")
                         if getattr(outputs, role) is not None
                         and not (role == "label" and outputs.label.topic is not None)}

    def event_id(self, position: int) -> str:
        """The id of the event at replay ``position``."""
        return f"{self.id_prefix}-{position:07d}"

    def event_time(self, position: int) -> float:
        """Seconds since the epoch of the event at replay ``position``."""
        return self.start_time + position * self.interval_s

    def _time_value(self, seconds: float) -> Any:
        if self._time_unit == "iso8601":
            return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
        value = seconds * UNIT_SECONDS[str(self._time_unit)]
        return int(value) if self._time_unit != "s" and value.is_integer() else value

    def documents(self, rows: EventRows, positions: np.ndarray) -> list[dict[str, Any]]:
        """One event document per row; ``positions`` are the rows' replay positions."""
        columns = []
        for name, parts, categorical, boolean in self._fields:
            if categorical:
                columns.append((parts, rows.categories[name].tolist(), None))
            else:
                values = rows.numeric[name]
                missing = np.isnan(values)
                listed = (values != 0.0).tolist() if boolean else values.tolist()
                columns.append((parts, listed, missing.tolist()))
        outputs = []
        for role, parts in self._outputs.items():
            column = getattr(rows, role)
            if column is None:
                continue
            if role == "score":
                outputs.append((parts, [None if v != v else v for v in column.tolist()]))
            else:
                outputs.append((parts, [self.classes[i] if i >= 0 else None
                                        for i in column.tolist()]))
        documents = []
        for row, position in enumerate(positions.tolist()):
            document: dict[str, Any] = {}
            put_at_path(document, self._id_parts, self.event_id(position))
            if self._time_parts is not None:
                put_at_path(document, self._time_parts,
                            self._time_value(self.event_time(position)))
            for parts, values, missing in columns:
                value = values[row]
                if value is None or (missing is not None and missing[row]):
                    continue
                put_at_path(document, parts, value)
            for parts, values in outputs:
                if values[row] is not None:
                    put_at_path(document, parts, values[row])
            documents.append(document)
        return documents
