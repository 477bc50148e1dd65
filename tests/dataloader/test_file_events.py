"""A file's rows become schema events that the executor's decoder reads back to the same values,
from CSV, Parquet and JSON Lines alike."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.configs import build_config
from driftline.dataloader.field_values import CategoryVocabulary
from driftline.dataloader.file_events import (
    EventRows,
    EventWriter,
    put_at_path,
    read_event_rows,
)
from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.dataloader.schema import EventSchema
from driftline.executor.schema_decoder import SchemaDecoder

CLASSES = ["low", "mid", "high"]
COLOURS = ["red", "green", "blue"]
SCHEMA = build_config({
    "event_id": {"path": "meta.id"},
    "event_time": {"path": "meta.ts", "unit": "ms"},
    "fields": [
        {"name": "x", "path": "f.x", "type": "numeric", "range": [0, 100]},
        {"name": "flag", "path": "f.flag", "type": "boolean", "optional": True},
        {"name": "colour", "path": "tags.colour", "type": "categorical", "optional": True},
        {"name": "level", "path": "tags.level", "type": "categorical", "values": "integer",
         "categories": [1, 2, 3]},
        {"name": "first", "path": "scores[1]", "type": "numeric", "optional": True},
    ],
    "outputs": {"classes": CLASSES, "prediction": {"path": "out.pred"},
                "score": {"path": "out.score"}, "label": {"path": "truth"}},
}, EventSchema)


def _rows(n: int = 120, seed: int = 1) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        rows.append({
            "x": float(rng.uniform(0, 100)),
            "flag": None if rng.random() < 0.2 else bool(rng.random() < 0.5),
            "colour": None if rng.random() < 0.2 else COLOURS[int(rng.integers(3))],
            "level": int(rng.integers(1, 4)),
            "first": None if rng.random() < 0.1 else float(rng.normal()),
            "prediction": CLASSES[int(rng.integers(3))],
            "score": float(rng.random()),
            "label": None if rng.random() < 0.3 else CLASSES[int(rng.integers(3))],
        })
    return rows


def _write(fmt: str, rows: list[dict[str, Any]], directory: Path) -> Path:
    if fmt == "csv":
        path = directory / "rows.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(rows[0]))
            for row in rows:
                writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool)
                                 else repr(v) if isinstance(v, float) else v
                                 for v in row.values()])
        return path
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = directory / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path
    path = directory / "rows.jsonl"  # JSON Lines rows are events, read by path
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            event: dict[str, Any] = {}
            for name, where in (("x", ("f", "x")), ("flag", ("f", "flag")),
                                ("colour", ("tags", "colour")), ("level", ("tags", "level")),
                                ("first", ("scores", 1)), ("prediction", ("out", "pred")),
                                ("score", ("out", "score")), ("label", ("truth",))):
                if row[name] is not None:
                    put_at_path(event, where, row[name])
            handle.write(json.dumps(event) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_events_decode_back_to_the_file_values(fmt: str, tmp_path: Path) -> None:
    rows = _rows()
    path = _write(fmt, rows, tmp_path)
    parts = list(read_event_rows(path, SCHEMA, chunk_rows=50))
    assert sum(p.n_rows for p in parts) == len(rows)
    if fmt != "csv":  # CSV chunks are blocks of bytes
        assert [p.n_rows for p in parts] == [50, 50, 20]
    events = EventRows.concat(parts)
    writer = EventWriter(SCHEMA, id_prefix="t", start_time=1_700_000_000.0, interval_s=0.25)
    values = [orjson.dumps(d) for d in writer.documents(events, np.arange(len(rows)))]
    decoder = SchemaDecoder(SCHEMA, vocabularies={"colour": CategoryVocabulary(COLOURS)})
    batch = decoder.decode_batch(values, topic="t", partition=0, offsets=list(range(len(rows))))
    assert batch.dead_letters == [] and len(batch) == len(rows)
    assert batch.event_ids == [f"t-{i:07d}" for i in range(len(rows))]
    assert batch.event_time.tolist() == [1_700_000_000.0 + 0.25 * i for i in range(len(rows))]
    numeric = {name: batch.numeric[:, j] for j, name in enumerate(batch.numeric_names)}
    codes = {name: batch.categorical[:, j] for j, name in enumerate(batch.categorical_names)}
    nan = math.nan
    assert numeric["x"].tolist() == [r["x"] for r in rows]
    for name in ("flag", "first"):
        expected = [nan if r[name] is None else float(r[name]) for r in rows]
        np.testing.assert_array_equal(numeric[name], expected)
    colour_labels = CategoryVocabulary(COLOURS).labels()
    assert [colour_labels[c] for c in codes["colour"]] == [
        "__missing__" if r["colour"] is None else r["colour"] for r in rows]
    assert [[1, 2, 3][c] for c in codes["level"]] == [r["level"] for r in rows]
    assert batch.prediction.tolist() == [CLASSES.index(r["prediction"]) for r in rows]
    assert batch.score.tolist() == [r["score"] for r in rows]
    assert batch.label.tolist() == [-1 if r["label"] is None else CLASSES.index(r["label"])
                                    for r in rows]
    flagged = batch.flagged("missing")
    assert flagged[:, batch.field_names.index("colour")].tolist() == [
        r["colour"] is None for r in rows]


def test_missing_values_are_left_out_of_the_event(tmp_path: Path) -> None:
    rows = _rows(3)
    rows[0].update(flag=None, colour=None, first=None, label=None)
    events = EventRows.concat(list(read_event_rows(_write("parquet", rows, tmp_path), SCHEMA)))
    document = EventWriter(SCHEMA, id_prefix="e", start_time=0.0, interval_s=1.0).documents(
        events, np.arange(3))[0]
    assert document["f"] == {"x": rows[0]["x"]}
    assert document["tags"] == {"level": rows[0]["level"]} and "scores" not in document
    assert "truth" not in document and document["meta"] == {"id": "e-0000000", "ts": 0}


def test_take_and_concat_keep_rows_together(tmp_path: Path) -> None:
    rows = _rows(10)
    events = EventRows.concat(list(read_event_rows(_write("csv", rows, tmp_path), SCHEMA,
                                                   chunk_rows=3)))
    picked = events.take(np.array([9, 0, 4]))
    assert picked.numeric["x"].tolist() == [rows[i]["x"] for i in (9, 0, 4)]
    assert picked.categories["colour"].tolist() == [rows[i]["colour"] for i in (9, 0, 4)]
    copy = events.copy()
    copy.numeric["x"][:] = -1.0
    assert events.numeric["x"][0] == rows[0]["x"]


@pytest.mark.parametrize(("parts", "expected"), [
    (("a", "b"), {"a": {"b": 1}}),
    (("a", 2), {"a": [None, None, 1]}),
    (("a", 0, "b"), {"a": [{"b": 1}]}),
])
def test_put_at_path_builds_objects_and_arrays(parts: tuple, expected: dict) -> None:
    document: dict[str, Any] = {}
    put_at_path(document, parts, 1)
    assert document == expected


def test_put_at_path_fills_beside_existing_values() -> None:
    document: dict[str, Any] = {"a": [{"b": 1}]}
    put_at_path(document, ("a", 0, "c"), 2)
    put_at_path(document, ("a", 2), 3)
    assert document == {"a": [{"b": 1, "c": 2}, None, 3]}


def test_a_file_that_does_not_fit_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("x,flag\n1,true\n")
    with pytest.raises(ReferenceDataError, match="column 'colour' of field 'colour' is missing"):
        list(read_event_rows(path, SCHEMA))
    header = ",".join(_rows(1)[0])
    path.write_text(header + "\n")
    with pytest.raises(ReferenceDataError, match="no data rows"):
        list(read_event_rows(path, SCHEMA))
    path.write_text(header + "\n" + "abc,true,red,1,0.5,low,0.5,low\n")
    with pytest.raises(ReferenceDataError, match=r"column 'x' of field 'x'.*'abc' is not a"):
        list(read_event_rows(path, SCHEMA))


def test_writer_needs_a_prefix() -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        EventWriter(SCHEMA, id_prefix="", start_time=0.0, interval_s=1.0)


def test_iso8601_times() -> None:
    schema = build_config({"event_time": {"path": "at", "unit": "iso8601"},
                           "fields": [{"name": "x", "type": "numeric"}]}, EventSchema)
    rows = EventRows(1, {"x": np.array([1.0])}, {})
    document = EventWriter(schema, id_prefix="e", start_time=1_767_225_600.0,
                           interval_s=1.0).documents(rows, np.array([3]))[0]
    assert document == {"event_id": "e-0000003", "at": "2026-01-01T00:00:03+00:00", "x": 1.0}
