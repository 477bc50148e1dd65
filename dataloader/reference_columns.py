"""What :mod:`dataloader.reference_reader` reads from each column, and the conversion of an
Arrow record batch (CSV, Parquet) into a :class:`ReferenceChunk`.

Example
-------
>>> import pyarrow as pa
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [{"name": "on", "type": "boolean", "optional": True}],
...                        "outputs": {"classes": ["no", "yes"], "label": {}}}, EventSchema)
>>> batch = pa.record_batch({"on": [True, None, False], "label": ["yes", "1", None]})
>>> chunk = convert_arrow(batch, column_specs(schema), 0, "ref.parquet", ValueError)
>>> chunk.numeric["on"].tolist(), chunk.label.tolist()
([1.0, nan, 0.0], [1, 1, -1])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.dataloader.json_path import JsonPath
from driftline.dataloader.reference_vectors import arrow_block
from driftline.dataloader.schema import (
    ARRAY_FIELD_TYPES,
    CategoricalField,
    EventSchema,
    NumericField,
)

__all__ = ["ColumnSpec", "ReferenceChunk", "class_lookup", "column_specs", "convert_arrow"]

_ARROW_TYPE_WORDS = {"double": "a number", "bool": "true/false", "int64": "an integer",
                     "string": "text"}


@dataclass
class ReferenceChunk:
    """Consecutive reference rows, typed: numeric and boolean fields as float64 (NaN: no
    value), categorical fields as ``({value: count}, n_missing)``, vector and image fields as
    ``(n_rows, size)`` float32 blocks (a NaN row: no value), outputs as class indices (-1: none)
    and scores (NaN: none). ``category_values`` holds each row's category (``None``: no value)
    when the reader was asked to keep them."""

    start_row: int
    n_rows: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categories: dict[str, tuple[dict[Any, int], int]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    prediction: np.ndarray | None = None
    label: np.ndarray | None = None
    score: np.ndarray | None = None
    category_values: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnSpec:
    """One thing read from the reference: a field or an output (``role``)."""

    role: str  # "numeric", "boolean", "categorical", "vector", "prediction", "label", "score"
    name: str  # field name, or the output's role
    column: str
    path: JsonPath
    optional: bool
    what: str  # for messages: "field 'age'" or "outputs.label"
    values: str = "string"  # categorical: "string" or "integer"
    classes: tuple[str, ...] = ()
    array: Any = None  # vector: the VectorField or ImageField

    def csv_type(self) -> Any:
        """The Arrow type CSV values of this column are parsed as."""
        import pyarrow as pa

        if self.role in ("numeric", "score"):
            return pa.float64()
        if self.role == "boolean":
            return pa.bool_()
        if self.role == "categorical" and self.values == "integer":
            return pa.int64()
        return pa.string()

    @staticmethod
    def describe_arrow_type(name: str) -> str:
        """Words for an Arrow type name in an error message."""
        return _ARROW_TYPE_WORDS.get(name, f"of type {name}")


def column_specs(schema: EventSchema) -> list[ColumnSpec]:
    """What to read from the reference for ``schema``, fields first."""
    specs = []
    for spec in schema.fields:
        role = ("numeric" if isinstance(spec, NumericField) else "categorical"
                if isinstance(spec, CategoricalField) else "vector"
                if isinstance(spec, ARRAY_FIELD_TYPES) else "boolean")
        specs.append(ColumnSpec(role, spec.name, spec.reference_column, spec.json_path,
                                spec.optional, f"field {spec.name!r}",
                                getattr(spec, "values", "string"),
                                array=spec if role == "vector" else None))
    outputs = schema.outputs
    classes = tuple(outputs.classes or ())
    for role in ("prediction", "score", "label"):
        output = getattr(outputs, role)
        if output is not None:
            specs.append(ColumnSpec(role, role, output.column or role, output.json_path,
                                    role == "label" or output.optional, f"outputs.{role}",
                                    classes=classes))
    return specs


def class_lookup(classes: tuple[str, ...]) -> dict[Any, int]:
    """Accepted spellings of each class: its name, its index, and the index as text."""
    lookup: dict[Any, int] = {}
    for i in range(len(classes)):
        lookup[i] = lookup[str(i)] = i
    lookup.update({name: i for i, name in enumerate(classes)})
    return lookup


def _fail(error: type[Exception], path: str, spec: ColumnSpec, message: str) -> Exception:
    return error(f"{path}: column {spec.column!r} of {spec.what}: {message}")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def checked_numbers(values: np.ndarray, spec: ColumnSpec, start: int, path: str,
                    error: type[Exception], missing_ok: bool | None = None) -> np.ndarray:
    """``values`` (float64, NaN: missing) after the finite and required checks."""
    infinite = np.isinf(values)
    if infinite.any():
        row = _first(infinite)
        raise _fail(error, path, spec, f"data row {start + row + 1}: {float(values[row])!r} "
                    "is not a finite number")
    optional = spec.optional if missing_ok is None else missing_ok
    if not optional:
        missing = np.isnan(values)
        if missing.any():
            raise _fail(error, path, spec, f"data row {start + _first(missing) + 1} has no "
                        "value, but the field is not optional")
    return values


def _arrow_numbers(array: Any, spec: ColumnSpec, start: int, path: str,
                   error: type[Exception]) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.cast(kind.value_type), kind.value_type
    if spec.role == "boolean":
        if not (pa.types.is_boolean(kind) or pa.types.is_integer(kind)):
            raise _fail(error, path, spec, f"has type {kind}, expected booleans")
        values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        wrong = ~np.isnan(values) & (values != 0.0) & (values != 1.0)
        if wrong.any():
            row = _first(wrong)
            raise _fail(error, path, spec, f"data row {start + row + 1}: "
                        f"{float(values[row])!r} is not true/false (or 0/1)")
        return checked_numbers(values, spec, start, path, error)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)):
        raise _fail(error, path, spec, f"has type {kind}, expected numbers")
    values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    return checked_numbers(np.array(values, dtype=np.float64), spec, start, path, error)


def _arrow_categories(array: Any, spec: ColumnSpec, path: str, error: type[Exception],
                      ) -> tuple[dict[Any, int], int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.cast(kind.value_type), kind.value_type
    wanted = (pa.types.is_integer(kind) if spec.values == "integer" else
              pa.types.is_string(kind) or pa.types.is_large_string(kind))
    if not wanted:
        raise _fail(error, path, spec, f"has type {kind}, expected "
                    f"{'integer' if spec.values == 'integer' else 'string'} categories")
    counted = pc.value_counts(array)
    counts = {value: count for value, count in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
        if value is not None}
    return counts, array.null_count


def _arrow_classes(array: Any, spec: ColumnSpec, start: int, path: str,
                   error: type[Exception]) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    encoded = array.dictionary_encode()
    lookup = class_lookup(spec.classes)
    mapping = []
    for position, value in enumerate(encoded.dictionary.to_pylist()):
        if value is None:  # a column of nulls only (Arrow type null) has a null entry
            mapping.append(-1)
            continue
        index = lookup.get(value) if type(value) in (int, str) else None
        if index is None:
            row = _first(encoded.indices.to_numpy(zero_copy_only=False) == position)
            raise _fail(error, path, spec, f"data row {start + row + 1}: {value!r} is not a "
                        f"class index or one of {list(spec.classes)}")
        mapping.append(index)
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    classes = np.append(np.array(mapping, dtype=np.int64), -1)[indices]
    if not spec.optional and (classes < 0).any():
        raise _fail(error, path, spec, f"data row {start + _first(classes < 0) + 1} has no "
                    "value, but it is not optional")
    return classes


def convert_arrow(batch: Any, specs: list[ColumnSpec], start: int, path: str,
                  error: type[Exception], keep_values: bool = False) -> ReferenceChunk:
    """The typed :class:`ReferenceChunk` of an Arrow record batch (with each row's category
    when ``keep_values``)."""
    chunk = ReferenceChunk(start, batch.num_rows)
    for spec in specs:
        array = batch.column(batch.schema.get_field_index(spec.column))
        if spec.role in ("numeric", "boolean"):
            chunk.numeric[spec.name] = _arrow_numbers(array, spec, start, path, error)
        elif spec.role == "categorical":
            chunk.categories[spec.name] = _arrow_categories(array, spec, path, error)
            if keep_values:
                chunk.category_values[spec.name] = array.to_pylist()
        elif spec.role == "vector":
            chunk.vectors[spec.name] = arrow_block(array, spec.array, start, path, error)
        elif spec.role == "score":
            chunk.score = _arrow_numbers(array, spec, start, path, error)
        else:
            setattr(chunk, spec.role, _arrow_classes(array, spec, start, path, error))
    return chunk
