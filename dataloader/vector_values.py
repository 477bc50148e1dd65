"""Reading the values of vector and image fields, shared by the event decoder and the reference
readers so that both accept exactly the same values.

:func:`array_block` turns a column of present JSON values (one per row; absence is the
caller's business) into an ``(n, size)`` float32 block and the problems of the rows it could not
read: ``{row: FieldValueError}``, whose ``kind`` is the dead-letter reason:

* ``wrong_type`` -- not an array (``encoding: array``) or not a text (base64), or an element that
  is not a number (booleans are not numbers);
* ``bad_shape`` -- an array of the wrong length or nesting, or base64 of the wrong byte count;
* ``bad_base64`` -- a text that is not strict base64;
* ``non_finite`` -- NaN, an infinity, or a number beyond float32's range;
* ``out_of_bounds`` -- an image pixel outside the field's declared ``range``.

A batch whose rows are all well formed is converted by numpy in one step; only a batch with a
problem is looked at row by row. :func:`array_json` is the producer's side: the JSON value of a
row under the field's encoding.

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import ImageField, VectorField
>>> spec = build_config({"name": "v", "type": "vector", "length": 2}, VectorField)
>>> block, problems = array_block(spec, [[1, 2.5], [1, True], [3.0]])
>>> block[0].tolist(), {row: (p.kind, str(p)) for row, p in problems.items()}
([1.0, 2.5], {1: ('wrong_type', 'element 1 is bool, not a number'), 2: ('bad_shape', \
'1 values, expected 2')})
>>> packed = build_config({"name": "v", "type": "vector", "length": 2,
...                        "encoding": "base64_float32"}, VectorField)
>>> array_json(packed, np.array([0.5, -1.0]))
'AAAAPwAAgL8='
>>> array_block(packed, ["AAAAPwAAgL8="])[0].tolist()
[[0.5, -1.0]]
>>> image = build_config({"name": "im", "type": "image", "shape": [2, 2], "range": [0, 16]},
...                      ImageField)
>>> array_block(image, [[[0, 1], [2, 17]]])[1][0].kind
'out_of_bounds'
"""

from __future__ import annotations

import base64
import binascii
from itertools import chain
from typing import Any

import numpy as np

from driftline.dataloader.field_values import FieldValueError, NonFinite
from driftline.dataloader.schema import ImageField, VectorField

__all__ = ["array_block", "array_json", "array_value"]

ArrayField = VectorField | ImageField
_NUMBERS = frozenset({int, float})
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BASE64_DTYPES = {"base64_float32": np.dtype("<f4"), "base64_uint8": np.dtype(np.uint8)}


def _kind_name(value: Any) -> str:
    return "NaN/Infinity" if type(value) is NonFinite else type(value).__name__


def _nested_lists(column: list[Any], dims: tuple[int, ...]) -> bool:
    """Whether every value is a list of lists ... of exactly ``dims``."""
    level: Any = column
    for extent in dims:
        items = level if isinstance(level, list) else list(level)
        if not all(type(item) is list and len(item) == extent for item in items):
            return False
        level = chain.from_iterable(items)
    return True


def _leaves(column: list[Any], depth: int) -> Any:
    level: Any = column
    for _ in range(depth):
        level = chain.from_iterable(level)
    return level


def _finite_rows(values: np.ndarray) -> np.ndarray:
    """Which rows of a float64 ``(n, size)`` array are finite within float32's range."""
    return (np.abs(values) <= _FLOAT32_MAX).all(axis=1)  # NaN compares False


def _row_problem(spec: ArrayField, item: Any) -> FieldValueError:
    """Why one array-encoded value cannot be read (called only on rows the batch path refused)."""
    dims = spec.dims

    def walk(node: Any, depth: int, where: list[int]) -> FieldValueError | None:
        position = "element " + "][".join(map(str, where)) if where else "the value"
        if type(node) is not list:
            return FieldValueError("wrong_type", f"{position} is {_kind_name(node)}, not an array"
                                   if depth < len(dims) else f"{position} is "
                                   f"{_kind_name(node)}, not a number")
        if len(node) != dims[depth]:
            shape = "x".join(map(str, dims[depth:]))
            return FieldValueError("bad_shape", f"{len(node)} values, expected {dims[depth]}"
                                   if len(dims) == 1 else f"{position} has {len(node)} "
                                   f"entries, expected {shape}")
        for i, child in enumerate(node):
            if depth + 1 < len(dims):
                problem = walk(child, depth + 1, [*where, i])
                if problem is not None:
                    return problem
            elif type(child) is NonFinite:
                return FieldValueError("non_finite", f"element {i} is not a finite number "
                                       f"({child!r})" if len(dims) == 1 else
                                       f"element {']['.join(map(str, [*where, i]))} is not a "
                                       f"finite number ({child!r})")
            elif type(child) not in _NUMBERS:
                label = "][".join(map(str, [*where, i]))
                return FieldValueError("wrong_type", f"element {label} is {_kind_name(child)}, "
                                       "not a number")
        return None

    problem = walk(item, 0, [])
    if problem is not None:
        return problem
    values = np.asarray(item, dtype=np.float64).reshape(-1)
    bad = int(np.flatnonzero(~(np.abs(values) <= _FLOAT32_MAX))[0])
    return FieldValueError("non_finite", f"element {bad} = {float(values[bad])!r} is beyond "
                           "float32's range")


