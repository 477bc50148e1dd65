"""Record bytes -> a JSON object, strictly, for the schema decoder (:mod:`executor.schema_decoder`).

Strict means: UTF-8, one JSON object, no duplicate keys, no nesting deeper than Python's parser
allows; ``NaN``/``Infinity`` come back as :class:`~dataloader.field_values.NonFinite` markers so
that the field they sit in decides (a required number dead-letters, an optional one is flagged).
Problems raise :class:`RecordError` with a reason code.

The fast path parses with orjson (no hooks) and accepts its result only when it provably equals
the strict parse: no backslash in the text (so every ``"`` delimits a string) and exactly two
quotes per key and string value of the result (a duplicate key would add at least one more
string than the parsed object holds). Anything else goes through the ``json`` module with hooks.

Example
-------
>>> parse_event(b'{"a": {"b": [1, "x"]}}', max_bytes=100)
{'a': {'b': [1, 'x']}}
>>> try:
...     parse_event(b'{"a": 1, "a": 2}', max_bytes=100)
... except RecordError as problem:
...     print(problem.reason, problem.detail)
duplicate_key key 'a' appears more than once
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from driftline.dataloader.field_values import NonFinite

try:  # orjson parses an event in a fifth of the time of the json module
    import orjson
    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = None

__all__ = ["RecordError", "parse_event", "parse_events"]

_LIMIT_64 = (-(2 ** 63), 2 ** 64)


class RecordError(Exception):
    """The record is not one strict JSON object: ``reason`` is the dead-letter code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RecordError("duplicate_key", f"key {key!r} appears more than once")
            seen.add(key)
    return out


def _int(text: str) -> int | float | NonFinite:
    """Integers as orjson reads them: beyond 64 bits they become floats (or, beyond a float's
    range, a non-finite marker)."""
    number = int(text)
    if _LIMIT_64[0] <= number < _LIMIT_64[1]:
        return number
    try:
        return float(number)
    except OverflowError:
        return NonFinite(text if len(text) <= 20 else text[:17] + "...")


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=NonFinite,
                           parse_int=_int)


_NESTING = frozenset({str, dict, list})


def _n_strings(node: Any) -> int:
    """Keys plus string values in a parsed JSON tree."""
    if type(node) is dict:
        count = len(node)
        values: Iterable[Any] = node.values()
    else:
        # an array of numbers (an embedding, a row of pixels) holds no string: one pass in C
        if _NESTING.isdisjoint(map(type, node)):
            return 0
        count = 0
        values = node
    for value in values:
        kind = type(value)
        if kind is str:
            count += 1
        elif kind is dict or kind is list:
            count += _n_strings(value)
    return count


def parse_event(value: Any, max_bytes: int) -> dict[str, Any]:
    """The JSON object of a record value (see the module docstring)."""
    if type(value) is not bytes:
        if value is None:
            raise RecordError("empty", "record has no value")
        if not isinstance(value, bytearray | memoryview):
            raise RecordError("wrong_type",
                                f"record value must be bytes, got {type(value).__name__}")
        value = bytes(value)
    if not value:
        raise RecordError("empty", "record has no value")
    if len(value) > max_bytes:
        raise RecordError("too_large", f"{len(value)} bytes > max_bytes={max_bytes}")
    if _fast_loads is not None and b"\\" not in value:
        try:
            data = _fast_loads(value)
        except Exception:  # the strict path below names the problem
            data = None
        if type(data) is dict and value.count(b'"') == 2 * _n_strings(data):
            return data
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError("bad_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}"
                            ) from None
    try:
        data = _STRICT.decode(text)
    except json.JSONDecodeError as exc:
        raise RecordError("not_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                            ) from None
    except RecursionError:
        raise RecordError("too_deep", "JSON nesting is too deep") from None
    if type(data) is not dict:
        raise RecordError("not_object", f"event must be a JSON object, got "
                            f"{type(data).__name__}")
    return data


def parse_events(values: Sequence[Any], max_bytes: int,
                 ) -> tuple[list[dict[str, Any]], list[int], dict[int, tuple[str, str]]]:
    """:func:`parse_event` over a batch: the objects, their positions in ``values``, and
    ``{position: (reason, detail)}`` of the records that are not events."""
    docs: list[dict[str, Any]] = []
    rows: list[int] = []
    problems: dict[int, tuple[str, str]] = {}
    loads = _fast_loads
    for i, value in enumerate(values):
        if (loads is not None and type(value) is bytes and 0 < len(value) <= max_bytes
                and b"\\" not in value):
            try:
                data = loads(value)
            except Exception:  # parse_event below names the problem
                data = None
            if type(data) is dict and value.count(b'"') == 2 * _n_strings(data):
                docs.append(data)
                rows.append(i)
                continue
        try:
            docs.append(parse_event(value, max_bytes))
            rows.append(i)
        except RecordError as problem:
            problems[i] = (problem.reason, problem.detail)
    return docs, rows, problems
