"""Dotted paths into a decoded JSON event: ``features.age``, ``meta["user.id"]``, ``scores[0]``.

A path is a sequence of object keys and array indices. Plain keys are separated by dots; a key
that contains a dot, a bracket or a quote is written in brackets with double quotes (JSON string
escapes apply inside); an array index is a non-negative integer in brackets::

    features.age            -> ("features", "age")
    meta["user.id"].country -> ("meta", "user.id", "country")
    scores[0]               -> ("scores", 0)

:func:`parse_path` raises ``ValueError`` saying what is wrong; :meth:`JsonPath.get` returns
:data:`ABSENT` when a key is missing, and raises :class:`PathTypeError` when the path runs into a
value that is not an object (or not an array, for an index).

Example
-------
>>> path = parse_path('meta["user.id"].tags[1]')
>>> path.parts
('meta', 'user.id', 'tags', 1)
>>> path.get({"meta": {"user.id": {"tags": ["a", "b"]}}})
'b'
>>> path.get({"meta": {}}) is ABSENT
True
>>> str(parse_path("features.age"))
'features.age'
>>> path_column(parse_path("f.age"), [{"f": {"age": 1}}, {"f": 2}, {}], {})
[1, Misplaced('f', 2), ABSENT]
>>> unknown_key({"id": 1, "f": {"age": 2, "agee": 3}}, trie_of([path, parse_path("f.age"),
...                                                            parse_path("id")]))
"'f.agee'"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["ABSENT", "JsonPath", "Misplaced", "PathTypeError", "format_parts", "parse_path",
           "path_column", "trie_of", "unknown_key"]


class _Absent:
    """The value at a path whose key is missing (distinct from JSON ``null``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

_PLAIN = re.compile(r"[^.\[\]\"\s]+")
_QUOTED = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_INDEX = re.compile(r"\[(\d+)\]")


class PathTypeError(Exception):
    """A path step met a value of the wrong kind (``where`` is the path up to that step)."""

    def __init__(self, where: str, found: Any) -> None:
        super().__init__(f"{where} is {type(found).__name__}, not an object")
        self.where = where
        self.found = found


class JsonPath:
    """A parsed path (see the module docstring); build it with :func:`parse_path`."""

    __slots__ = ("_text", "parts")

    def __init__(self, parts: tuple[str | int, ...], text: str) -> None:
        self.parts = parts
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"JsonPath({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPath) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def prefix(self, n: int) -> str:
        """The path text of the first ``n`` parts (for messages)."""
        return format_parts(self.parts[:n])

    def get(self, document: Any) -> Any:
        """The value at this path in ``document``; :data:`ABSENT` if a key or index is missing."""
        node = document
        for i, part in enumerate(self.parts):
            if type(part) is str:
                if type(node) is not dict:
                    raise PathTypeError(self.prefix(i) or "the event", node)
                node = node.get(part, ABSENT)
            else:
                if type(node) is not list:
                    raise PathTypeError(self.prefix(i) or "the event", node)
                node = node[part] if part < len(node) else ABSENT
            if node is ABSENT:
                return ABSENT
        return node


def format_parts(parts: tuple[str | int, ...]) -> str:
    """The canonical text of a path's parts (inverse of :func:`parse_path`)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def parse_path(text: str) -> JsonPath:
    """Parse a dotted path; ``ValueError`` names the position of the first problem."""
    if not isinstance(text, str) or not text:
        raise ValueError("a path must be a non-empty string")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "[":
            match = _QUOTED.match(text, pos) or _INDEX.match(text, pos)
            if match is None:
                raise ValueError(f"path {text!r}: expected [\"key\"] or [index] at position {pos}")
            if match.re is _INDEX:
                parts.append(int(match.group(1)))
            else:
                try:
                    parts.append(json.loads(f'"{match.group(1)}"'))
                except json.JSONDecodeError:
                    raise ValueError(f"path {text!r}: bad escape in the key at position "
                                     f"{pos}") from None
            pos = match.end()
        else:
            if parts:
                if text[pos] != ".":
                    raise ValueError(f"path {text!r}: expected '.' or '[' at position {pos}")
                pos += 1
            match = _PLAIN.match(text, pos)
            if match is None:
                raise ValueError(f"path {text!r}: expected a key at position {pos} (keys with "
                                 "'.', '[', ']', '\"' or spaces are written [\"key\"])")
            parts.append(match.group(0))
            pos = match.end()
    if isinstance(parts[0], int):
        raise ValueError(f"path {text!r}: must start with a key (the event is an object)")
    return JsonPath(tuple(parts), format_parts(tuple(parts)))


class Misplaced:
    """The value at a path whose step met something other than an object (or array)."""

    __slots__ = ("found", "where")

    def __init__(self, where: str, found: Any) -> None:
        self.where = where
        self.found = found

    def __str__(self) -> str:
        return f"{self.where or 'the event'} is {type(self.found).__name__}, not an object"

    def __repr__(self) -> str:
        return f"Misplaced({self.where!r}, {self.found!r})"


def path_column(path: JsonPath, docs: Sequence[Any], cache: dict[tuple[Any, ...], list[Any]],
                ) -> list[Any]:
    """The values at ``path`` in every document (``ABSENT`` if missing, :class:`Misplaced` if
    the path runs through a non-object); columns of shared prefixes are computed once."""
    parts = path.parts
    column = cache.get(parts)
    if column is not None:
        return column
    if len(parts) == 1:
        key = parts[0]
        column = [doc.get(key, ABSENT) for doc in docs]
    else:
        parent = path_column(JsonPath(parts[:-1], ""), docs, cache)
        key = parts[-1]
        container = dict if isinstance(key, str) else list
        if container is dict and set(map(type, parent)) == {dict}:
            column = [node.get(key, ABSENT) for node in parent]
            cache[parts] = column
            return column
        where = format_parts(parts[:-1])
        column = []
        for node in parent:
            if type(node) is container:
                if container is dict:
                    column.append(node.get(key, ABSENT))
                else:
                    column.append(node[key] if key < len(node) else ABSENT)
            elif node is ABSENT or node is None:
                column.append(ABSENT)
            elif type(node) is Misplaced:
                column.append(node)
            else:
                column.append(Misplaced(where, node))
    cache[parts] = column
    return column


def trie_of(paths: Iterable[JsonPath]) -> dict[str, Any]:
    """The object keys of ``paths`` as nested dicts (a leaf is an empty dict)."""
    trie: dict[str, Any] = {}
    for path in paths:
        node = trie
        for part in path.parts:
            if not isinstance(part, str):
                break
            node = node.setdefault(part, {})
    return trie


def unknown_key(data: dict[str, Any], trie: dict[str, Any],
                prefix: tuple[str, ...] = ()) -> str | None:
    """The quoted path of the first key of ``data`` that no schema path reaches, or None."""
    for key, value in data.items():
        child = trie.get(key)
        if child is None:
            return repr(format_parts((*prefix, key)))
        if child and type(value) is dict:
            found = unknown_key(value, child, (*prefix, key))
            if found is not None:
                return found
    return None
