"""SchemaDecoder with vector and image fields: an ``(n, size)`` float32 block per field aligned
with the accepted events, every violation a dead letter with its reason (or, on an optional
field, a ``wrong_type`` flag), batch == one at a time, the strict parser's path == orjson's."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import EventSchema
from driftline.dataloader.vector_values import array_json
from driftline.executor.schema_decoder import REASONS, SchemaDecoder, SchemaEvent

SCHEMA = build_config({"fields": [
    {"name": "x", "type": "numeric"},
    {"name": "pixels", "path": "input.pixels", "type": "image", "shape": [2, 2],
     "range": [0, 16]},
    {"name": "embedding", "type": "vector", "length": 3, "encoding": "base64_float32"},
    {"name": "extra", "type": "vector", "length": 2, "optional": True}]}, EventSchema)


def event(i: int, **changes: Any) -> bytes:
    data: dict[str, Any] = {
        "event_id": f"e{i}", "x": float(i), "input": {"pixels": [[i % 17, 1], [2, 3]]},
        "embedding": array_json(SCHEMA.fields[2], np.array([i, 0.5, -1.0])),
        "extra": [i, i + 1]}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


def decode(records: list[bytes]) -> Any:
    return SchemaDecoder(SCHEMA).decode_batch(records, topic="t", partition=0,
                                              offsets=list(range(len(records))))


def test_vector_blocks_are_aligned_with_the_accepted_events() -> None:
    records = [event(i) for i in range(6)]
    records[2] = event(2, input={"pixels": [[1, 2], [3, 99]]})
    records[4] = event(4, embedding="AAAA")
    batch = decode(records)
    assert batch.event_ids == ["e0", "e1", "e3", "e5"]
    assert batch.vector_names == ["pixels", "embedding", "extra"]
    assert batch.numeric_names == ["x"]
    assert batch.vectors["pixels"].dtype == np.float32
    np.testing.assert_array_equal(batch.vectors["pixels"][:, 0], [0, 1, 3, 5])
    np.testing.assert_array_equal(batch.vectors["embedding"],
                                  [[i, 0.5, -1.0] for i in (0, 1, 3, 5)])
    np.testing.assert_array_equal(batch.vectors["extra"], [[i, i + 1] for i in (0, 1, 3, 5)])
    assert [(d.reason, d.offset) for d in batch.dead_letters] == [("out_of_bounds", 2),
                                                                   ("bad_shape", 4)]


@pytest.mark.parametrize(("changes", "reason", "detail"), [
    ({"input": None}, "missing_field", "field 'pixels' (input.pixels) is missing"),
    ({"input": {"pixels": None}}, "missing_field", "is missing"),
    ({"input": 5}, "wrong_type", "field 'pixels' (input.pixels)"),
    ({"input": {"pixels": [[1, 2], [3]]}}, "bad_shape", "element 1 has 1 entries, expected 2"),
    ({"input": {"pixels": [[1, 2], [3, "4"]]}}, "wrong_type", "is str, not a number"),
    ({"input": {"pixels": [[1, 2], [3, 17]]}}, "out_of_bounds", "pixel 3 = 17.0 is outside"),
    ({"embedding": [1, 2, 3]}, "wrong_type", "a base64 text is expected"),
    ({"embedding": "@@@@"}, "bad_base64", "not base64"),
    ({"embedding": base64.b64encode(np.array([1, np.nan, 2], "<f4").tobytes()).decode()},
     "non_finite", "element 1 is not a finite number"),
])
def test_each_violation_dead_letters_the_event(changes: dict[str, Any], reason: str,
                                               detail: str) -> None:
    batch = decode([event(0), event(1, **changes)])
    assert batch.event_ids == ["e0"]
    (dead,) = batch.dead_letters
    assert dead.reason == reason and reason in REASONS
    assert detail in dead.detail
    assert dead.value == event(1, **changes)


def test_non_finite_json_numbers_dead_letter_through_the_strict_parser() -> None:
    text = event(1).decode().replace('"x": 1.0', '"x": 1.0, "note": "a\\\\b"').replace(
        '"input": {"pixels": [[1, 1], [2, 3]]}', '"input": {"pixels": [[1, NaN], [2, 3]]}')
    batch = decode([event(0), text.encode()])
    assert [(d.reason, d.detail.split(": ", 1)[1]) for d in batch.dead_letters] == [
        ("non_finite", "element 0][1 is not a finite number (NaN)")]


@pytest.mark.parametrize(("extra", "flag"), [(None, "missing"), ([1, 2, 3], "wrong_type"),
                                             ([1, "2"], "wrong_type"), ("[1, 2]", "wrong_type")])
def test_an_optional_vector_is_served_as_missing(extra: Any, flag: str) -> None:
    batch = decode([event(0, extra=extra)])
    assert batch.event_ids == ["e0"] and not batch.dead_letters
    assert np.isnan(batch.vectors["extra"][0]).all()
    assert batch.quality_counts() == {"extra": {flag: 1}}


def test_one_at_a_time_equals_the_batch() -> None:
    records = [event(i) for i in range(4)] + [event(9, extra=[1]), event(5, embedding="x")]
    batch = decode(records)
    decoder = SchemaDecoder(SCHEMA)
    singles = [decoder.decode(r, topic="t", partition=0, offset=k) for k, r in enumerate(records)]
    served = [s for s in singles if isinstance(s, SchemaEvent)]
    assert [s.event_id for s in served] == batch.event_ids
    for k, single in enumerate(served):
        for name in batch.vector_names:
            np.testing.assert_array_equal(single.vectors[name], batch.vectors[name][k])
    assert [s.reason for s in singles if not isinstance(s, SchemaEvent)] == [
        d.reason for d in batch.dead_letters]


def test_an_empty_batch_has_empty_blocks() -> None:
    batch = decode([])
    assert {name: block.shape for name, block in batch.vectors.items()} == {
        "pixels": (0, 4), "embedding": (0, 3), "extra": (0, 2)}
