"""Reading one JSON value as a schema field's value, shared by the event decoder and the JSON
Lines reference reader so that both accept exactly the same values.

Each reader returns the converted value, or raises :class:`FieldValueError` whose ``kind`` is
``"wrong_type"`` (a JSON type the field does not take) or ``"non_finite"`` (a number that is
infinite or NaN, including an integer too large for a float). Absence is not handled here.

The data-quality flags of a decoded field are bits, so one ``uint8`` per field holds all of
them (:data:`QUALITY_FLAGS`).

Example
-------
>>> number_value(3), flag_value(True), category_value("north", "string")
(3.0, 1.0, 'north')
>>> try:
...     number_value("3")
... except FieldValueError as problem:
...     print(problem.kind, problem)
wrong_type a number is expected, got str
>>> class_index("low", {"high": 0, "low": 1}, 2), event_time_seconds(1500, "ms")
(1, 1.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = [
    "MISSING",
    "OUT_OF_RANGE",
    "QUALITY_FLAGS",
    "UNIT_SECONDS",
    "UNSEEN_CATEGORY",
    "WRONG_TYPE",
    "FieldValueError",
    "NonFinite",
    "category_value",
    "class_index",
    "encodable",
    "event_time_seconds",
    "flag_value",
    "number_value",
]

#: the field had no value (absent or ``null``)
MISSING = 1
#: a number outside the declared range (or the reference's range)
OUT_OF_RANGE = 2
#: a category the reference (or the declared list) does not know
UNSEEN_CATEGORY = 4
#: a value of the wrong type on an optional field (served as missing)
WRONG_TYPE = 8
#: flag name -> bit, in report order
QUALITY_FLAGS: dict[str, int] = {"missing": MISSING, "out_of_range": OUT_OF_RANGE,
                                 "unseen_category": UNSEEN_CATEGORY, "wrong_type": WRONG_TYPE}

#: divisor from each numeric event-time unit to seconds
UNIT_SECONDS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


class NonFinite:
    """What the strict JSON parser returns for ``NaN``, ``Infinity`` and ``-Infinity``, so that
    a field reader (not the parser) decides what such a value means."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class FieldValueError(Exception):
    """A value the field cannot take: ``kind`` is ``"wrong_type"`` or ``"non_finite"``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _type_name(value: Any) -> str:
    return "NaN/Infinity" if type(value) is NonFinite else type(value).__name__


def encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates from ``\\ud800`` escapes)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def number_value(value: Any) -> float:
    """A JSON number (not a boolean) as a finite float."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            number = float(value)
        except OverflowError:
            raise FieldValueError("non_finite", f"{value} overflows a float") from None
        if not math.isfinite(number):
            raise FieldValueError("non_finite", f"{number!r} is not a finite number")
        return number
    if kind is NonFinite:
        raise FieldValueError("non_finite", f"{value!r} is not a finite number")
    raise FieldValueError("wrong_type", f"a number is expected, got {_type_name(value)}")


def flag_value(value: Any) -> float:
    """``true``/``false`` or the numbers 0 and 1, as 1.0/0.0."""
    if value is True or value is False:
        return 1.0 if value else 0.0
    if (type(value) is int or type(value) is float) and value in (0, 1):
        return float(value)
    raise FieldValueError("wrong_type", f"true/false (or 0/1) is expected, got "
                                     f"{_type_name(value)} {value!r}"[:200])


def category_value(value: Any, values: str) -> str | int:
    """A category: a UTF-8 encodable string (``values="string"``) or an integer
    (``values="integer"``; booleans and floats are not integers)."""
    if values == "string":
        if type(value) is str:
            if not encodable(value):
                raise FieldValueError("wrong_type", "a category text is not encodable as UTF-8")
            return value
        raise FieldValueError("wrong_type", f"a string category is expected, got "
                                         f"{_type_name(value)}")
    if type(value) is int:
        return value
    raise FieldValueError("wrong_type", f"an integer category is expected, got {_type_name(value)}")


def class_index(value: Any, index_of: Mapping[str, int], n_classes: int) -> int:
    """A class given as its index in ``[0, n_classes)`` or as its name."""
    if type(value) is int and 0 <= value < n_classes:
        return value
    if type(value) is str and value in index_of:
        return index_of[value]
    raise FieldValueError("wrong_type", f"a class index in [0, {n_classes}) or one of "
                                     f"{sorted(index_of)} is expected, got {_type_name(value)} "
                                     f"{value!r}"[:200])


def event_time_seconds(value: Any, unit: str) -> float:
    """Seconds since the Unix epoch from a number in ``unit`` (``s``/``ms``/``us``/``ns``) or an
    ISO 8601 text with a UTC offset (``unit="iso8601"``)."""
    if unit == "iso8601":
        if type(value) is not str:
            raise FieldValueError("wrong_type", f"an ISO 8601 text is expected, got "
                                             f"{_type_name(value)}")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FieldValueError("wrong_type", f"not an ISO 8601 time: {value!r}"[:200]) from None
        if moment.tzinfo is None:
            raise FieldValueError("wrong_type", f"ISO 8601 time without a UTC offset: {value!r}"
                               [:200])
        return moment.timestamp()
    return number_value(value) / UNIT_SECONDS[unit]


class CategoryVocabulary:
    """Integer codes of a categorical field: ``0..K-1`` for the profile's categories (most
    frequent first), then three reserved codes: :attr:`other_code` (a known category outside
    the first ``K``), :attr:`unseen_code` (a category the reference never showed) and
    :attr:`missing_code` (no valid value).

    ``known`` are further categories seen in the reference (or declared) beyond the first
    ``K``. With ``complete=False`` the known set is a bounded summary of a reference with too
    many distinct values, so an unknown value cannot be called unseen and gets the "other" code.

    Example
    -------
    >>> vocabulary = CategoryVocabulary(["north", "south"], known=["east"], complete=True)
    >>> [vocabulary.code(v) for v in ("south", "east", "mars")]
    [(1, False), (2, False), (3, True)]
    >>> vocabulary.missing_code, vocabulary.labels()[2:]
    (4, ['__other__', '__unseen__', '__missing__'])
    """

    RESERVED = ("__other__", "__unseen__", "__missing__")

    def __init__(self, categories: Any, known: Any = (), complete: bool = True) -> None:
        self.categories = tuple(categories)
        self.index = {category: i for i, category in enumerate(self.categories)}
        if len(self.index) != len(self.categories):
            raise ValueError(f"categories must be distinct, got {list(self.categories)}")
        self.known = frozenset(known) - set(self.index)
        self.complete = bool(complete)
        self.other_code = len(self.categories)
        self.unseen_code = self.other_code + 1
        self.missing_code = self.other_code + 2
        self.size = self.other_code + 3

    def code(self, value: Any) -> tuple[int, bool]:
        """``(code, unseen)`` of a category value."""
        code = self.index.get(value)
        if code is not None:
            return code, False
        if value in self.known or not self.complete:
            return self.other_code, False
        return self.unseen_code, True

    def labels(self) -> list[str]:
        """A text label per code (categories as text, then the reserved names)."""
        return [str(c) for c in self.categories] + list(self.RESERVED)
