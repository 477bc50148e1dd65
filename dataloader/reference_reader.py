"""Reading a reference data file in chunks, typed by an event schema.

CSV (``.csv``/``.tsv``, optionally ``.gz``; delimiter sniffed from the header line unless
given), Parquet (``.parquet``/``.pq``) and JSON Lines (``.jsonl``/``.ndjson``, optionally
``.gz``). CSV and Parquet columns are found by each field's ``column`` (default: its name) and
the outputs' ``column`` (default: ``prediction``, ``score``, ``label``); JSON Lines rows are
events and are read by ``path``, like the decoder reads them. Files are streamed: memory holds
one chunk at a time.

The reference defines "normal", so it must match the schema: a missing column, a value of the
wrong type, a non-finite number, a missing value in a required field or an unknown class is a
:class:`ReferenceDataError` naming the file, the field and the row. Values outside a declared
range or category list are not errors: they are the reference's own data-quality baseline.

Example
-------
>>> import tempfile, pathlib
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [{"name": "x", "type": "numeric"},
...     {"name": "c", "type": "categorical", "optional": True}]}, EventSchema)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "ref.csv"
...     _ = path.write_text("x;c;extra\\n1.5;a;0\\n2;;0\\n")
...     reader = ReferenceReader(path, schema)
...     chunk = next(iter(reader.chunks()))
>>> reader.unknown_columns, chunk.numeric["x"].tolist(), chunk.categories["c"]
(['extra'], [1.5, 2.0], ({'a': 1}, 1))
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from driftline.dataloader.reference_columns import (
    ColumnSpec,
    ReferenceChunk,
    column_specs,
    convert_arrow,
)
from driftline.dataloader.reference_jsonl import jsonl_chunks
from driftline.dataloader.schema import EventSchema

__all__ = ["FORMATS", "MAX_CHUNK_VALUES", "ReferenceChunk", "ReferenceDataError",
           "ReferenceReader", "format_of"]

#: file name endings -> format
FORMATS = {".csv": "csv", ".tsv": "csv", ".csv.gz": "csv", ".tsv.gz": "csv",
           ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl"}
_DELIMITERS = (",", ";", "\t", "|")
#: values of vector and image fields in one chunk (16 Mi float32: 64 MiB)
MAX_CHUNK_VALUES = 1 << 24
_CSV_ERROR = re.compile(r"column #(\d+): (?:Row #(\d+): )?CSV conversion error to (\w+): "
                        r"invalid value '(.*)'", re.DOTALL)


class ReferenceDataError(ValueError):
    """The reference file cannot be read or does not match the schema (one line)."""


def format_of(path: str | Path) -> str:
    """The format of ``path`` by its name; :class:`ReferenceDataError` if unknown."""
    name = Path(path).name.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    raise ReferenceDataError(f"{path}: unknown reference file type; use one of "
                             f"{', '.join(sorted(FORMATS))}")


class ReferenceReader:
    """The rows of ``path`` as :class:`ReferenceChunk` s (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The reference file.
    schema : EventSchema
        Fields and outputs to read.
    chunk_rows : int
        Rows per chunk (Parquet, JSON Lines; CSV chunks are about ``chunk_rows`` * 64 bytes).
        With vector or image fields it is capped so that a chunk holds at most
        :data:`MAX_CHUNK_VALUES` of their values.
    delimiter : str, optional
        CSV delimiter (default: the most frequent of ``, ; TAB |`` in the header line).
    keep_category_values : bool
        Also give each row's category (:attr:`ReferenceChunk.category_values`), for readers
        that need the rows (replay, training) rather than the counts.
    """

    def __init__(self, path: str | Path, schema: EventSchema, *, chunk_rows: int = 65_536,
                 delimiter: str | None = None, keep_category_values: bool = False) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.path = Path(path)
        self.schema = schema
        width = sum(spec.size for spec in schema.array_fields)
        self.chunk_rows = min(int(chunk_rows), max(64, MAX_CHUNK_VALUES // width)) if width \
            else int(chunk_rows)
        self.keep_category_values = bool(keep_category_values)
        self.format = format_of(self.path)
        if not self.path.is_file():
            raise ReferenceDataError(f"{self.path}: no such file")
        self.specs = column_specs(schema)
        self.delimiter = delimiter
        self.columns = self._columns()
        used = {spec.column for spec in self.specs}
        if self.format == "jsonl":  # rows are events: the id and the time are schema keys too
            used = {str(path.parts[0]) for _, path in schema.located()}
        self.unknown_columns = [c for c in self.columns if c not in used]
        if self.format != "jsonl":
            missing = [spec for spec in self.specs if spec.column not in self.columns]
            if missing:
                raise ReferenceDataError(
                    f"{self.path}: column {missing[0].column!r} of {missing[0].what} is missing; "
                    f"the file's columns are {self.columns}")

    def _open_text(self) -> Any:
        if self.path.name.lower().endswith(".gz"):
            return gzip.open(self.path, "rt", encoding="utf-8", newline="")
        return open(self.path, encoding="utf-8", newline="")

    def _columns(self) -> list[str]:
        """The file's column names (JSON Lines: the first row's top-level keys)."""
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                return list(pq.ParquetFile(self.path).schema_arrow.names)
            with self._open_text() as handle:
                first = handle.readline().lstrip("\ufeff")
                while self.format == "jsonl" and first and not first.strip():
                    first = handle.readline()
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise ReferenceDataError(f"{self.path}: cannot read: {_reason(exc)}") from None
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet
            raise ReferenceDataError(f"{self.path}: not a readable Parquet file: "
                                     f"{_reason(exc)}") from None
        if not first.strip():
            raise ReferenceDataError(f"{self.path}: the file is empty (no header or rows)")
        if self.format == "jsonl":
            import json

            try:
                data = json.loads(first)
            except ValueError as exc:
                raise ReferenceDataError(f"{self.path}: line 1 is not JSON: {exc}") from None
            return list(data) if isinstance(data, dict) else []
        header = first.rstrip("\r\n")
        if self.delimiter is None:
            self.delimiter = max(_DELIMITERS, key=header.count)
        return [name.strip() for name in next(csv.reader([header], delimiter=self.delimiter))]

    def chunks(self) -> Iterator[ReferenceChunk]:
        """The file's rows, chunk by chunk (each call reads the file again)."""
        if self.format == "jsonl":
            yield from jsonl_chunks(self.path, self.schema, self.specs, self.chunk_rows,
                                    ReferenceDataError, self.keep_category_values)
            return
        start = 0
        for batch in self._arrow_batches():
            if batch.num_rows:
                yield convert_arrow(batch, self.specs, start, str(self.path),
                                    ReferenceDataError, self.keep_category_values)
                start += batch.num_rows

    def _arrow_batches(self) -> Iterator[Any]:
        import pyarrow as pa

        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                parquet = pq.ParquetFile(self.path)
                yield from parquet.iter_batches(batch_size=self.chunk_rows,
                                                columns=[s.column for s in self.specs])
                return
            yield from self._csv_batches()
        except pa.ArrowInvalid as exc:
            raise ReferenceDataError(self._arrow_message(str(exc))) from None
        except (OSError, pa.ArrowException) as exc:
            raise ReferenceDataError(f"{self.path}: cannot read: {_reason(exc)}") from None

    def _csv_batches(self) -> Iterator[Any]:
        import pyarrow as pa
        from pyarrow import csv as arrow_csv

        types = {spec.column: spec.csv_type() for spec in self.specs}
        stream = pa.input_stream(str(self.path), compression="detect")
        reader = arrow_csv.open_csv(
            stream,
            read_options=arrow_csv.ReadOptions(block_size=max(1 << 16, self.chunk_rows * 64)),
            parse_options=arrow_csv.ParseOptions(delimiter=self.delimiter),
            convert_options=arrow_csv.ConvertOptions(
                column_types=types, include_columns=list(types), strings_can_be_null=True))
        yield from reader

    def _arrow_message(self, text: str) -> str:
        match = _CSV_ERROR.search(text)
        if match is None:
            return f"{self.path}: cannot read: {text.splitlines()[0] if text else 'error'}"
        column = self.columns[int(match.group(1))] if int(match.group(1)) < len(
            self.columns) else f"#{match.group(1)}"
        spec = next((s for s in self.specs if s.column == column), None)
        what = spec.what if spec is not None else f"column {column!r}"
        row = f"data row {match.group(2)}: " if match.group(2) else ""
        return (f"{self.path}: column {column!r} of {what}: {row}{match.group(4)!r} is not "
                f"{ColumnSpec.describe_arrow_type(match.group(3))}")


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]
