"""Column-at-a-time reading of parsed events for :mod:`executor.schema_decoder`.

Each reader takes one column of raw JSON values (one per event of the batch) and returns the
typed column, setting quality flags and recording dead-letter reasons in ``rejects`` (row ->
``(reason, detail)``; the first reason of a row wins, so the decoder calls the readers in the
documented check order). A column whose values all have the expected JSON type is converted by
numpy in one step; only the rows that do not are looked at one by one.

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import NumericField
>>> spec = build_config({"name": "x", "type": "numeric", "optional": True}, NumericField)
>>> flags, rejects = np.zeros(3, dtype=np.uint8), {}
>>> numeric_column(spec, [1, ABSENT, "2"], flags, rejects, (0.0, 10.0)).tolist(), flags.tolist()
([1.0, nan, nan], [0, 1, 8])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.dataloader.field_values import (
    MISSING,
    OUT_OF_RANGE,
    UNIT_SECONDS,
    UNSEEN_CATEGORY,
    WRONG_TYPE,
    CategoryVocabulary,
    FieldValueError,
    category_value,
    class_index,
    encodable,
    event_time_seconds,
    flag_value,
    number_value,
)
from driftline.dataloader.json_path import ABSENT, Misplaced
from driftline.dataloader.schema import (
    BooleanField,
    CategoricalField,
    EventIdSpec,
    EventTimeSpec,
    ImageField,
    NumericField,
    VectorField,
)
from driftline.dataloader.vector_values import array_block

__all__ = ["array_column", "boolean_column", "categorical_column", "class_column",
           "event_id_column", "event_time_column", "numeric_column", "score_column"]

Rejects = dict[int, tuple[str, str]]
_NUMBER_TYPES = frozenset({float, int})


def _name(spec: Any) -> str:
    return f"field {spec.name!r} ({spec.json_path})"


def _problem(spec: Any, raw: Any, convert: Any, flags: np.ndarray, rejects: Rejects, row: int,
             ) -> Any:
    """Absent, misplaced or wrongly typed value of a field: flag it (optional) or reject."""
    if raw is ABSENT or raw is None:
        if not spec.optional:
            rejects.setdefault(row, ("missing_field", f"{_name(spec)} is missing"))
        flags[row] |= MISSING
        return None
    try:
        if type(raw) is Misplaced:
            raise FieldValueError("wrong_type", str(raw))
        return convert(raw)
    except FieldValueError as problem:
        if not spec.optional:
            rejects.setdefault(row, (problem.kind, f"{_name(spec)}: {problem}"))
        flags[row] |= WRONG_TYPE
        return None


def numeric_column(spec: NumericField, raw: list[Any], flags: np.ndarray, rejects: Rejects,
                   reference: tuple[float, float] | None = None) -> np.ndarray:
    """float64 values of a numeric field (NaN where there is none)."""
    if set(map(type, raw)) <= _NUMBER_TYPES:  # both parsers give ints of at most 64 bits
        values = np.array(raw, dtype=np.float64)
    else:
        values = np.full(len(raw), math.nan)
        for row, item in enumerate(raw):
            kind = type(item)
            number = (float(item) if kind is float or kind is int else
                      _problem(spec, item, number_value, flags, rejects, row))
            if number is not None:
                values[row] = number
    low, high = spec.range if spec.range is not None else reference or (-math.inf, math.inf)
    outside = np.flatnonzero((values < low) | (values > high))
    if outside.size:
        flags[outside] |= OUT_OF_RANGE
        if spec.range_policy == "dead_letter" and spec.range is not None:
            for row in outside.tolist():
                rejects.setdefault(row, ("out_of_bounds", f"{_name(spec)}={values[row]!r} is "
                                         f"outside [{low}, {high}]"))
    return values


def boolean_column(spec: BooleanField, raw: list[Any], flags: np.ndarray, rejects: Rejects,
                   ) -> np.ndarray:
    """0.0/1.0 values of a boolean field (NaN where there is none)."""
    if set(map(type, raw)) <= {bool}:
        return np.array(raw, dtype=np.float64)
    values = np.full(len(raw), math.nan)
    for row, item in enumerate(raw):
        flag = _problem(spec, item, flag_value, flags, rejects, row)
        if flag is not None:
            values[row] = flag
    return values


def categorical_column(spec: CategoricalField, raw: list[Any], vocabulary: CategoryVocabulary,
                       flags: np.ndarray, rejects: Rejects) -> np.ndarray:
    """int32 codes of a categorical field (see :class:`CategoryVocabulary`)."""
    index = vocabulary.index
    wanted = str if spec.values == "string" else int
    codes = np.array([index.get(item, -1) if type(item) is wanted else -1 for item in raw],
                     dtype=np.int32)
    for row in np.flatnonzero(codes < 0).tolist():
        item = raw[row]
        if type(item) is wanted and (wanted is int or encodable(item)):
            code, unseen = vocabulary.code(item)
            if unseen:
                flags[row] |= UNSEEN_CATEGORY
        else:
            _problem(spec, item, lambda v: category_value(v, spec.values), flags, rejects, row)
            code = vocabulary.missing_code
        codes[row] = code
    return codes


def array_column(spec: VectorField | ImageField, raw: list[Any], flags: np.ndarray,
                 rejects: Rejects) -> np.ndarray:
    """``(n, spec.size)`` float32 values of a vector or image field (NaN rows where there is
    none). A value that cannot be read (:func:`dataloader.vector_values.array_block`) rejects
    the event with its reason, or on an optional field is flagged ``wrong_type`` and served as
    missing; a pixel outside an image's ``range`` always rejects it (``out_of_bounds``)."""
    present = [row for row, item in enumerate(raw)
               if item is not ABSENT and item is not None and type(item) is not Misplaced]
    if len(present) == len(raw):
        block, problems = array_block(spec, raw)
    else:
        block = np.full((len(raw), spec.size), np.nan, dtype=np.float32)
        values, found = array_block(spec, [raw[row] for row in present])
        block[present] = values
        problems = {present[k]: problem for k, problem in found.items()}
        for row, item in enumerate(raw):
            if item is ABSENT or item is None or type(item) is Misplaced:
                _problem(spec, item, lambda value: value, flags, rejects, row)
    for row, problem in problems.items():
        if spec.optional and problem.kind != "out_of_bounds":
            flags[row] |= WRONG_TYPE
        else:
            rejects.setdefault(row, (problem.kind, f"{_name(spec)}: {problem}"[:500]))
    return block


