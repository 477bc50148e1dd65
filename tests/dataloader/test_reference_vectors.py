"""Vector and image fields in reference files: CSV (JSON or base64 texts), Parquet (lists,
nested lists, texts, raw bytes) and JSON Lines give the same float32 blocks; a value the decoder
would dead-letter is one line naming the file, the column and the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.configs import build_config
from driftline.dataloader.reference_reader import (
    MAX_CHUNK_VALUES,
    ReferenceDataError,
    ReferenceReader,
)
from driftline.dataloader.schema import EventSchema
from driftline.dataloader.vector_values import array_json

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 17, size=(5, 2, 3)).astype(np.float32)
EMBEDDING = RNG.normal(size=(5, 4)).astype(np.float32)


def schema(embedding_encoding: str = "array", optional: bool = False) -> EventSchema:
    return build_config({"fields": [
        {"name": "x", "type": "numeric"},
        {"name": "pixels", "path": "input.pixels", "type": "image", "shape": [2, 3],
         "range": [0, 16]},
        {"name": "embedding", "type": "vector", "length": 4, "encoding": embedding_encoding,
         "optional": optional}]}, EventSchema)


def blocks(path: Path, events: EventSchema) -> dict[str, np.ndarray]:
    chunks = list(ReferenceReader(path, events, chunk_rows=2).chunks())
    return {name: np.concatenate([c.vectors[name] for c in chunks])
            for name in ("pixels", "embedding")}


def check(found: dict[str, np.ndarray], missing_rows: tuple[int, ...] = ()) -> None:
    np.testing.assert_array_equal(found["pixels"], PIXELS.reshape(5, 6))
    expected = EMBEDDING.copy()
    expected[list(missing_rows)] = np.nan
    np.testing.assert_array_equal(found["embedding"], expected)


@pytest.mark.parametrize("encoding", ["array", "base64_float32"])
def test_jsonl_rows_are_read_like_events(tmp_path: Path, encoding: str) -> None:
    events = schema(encoding)
    path = tmp_path / "ref.jsonl"
    path.write_text("".join(json.dumps({
        "x": float(i), "input": {"pixels": array_json(events.fields[1], PIXELS[i])},
        "embedding": array_json(events.fields[2], EMBEDDING[i])}) + "\n" for i in range(5)))
    check(blocks(path, events))


@pytest.mark.parametrize("encoding", ["array", "base64_float32"])
def test_csv_cells_hold_json_or_base64_texts(tmp_path: Path, encoding: str) -> None:
    events = schema(encoding, optional=True)
    path = tmp_path / "ref.csv"
    rows = [(float(i), json.dumps(PIXELS[i].tolist()),
             "" if i == 3 else json.dumps(array_json(events.fields[2], EMBEDDING[i])))
            for i in range(5)]
    path.write_text("x;pixels;embedding\n" + "".join(
        f"{x};{p};{e}\n".replace(';"', ";").replace('";', ";").replace('"\n', "\n")
        for x, p, e in rows))
    check(blocks(path, events), missing_rows=(3,))


@pytest.mark.parametrize("layout", ["lists", "fixed_size", "flat_image", "raw_bytes", "texts"])
def test_parquet_columns_of_every_layout(tmp_path: Path, layout: str) -> None:
    encoding = "base64_float32" if layout in ("raw_bytes", "texts") else "array"
    events = schema(encoding)
    pixels: Any = [p.tolist() for p in PIXELS]
    embedding: Any = pa.array([e.tolist() for e in EMBEDDING])
    if layout == "fixed_size":
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(EMBEDDING.reshape(-1)), 4)
    elif layout == "flat_image":
        pixels = [p.reshape(-1).astype(int).tolist() for p in PIXELS]
    elif layout == "raw_bytes":
        embedding = pa.array([e.astype("<f4").tobytes() for e in EMBEDDING], type=pa.binary())
    elif layout == "texts":
        embedding = pa.array([array_json(events.fields[2], e) for e in EMBEDDING])
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": np.arange(5.0), "pixels": pa.array(pixels),
                             "embedding": embedding}), path)
    check(blocks(path, events))


def write_parquet(tmp_path: Path, embedding: Any) -> Path:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": [0.0, 1.0], "pixels": [PIXELS[0].tolist()] * 2,
                             "embedding": embedding}), path)
    return path


@pytest.mark.parametrize(("embedding", "message"), [
    (pa.array([[1.0, 2, 3, 4], [1.0, 2, 3]]), "data row 2: 3 values, expected 4"),
    (pa.array([[1.0, 2, 3, 4], None]), "data row 2 has no value, but the field is not optional"),
    (pa.array([[1.0, 2, 3, 4], [1.0, None, 3, 4]]), "data row 2: element 1 is null"),
    (pa.array([[1.0, 2, 3, 4], [1.0, np.inf, 3, 4]]), "data row 2: element 1 = inf"),
    (pa.array([["a"] * 4, ["b"] * 4]), "has elements of type string, expected numbers"),
    (pa.array(["[1, 2, 3, 4]", "[1, 2, NaN, 4]"]), "data row 2: element 2 is not a finite"),
    (pa.array(["[1, 2, 3, 4]", "[1, 2,"]), "data row 2: not a JSON array"),
    (pa.array([b"\0" * 16, b"\0" * 15]), "raw bytes need encoding base64_float32"),
    (pa.array([1.0, 2.0]), "has type double, expected arrays of numbers, texts or bytes"),
])
def test_bad_parquet_values_name_the_file_column_and_row(tmp_path: Path, embedding: Any,
                                                         message: str) -> None:
    path = write_parquet(tmp_path, embedding)
    with pytest.raises(ReferenceDataError) as caught:
        blocks(path, schema())
    text = str(caught.value)
    assert text.startswith(f"{path}: column 'embedding' of field 'embedding'")
    assert message in text


def test_a_pixel_outside_the_declared_range_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ref.jsonl"
    lines = [{"x": 1, "input": {"pixels": PIXELS[0].tolist()}, "embedding": [0, 0, 0, 0]},
             {"x": 1, "input": {"pixels": [[0, 1, 2], [3, 4, 99]]}, "embedding": [0] * 4}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ReferenceDataError, match=r"line 2: field 'pixels' \(input.pixels\): "
                       r"pixel 5 = 99.0 is outside \[0.0, 16.0\]"):
        blocks(path, schema())


def test_chunks_of_wide_fields_are_capped(tmp_path: Path) -> None:
    events = build_config({"fields": [{"name": "e", "type": "vector", "length": 4096}]},
                          EventSchema)
    path = tmp_path / "ref.jsonl"
    path.write_text(json.dumps({"e": [0.0] * 4096}) + "\n")
    assert ReferenceReader(path, events).chunk_rows == MAX_CHUNK_VALUES // 4096
    assert ReferenceReader(path, events, chunk_rows=10).chunk_rows == 10
