"""Reference reader: CSV, Parquet and JSON Lines give the same typed chunks; every mismatch
with the schema is one line naming the file, the column or field and the row."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.configs import build_config
from driftline.dataloader.reference_reader import (
    ReferenceDataError,
    ReferenceReader,
    format_of,
)
from driftline.dataloader.schema import EventSchema

SCHEMA = build_config({
    "fields": [
        {"name": "x", "path": "f.x", "type": "numeric"},
        {"name": "y", "path": "f.y", "type": "numeric", "optional": True},
        {"name": "c", "type": "categorical", "optional": True},
        {"name": "k", "type": "categorical", "values": "integer"},
        {"name": "b", "type": "boolean"},
    ],
    "outputs": {"classes": ["no", "yes"], "prediction": {}, "score": {}, "label": {}},
}, EventSchema)

ROWS: list[dict[str, Any]] = [
    {"x": 1.5, "y": 2.0, "c": "a", "k": 3, "b": True, "prediction": "yes", "score": 0.9,
     "label": 1},
    {"x": -2.0, "y": None, "c": None, "k": 3, "b": False, "prediction": "no", "score": 0.2,
     "label": None},
    {"x": 7.0, "y": 1.0, "c": "b", "k": 4, "b": True, "prediction": "yes", "score": 0.6,
     "label": 0},
]


def as_event(row: dict[str, Any]) -> dict[str, Any]:
    event = {"f": {"x": row["x"]}, **{k: v for k, v in row.items() if k not in ("x", "y")}}
    if row["y"] is not None:
        event["f"]["y"] = row["y"]
    return event


def write(tmp_path: Path, kind: str, rows: list[dict[str, Any]] = ROWS) -> Path:
    if kind == "parquet":
        path = tmp_path / "ref.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif kind in ("jsonl", "jsonl.gz"):
        path = tmp_path / f"ref.{kind}"
        text = "".join(json.dumps(as_event(r)) + "\n" for r in rows)
        if kind.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    else:
        path = tmp_path / f"ref.{kind}"
        delimiter = "\t" if kind.startswith("tsv") else ","
        lines = [delimiter.join(rows[0])] + [
            delimiter.join("" if v is None else str(v) for v in r.values()) for r in rows]
        text = "\n".join(lines) + "\n"
        if kind.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    return path


def read_all(path: Path, schema: EventSchema = SCHEMA, **kwargs: Any) -> dict[str, Any]:
    chunks = list(ReferenceReader(path, schema, **kwargs).chunks())
    out: dict[str, Any] = {"rows": sum(c.n_rows for c in chunks)}
    for name in ("x", "y", "b"):
        out[name] = np.concatenate([c.numeric[name] for c in chunks]).tolist()
    for name in ("c", "k"):
        counts: dict[Any, int] = {}
        missing = 0
        for chunk in chunks:
            part, n_missing = chunk.categories[name]
            for value, count in part.items():
                counts[value] = counts.get(value, 0) + count
            missing += n_missing
        out[name] = (counts, missing)
    for name in ("prediction", "label", "score"):
        out[name] = np.concatenate([getattr(c, name) for c in chunks]).tolist()
    return out


EXPECTED = {"rows": 3, "x": [1.5, -2.0, 7.0], "y": [2.0, np.nan, 1.0], "b": [1.0, 0.0, 1.0],
            "c": ({"a": 1, "b": 1}, 1), "k": ({3: 2, 4: 1}, 0), "prediction": [1, 0, 1],
            "label": [1, -1, 0], "score": [0.9, 0.2, 0.6]}


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "tsv", "parquet", "jsonl", "jsonl.gz"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_every_format_reads_the_same_typed_rows(tmp_path: Path, kind: str,
                                               chunk_rows: int) -> None:
    got = read_all(write(tmp_path, kind), chunk_rows=chunk_rows)
    np.testing.assert_equal(got, EXPECTED)


def test_unknown_columns_are_reported(tmp_path: Path) -> None:
    rows = [{**r, "extra": 1} for r in ROWS]
    assert ReferenceReader(write(tmp_path, "csv", rows), SCHEMA).unknown_columns == ["extra"]
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(json.dumps({**as_event(r), "meta": 1}) + "\n" for r in ROWS))
    assert ReferenceReader(events, SCHEMA).unknown_columns == ["meta"]


def test_format_by_extension() -> None:
    assert [format_of(n) for n in ("a.CSV", "a.tsv.gz", "a.pq", "a.ndjson.gz")] == [
        "csv", "csv", "parquet", "jsonl"]
    with pytest.raises(ReferenceDataError, match=r"a\.xlsx: unknown reference file type"):
        format_of("a.xlsx")


def change(rows: list[dict[str, Any]], row: int, **values: Any) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    out[row].update(values)
    return out


@pytest.mark.parametrize(("kind", "rows", "message"), [
    ("csv", change(ROWS, 1, x="abc"), "column 'x' of field 'x': 'abc' is not a number"),
    ("csv", change(ROWS, 2, x=None), "column 'x' of field 'x': data row 3 has no value"),
    ("csv", change(ROWS, 0, x="inf"), "column 'x' of field 'x': data row 1: inf is not a finite"),
    ("csv", change(ROWS, 1, k="z"), "column 'k' of field 'k': 'z' is not an integer"),
    ("csv", change(ROWS, 1, b="maybe"), "column 'b' of field 'b': 'maybe' is not true/false"),
    ("csv", change(ROWS, 2, prediction="perhaps"),
     "column 'prediction' of outputs.prediction: data row 3: 'perhaps' is not a class"),
    ("csv", change(ROWS, 0, label=5), "column 'label' of outputs.label: data row 1: '5'"),
    ("parquet", [{**r, "x": str(r["x"])} for r in ROWS],
     "column 'x' of field 'x': has type string, expected numbers"),
    ("parquet", [{**r, "c": 1} for r in ROWS],
     "column 'c' of field 'c': has type int64, expected string categories"),
    ("parquet", [{**r, "b": 2} for r in ROWS], "column 'b' of field 'b': data row 1: 2.0 is not"),
    ("jsonl", change(ROWS, 1, x="abc"), "line 2: field 'x' (f.x): a number is expected, got str"),
    ("jsonl", change(ROWS, 2, x=None), "line 3: field 'x' (f.x): has no value"),
    ("jsonl", change(ROWS, 0, k=1.5), "line 1: field 'k' (k): an integer category is expected"),
    ("jsonl", change(ROWS, 0, prediction="maybe"), "line 1: outputs.prediction (prediction):"),
])
def test_reference_that_does_not_match_the_schema(tmp_path: Path, kind: str,
                                                 rows: list[dict[str, Any]],
                                                 message: str) -> None:
    path = write(tmp_path, kind, rows)
    with pytest.raises(ReferenceDataError) as caught:
        read_all(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "csv", [{k: v for k, v in r.items() if k != "y"} for r in ROWS])
    with pytest.raises(ReferenceDataError, match=r"column 'y' of field 'y' is missing; the "
                                                 r"file's columns are \['x', 'c'"):
        ReferenceReader(path, SCHEMA)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "the file is empty"),
    ("bad.parquet", b"not parquet at all", "not a readable Parquet file"),
    ("bad.jsonl", b"{nope\n", "line 1 is not JSON"),
    ("bad.csv.gz", b"not gzip", "cannot read"),
])
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReferenceDataError, match=message):
        read_all(path)


def test_absent_file(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match="no such file"):
        ReferenceReader(tmp_path / "nope.csv", SCHEMA)


def test_header_only_csv_yields_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    path.write_text(",".join(ROWS[0]) + "\n")
    assert list(ReferenceReader(path, SCHEMA).chunks()) == []


def test_bom_quoted_header_and_leading_blank_lines(tmp_path: Path) -> None:
    schema = build_config({"fields": [{"name": "x", "type": "numeric"},
                                      {"name": "y", "column": "a;b", "type": "numeric"}]},
                          EventSchema)
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbf"x";"a;b"\r\n1;2\r\n3;4\r\n')
    reader = ReferenceReader(path, schema)
    assert reader.columns == ["x", "a;b"] and reader.delimiter == ";"
    (chunk,) = reader.chunks()
    assert chunk.numeric["y"].tolist() == [2.0, 4.0]
    events = tmp_path / "ev.jsonl"
    events.write_text('\n\n{"x": 1, "y": 2}\n')
    schema = build_config({"fields": [{"name": "x", "type": "numeric"}]}, EventSchema)
    assert ReferenceReader(events, schema).unknown_columns == ["y"]


def test_a_parquet_label_column_of_nulls_only_means_no_labels(tmp_path: Path) -> None:
    schema = build_config({"fields": [{"name": "x", "type": "numeric"}],
                           "outputs": {"classes": ["a", "b"], "label": {}}}, EventSchema)
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "label": pa.array([None, None])}), path)
    chunk = next(iter(ReferenceReader(path, schema).chunks()))
    assert chunk.label.tolist() == [-1, -1]


def test_rows_keep_their_categories_when_asked(tmp_path: Path) -> None:
    schema = build_config({"fields": [{"name": "x", "path": "f.x", "type": "numeric"},
                                      {"name": "c", "path": "f.c", "type": "categorical",
                                       "optional": True}]}, EventSchema)
    csv_path, jsonl_path = tmp_path / "ref.csv", tmp_path / "ref.jsonl"
    csv_path.write_text("x,c\n1,b\n2,\n3,a\n")
    jsonl_path.write_text('{"f": {"x": 1, "c": "b"}}\n{"f": {"x": 2}}\n{"f": {"x": 3, "c": "a"}}\n')
    for path in (csv_path, jsonl_path):
        kept = next(iter(ReferenceReader(path, schema, keep_category_values=True).chunks()))
        assert kept.category_values == {"c": ["b", None, "a"]}
        assert next(iter(ReferenceReader(path, schema).chunks())).category_values == {}


def test_jsonl_event_id_and_time_are_not_unknown_columns(tmp_path: Path) -> None:
    schema = build_config({"event_time": {"path": "ts"},
                           "fields": [{"name": "x", "path": "f.x", "type": "numeric"}]},
                          EventSchema)
    path = tmp_path / "ref.jsonl"
    path.write_text('{"event_id": "a", "ts": 1, "f": {"x": 1}, "extra": 2}\n')
    assert ReferenceReader(path, schema).unknown_columns == ["extra"]
