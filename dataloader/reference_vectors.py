"""Vector and image fields in reference files: each field's rows as an ``(n, size)`` float32
block (NaN rows: no value), read strictly -- the reference defines "normal", so a value the
event decoder would dead-letter is a :class:`ReferenceDataError`-style error naming the file,
the field and the row.

How a field's column may be stored:

* JSON Lines: like the events (:mod:`dataloader.vector_values`, the decoder's own reader);
* CSV, or a Parquet string column: one text per cell -- a JSON array (``encoding: array``) or
  the base64 text of the field's encoding;
* Parquet list columns (``list``, ``large_list``, ``fixed_size_list``; images nested per
  dimension or flat): numbers, read without Python objects;
* Parquet binary columns (``encoding: base64_*``): the raw bytes that the base64 text encodes.

Example
-------
>>> import pyarrow as pa
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import VectorField
>>> spec = build_config({"name": "e", "type": "vector", "length": 2, "optional": True},
...                     VectorField)
>>> arrow_block(pa.array([[1.0, 2.0], None, [3.0, 4.5]]), spec, 0, "ref.parquet",
...             ValueError).tolist()
[[1.0, 2.0], [nan, nan], [3.0, 4.5]]
>>> arrow_block(pa.array(["[1, 2]", "[3]"]), spec, 0, "ref.csv", ValueError)
Traceback (most recent call last):
...
ValueError: ref.csv: column 'e' of field 'e': data row 2: 1 values, expected 2
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from driftline.dataloader.field_values import NonFinite
from driftline.dataloader.schema import ImageField, VectorField
from driftline.dataloader.vector_values import array_block

__all__ = ["arrow_block", "present_block"]

ArrayField = VectorField | ImageField
_RAW_DTYPES = {"base64_float32": np.dtype("<f4"), "base64_uint8": np.dtype(np.uint8)}


def _where(spec: ArrayField, path: str, start: int, row: int) -> str:
    column = spec.reference_column
    return f"{path}: column {column!r} of field {spec.name!r}: data row {start + row + 1}"


def present_block(spec: ArrayField, column: list[Any], present: list[int], n: int,
                  fail: Any) -> np.ndarray:
    """The ``(n, size)`` block of the JSON values ``column`` at rows ``present`` (the others
    missing); ``fail(row, message)`` builds the error raised for the first unreadable value."""
    block = np.full((n, spec.size), np.nan, dtype=np.float32)
    values, problems = array_block(spec, column)
    if problems:
        k = min(problems)
        raise fail(present[k], str(problems[k]))
    block[present] = values
    return block


def _check_missing(spec: ArrayField, missing: np.ndarray, where: Any,
                   error: type[Exception]) -> None:
    if not spec.optional and missing.any():
        raise error(f"{where(int(np.flatnonzero(missing)[0]))} has no value, but the field is "
                    "not optional")


def _texts(array: Any, spec: ArrayField, where: Any, error: type[Exception]) -> np.ndarray:
    items = array.to_pylist()
    present = [row for row, item in enumerate(items) if item is not None]
    _check_missing(spec, np.array([item is None for item in items], dtype=bool), where, error)
    column: list[Any] = [items[row] for row in present]
    if spec.encoding == "array":
        for k, text in enumerate(column):
            try:
                column[k] = json.loads(text, parse_constant=NonFinite)
            except ValueError as exc:
                raise error(f"{where(present[k])}: not a JSON array: {exc}") from None
    return present_block(spec, column, present, len(items),
                         lambda row, message: error(f"{where(row)}: {message}"))


def _raw_bytes(array: Any, spec: ArrayField, where: Any, error: type[Exception]) -> np.ndarray:
    dtype = _RAW_DTYPES.get(spec.encoding)
    if dtype is None:
        raise error(f"{where(0).rsplit(': data row', 1)[0]}: has type {array.type}; raw bytes "
                    "need encoding base64_float32 or base64_uint8")
    items = array.to_pylist()
    expected = spec.size * dtype.itemsize
    block = np.full((len(items), spec.size), np.nan, dtype=np.float32)
    _check_missing(spec, np.array([item is None for item in items], dtype=bool), where, error)
    for row, item in enumerate(items):
        if item is None:
            continue
        if len(item) != expected:
            raise error(f"{where(row)}: {len(item)} bytes, expected {expected}")
        block[row] = np.frombuffer(item, dtype=dtype)
    bad = ~np.isfinite(block).all(axis=1) & np.array([i is not None for i in items], dtype=bool)
    if bad.any():
        raise error(f"{where(int(np.flatnonzero(bad)[0]))}: a value is not a finite number")
    return block


def _numbers(array: Any, spec: ArrayField, where: Any, error: type[Exception]) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(array)
    missing = array.is_null().to_numpy(zero_copy_only=False)
    _check_missing(spec, missing, where, error)
    owner = np.arange(n)
    level = array
    dims = spec.dims if pa.types.is_list(level.type.value_type) or pa.types.is_large_list(
        level.type.value_type) or pa.types.is_fixed_size_list(level.type.value_type) else (
        spec.size,)
    for depth, extent in enumerate(dims):
        if not (pa.types.is_list(level.type) or pa.types.is_large_list(level.type)
                or pa.types.is_fixed_size_list(level.type)):
            raise error(f"{where(int(owner[0]) if owner.size else 0)}: nested {depth} deep, "
                        f"expected arrays of shape {list(spec.dims)}")
        lengths = pc.list_value_length(level).fill_null(extent).to_numpy(zero_copy_only=False)
        nulls = level.is_null().to_numpy(zero_copy_only=False)
        wrong = (lengths != extent) & ~nulls
        if depth and nulls.any():
            raise error(f"{where(int(owner[np.flatnonzero(nulls)[0]]))}: an inner array is "
                        "null")
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise error(f"{where(int(owner[k]))}: {int(lengths[k])} values, expected {extent}"
                        + (f" (shape {list(spec.dims)})" if len(dims) > 1 else ""))
        keep = ~nulls
        owner = np.repeat(owner[keep], extent)
        level = pc.list_flatten(level.filter(pa.array(keep)))
    if not (pa.types.is_integer(level.type) or pa.types.is_floating(level.type)):
        raise error(f"{where(0).rsplit(': data row', 1)[0]}: has elements of type {level.type}, "
                    "expected numbers")
    if level.null_count:
        k = int(np.flatnonzero(level.is_null().to_numpy(zero_copy_only=False))[0])
        raise error(f"{where(int(owner[k]))}: element {k % spec.size} is null")
    values = level.cast(pa.float64()).to_numpy(zero_copy_only=False)
    big = ~(np.abs(values) <= float(np.finfo(np.float32).max))
    if big.any():
        k = int(np.flatnonzero(big)[0])
        raise error(f"{where(int(owner[k]))}: element {k % spec.size} = "
                    f"{float(values[k])!r} is not a finite float32 number")
    block = np.full((n, spec.size), np.nan, dtype=np.float32)
    block[~missing] = values.reshape(-1, spec.size)
    bounds = getattr(spec, "range", None)
    if bounds is not None:
        outside = ((block < bounds[0]) | (block > bounds[1])).any(axis=1)
        if outside.any():
            raise error(f"{where(int(np.flatnonzero(outside)[0]))}: a pixel is outside "
                        f"[{bounds[0]}, {bounds[1]}]")
    return block


def arrow_block(array: Any, spec: ArrayField, start: int, path: str,
                error: type[Exception]) -> np.ndarray:
    """The ``(len(array), size)`` float32 block of an Arrow column holding a vector or image
    field (see the module docstring for the accepted column types)."""
    import pyarrow as pa

    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    kind = array.type

    def where(row: int) -> str:
        return _where(spec, path, start, row)

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _texts(array, spec, where, error)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or (
            pa.types.is_fixed_size_binary(kind)):
        return _raw_bytes(array, spec, where, error)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(
            kind):
        return _numbers(array, spec, where, error)
    raise error(f"{path}: column {spec.reference_column!r} of field {spec.name!r}: has type "
                f"{kind}, expected arrays of numbers, texts or bytes")

