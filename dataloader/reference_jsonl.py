"""JSON Lines reference files: each line an event, read by the schema's paths (see
:mod:`dataloader.reference_reader`).

Example
-------
>>> import tempfile, pathlib
>>> from driftline.configs import build_config
>>> from driftline.dataloader.reference_columns import column_specs
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [{"name": "x", "path": "f.x", "type": "numeric"}]},
...                       EventSchema)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "ref.jsonl"
...     _ = path.write_text('{"f": {"x": 1}}\\n\\n{"f": {"x": 2.5}}\\n')
...     chunks = list(jsonl_chunks(path, schema, column_specs(schema), 10, ValueError))
>>> chunks[0].numeric["x"].tolist()
[1.0, 2.5]
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from driftline.dataloader.field_values import (
    FieldValueError,
    category_value,
    class_index,
    flag_value,
    number_value,
)
from driftline.dataloader.json_path import ABSENT, Misplaced, path_column
from driftline.dataloader.reference_columns import (
    ColumnSpec,
    ReferenceChunk,
    checked_numbers,
)
from driftline.dataloader.reference_vectors import present_block
from driftline.dataloader.schema import EventSchema

__all__ = ["jsonl_chunks"]


def _lines(path: Path) -> Any:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def jsonl_chunks(path: Path, schema: EventSchema, specs: list[ColumnSpec], chunk_rows: int,
                 error: type[Exception], keep_values: bool = False) -> Iterator[ReferenceChunk]:
    """Chunks of ``chunk_rows`` events (blank lines are skipped; each row's category is kept
    when ``keep_values``)."""
    docs: list[Any] = []
    lines: list[int] = []
    start = 0
    try:
        with _lines(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as exc:
                    raise error(f"{path}: line {number} is not JSON: {exc}") from None
                if type(doc) is not dict:
                    raise error(f"{path}: line {number} is not a JSON object")
                docs.append(doc)
                lines.append(number)
                if len(docs) == chunk_rows:
                    yield _chunk(docs, lines, start, specs, str(path), error, keep_values)
                    start += len(docs)
                    docs, lines = [], []
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    if docs:
        yield _chunk(docs, lines, start, specs, str(path), error, keep_values)


def _chunk(docs: list[Any], lines: list[int], start: int, specs: list[ColumnSpec], path: str,
           error: type[Exception], keep_values: bool) -> ReferenceChunk:
    chunk = ReferenceChunk(start, len(docs))
    cache: dict[tuple[Any, ...], list[Any]] = {}
    for spec in specs:
        raw = path_column(spec.path, docs, cache)

        def fail(row: int, message: str, spec: ColumnSpec = spec) -> Exception:
            return error(f"{path}: line {lines[row]}: {spec.what} ({spec.path}): {message}")

        def converted(convert: Any, empty: Any, raw: list[Any] = raw, spec: ColumnSpec = spec,
                      fail: Any = fail) -> list[Any]:
            out = []
            for row, item in enumerate(raw):
                if item is ABSENT or item is None:
                    if not spec.optional:
                        raise fail(row, "has no value, but it is not optional")
                    out.append(empty)
                    continue
                try:
                    if type(item) is Misplaced:
                        raise FieldValueError("wrong_type", str(item))
                    out.append(convert(item))
                except FieldValueError as problem:
                    raise fail(row, str(problem)) from None
            return out

        if spec.role in ("numeric", "score", "boolean"):
            convert = flag_value if spec.role == "boolean" else number_value
            values = np.array(converted(convert, np.nan), dtype=np.float64)
            values = checked_numbers(values, spec, start, path, error)
            if spec.role == "score":
                chunk.score = values
            else:
                chunk.numeric[spec.name] = values
        elif spec.role == "vector":
            present = [row for row, item in enumerate(converted(lambda v: v, None))
                       if item is not None]
            chunk.vectors[spec.name] = present_block(spec.array, [raw[row] for row in present],
                                                     present, len(docs), fail)
        elif spec.role == "categorical":
            values = converted(lambda v, spec=spec: category_value(v, spec.values), None)
            counts = Counter(v for v in values if v is not None)
            chunk.categories[spec.name] = (dict(counts), values.count(None))
            if keep_values:
                chunk.category_values[spec.name] = values
        else:
            names = {name: i for i, name in enumerate(spec.classes)}
            indices = converted(partial(class_index, index_of=names,
                                        n_classes=len(spec.classes)), -1)
            setattr(chunk, spec.role, np.array(indices, dtype=np.int64))
    return chunk