def event_id_column(spec: EventIdSpec, raw: list[Any], rejects: Rejects) -> list[str]:
    """Event ids as text ("" for a rejected row)."""
    ids = list(raw)
    limit = spec.max_length
    for row, item in enumerate(raw):
        if type(item) is str and item.isascii() and len(item) <= limit and item.strip():
            continue
        if type(item) is str:
            if not (item.strip() and len(item) <= limit and encodable(item)):
                rejects.setdefault(row, ("bad_event_id", "event id must be non-empty UTF-8 "
                                         f"text of at most {limit} characters, got {item!r}"
                                         [:200]))
                ids[row] = ""
        elif type(item) is int:
            ids[row] = str(item)
        else:
            ids[row] = ""
            if item is ABSENT or item is None:
                rejects.setdefault(row, ("missing_field", f"event id ({spec.json_path}) is "
                                         "missing"))
            else:
                found = item.found if type(item) is Misplaced else item
                rejects.setdefault(row, ("bad_event_id", "event id must be a string or an "
                                         f"integer, got {type(found).__name__}"))
    return ids


def event_time_column(spec: EventTimeSpec | None, raw: list[Any] | None,
                      timestamps_ms: Sequence[int | None], rejects: Rejects) -> np.ndarray:
    """Event times in seconds since the epoch; absent: the record timestamp (or NaN)."""
    fallback = [math.nan if ms is None else ms / 1000.0 for ms in timestamps_ms]
    if spec is None or raw is None:
        return np.array(fallback, dtype=np.float64)
    if spec.unit != "iso8601" and set(map(type, raw)) <= _NUMBER_TYPES:
        return np.array(raw, dtype=np.float64) / UNIT_SECONDS[spec.unit]
    times = np.array(fallback, dtype=np.float64)
    for row, item in enumerate(raw):
        if item is ABSENT or item is None:
            if not spec.optional:
                rejects.setdefault(row, ("missing_field", f"event time ({spec.json_path}) is "
                                         "missing"))
            continue
        try:
            if type(item) is Misplaced:
                raise FieldValueError("wrong_type", str(item))
            times[row] = event_time_seconds(item, spec.unit)
        except FieldValueError as problem:
            rejects.setdefault(row, ("bad_timestamp", f"event time: {problem}"))
    return times


def class_column(key: str, raw: list[Any], index_of: Mapping[str, int], required: bool,
                 reason: str, rejects: Rejects) -> np.ndarray:
    """Class indices of a prediction or label column (-1: none)."""
    n_classes = len(index_of)
    if set(map(type, raw)) <= {int}:
        values = np.array(raw, dtype=np.int64)
        if values.size and (values.min() >= 0 and values.max() < n_classes):
            return values
    values = np.full(len(raw), -1, dtype=np.int64)
    for row, item in enumerate(raw):
        if item is ABSENT or item is None:
            if required:
                rejects.setdefault(row, ("missing_field", f"{key} is missing"))
            continue
        try:
            if type(item) is Misplaced:
                raise FieldValueError("wrong_type", str(item))
            values[row] = class_index(item, index_of, n_classes)
        except FieldValueError as problem:
            rejects.setdefault(row, (reason, f"{key}: {problem}"))
    return values


def score_column(raw: list[Any], required: bool, rejects: Rejects) -> np.ndarray:
    """Scores (NaN: none)."""
    if set(map(type, raw)) <= _NUMBER_TYPES:
        return np.array(raw, dtype=np.float64)
    values = np.full(len(raw), math.nan)
    for row, item in enumerate(raw):
        if item is ABSENT or item is None:
            if required:
                rejects.setdefault(row, ("missing_field", "score is missing"))
            continue
        try:
            if type(item) is Misplaced:
                raise FieldValueError("wrong_type", str(item))
            values[row] = number_value(item)
        except FieldValueError as problem:
            rejects.setdefault(row, ("bad_score", f"score: {problem}"))
    return values