def _from_arrays(spec: ArrayField, column: list[Any],
                 problems: dict[int, FieldValueError]) -> np.ndarray:
    n, size = len(column), spec.size
    block = np.full((n, size), np.nan, dtype=np.float32)
    if n == 0:
        return block
    if _nested_lists(column, spec.dims) and set(map(type, _leaves(column, len(spec.dims)))) <= (
            _NUMBERS):
        values = np.array(column, dtype=np.float64).reshape(n, size)
        good = _finite_rows(values)
        rows = np.flatnonzero(good)
        block[rows] = values[rows]
        candidates = np.flatnonzero(~good).tolist()
    else:
        candidates = list(range(n))
    for row in candidates:
        item = column[row]
        if (type(item) is list and _nested_lists([item], spec.dims)
                and set(map(type, _leaves([item], len(spec.dims)))) <= _NUMBERS):
            values = np.array(item, dtype=np.float64).reshape(size)
            if (np.abs(values) <= _FLOAT32_MAX).all():
                block[row] = values
                continue
        problems[row] = _row_problem(spec, item)
    return block


def _decoded_bytes(item: Any, expected: int, dtype: np.dtype) -> bytes:
    if type(item) is not str:
        raise FieldValueError("wrong_type", f"a base64 text is expected, got {_kind_name(item)}")
    try:
        raw = binascii.a2b_base64(item, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldValueError("bad_base64", f"not base64: {exc}") from None
    if len(raw) != expected:
        raise FieldValueError("bad_shape", f"{len(raw)} bytes decoded, expected {expected} "
                              f"({expected // dtype.itemsize} {dtype.name} values)")
    return raw


def _from_base64(spec: ArrayField, column: list[Any],
                 problems: dict[int, FieldValueError]) -> np.ndarray:
    n, size = len(column), spec.size
    dtype = _BASE64_DTYPES[spec.encoding]
    expected = size * dtype.itemsize
    block = np.full((n, size), np.nan, dtype=np.float32)
    parts: list[bytes] = []
    rows: list[int] = []
    for row, item in enumerate(column):
        try:
            parts.append(_decoded_bytes(item, expected, dtype))
            rows.append(row)
        except FieldValueError as problem:
            problems[row] = problem
    if rows:
        values = np.frombuffer(b"".join(parts), dtype=dtype).reshape(len(rows), size)
        block[rows] = values
        if dtype.kind == "f":
            finite = np.isfinite(values).all(axis=1)
            for k in np.flatnonzero(~finite).tolist():
                bad = int(np.flatnonzero(~np.isfinite(values[k]))[0])
                problems[rows[k]] = FieldValueError(
                    "non_finite", f"element {bad} is not a finite number ({values[k, bad]!r})")
                block[rows[k]] = np.nan
    return block


def array_block(spec: ArrayField, column: list[Any],
                ) -> tuple[np.ndarray, dict[int, FieldValueError]]:
    """``(block, problems)``: the ``(len(column), spec.size)`` float32 values of present JSON
    values (NaN rows where ``problems`` holds why the row could not be read)."""
    problems: dict[int, FieldValueError] = {}
    if spec.encoding == "array":
        block = _from_arrays(spec, column, problems)
    else:
        block = _from_base64(spec, column, problems)
    bounds = getattr(spec, "range", None)
    if bounds is not None and block.size:
        low, high = bounds
        with np.errstate(invalid="ignore"):
            outside = ((block < low) | (block > high)).any(axis=1)
        for row in np.flatnonzero(outside).tolist():
            column_at = int(np.flatnonzero((block[row] < low) | (block[row] > high))[0])
            problems[row] = FieldValueError(
                "out_of_bounds", f"pixel {column_at} = {float(block[row, column_at])!r} is "
                f"outside [{low}, {high}]")
    for row in problems:
        block[row] = np.nan
    return block, problems


def array_value(spec: ArrayField, item: Any) -> np.ndarray:
    """One present value as a ``(spec.size,)`` float32 array; :class:`FieldValueError` if it
    cannot be read."""
    block, problems = array_block(spec, [item])
    if problems:
        raise problems[0]
    return block[0]


def array_json(spec: ArrayField, values: Any) -> Any:
    """The JSON value of one row under the field's encoding (the producer's side): nested lists
    of ``spec.dims``, or the base64 text of the little-endian float32 / uint8 values."""
    array = np.asarray(values)
    if array.size != spec.size:
        raise ValueError(f"field {spec.name!r} takes {spec.size} values, got {array.size}")
    if spec.encoding == "array":
        return array.reshape(spec.dims).tolist()
    dtype = _BASE64_DTYPES[spec.encoding]
    if dtype.kind == "u" and not np.all((array >= 0) & (array <= 255)
                                        & (array == np.round(array))):
        raise ValueError(f"field {spec.name!r} (base64_uint8) takes integers in 0..255")
    return base64.b64encode(np.ascontiguousarray(array.reshape(-1), dtype=dtype).tobytes()
                            ).decode("ascii")
