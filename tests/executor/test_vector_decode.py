"""The decoder of events with vector and image fields: values read as the schema decoder reads
them, each violation dead-lettered with its reason, the fast path equal to the strict one."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import EventSchema
from driftline.executor.decode import REASONS
from driftline.executor.decoded import DeadLetter, DecodedEvent
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.executor.vector_decode import VectorEventDecoder

SCHEMA = build_config({
    "event_id": {"path": "event_id"},
    "fields": [{"name": "age", "path": "features.age", "type": "numeric"},
               {"name": "im", "path": "features.im", "type": "image", "shape": [2, 3],
                "range": [0, 16]},
               {"name": "emb", "path": "features.emb", "type": "vector", "length": 4,
                "encoding": "base64_float32"}],
    "outputs": {"classes": ["a", "b"], "label": {"path": "label"}}}, EventSchema)
FIELDS = [f for f in SCHEMA.array_fields]
DECODER = VectorEventDecoder(["age"], FIELDS, n_classes=2)
EMB = base64.b64encode(np.array([0.5, -1, 2, 3], "<f4").tobytes()).decode()


def event(**features: object) -> bytes:
    values = {"age": 30, "im": [[0, 1, 2], [3, 4, 16]], "emb": EMB}
    values.update(features)
    return json.dumps({"event_id": "e", "features": {k: v for k, v in values.items()
                                                     if v is not None}, "label": 1}).encode()


def decode(value: bytes) -> DecodedEvent | DeadLetter:
    return DECODER.decode(value, topic="t", partition=0, offset=3, timestamp_ms=1000)


def test_a_good_event_matches_the_schema_decoder() -> None:
    decoded = decode(event())
    assert isinstance(decoded, DecodedEvent)
    batch = SchemaDecoder(SCHEMA).decode_batch([event()], topic="t", partition=0, offsets=[3])
    assert decoded.features.tolist() == batch.numeric[0].tolist() == [30.0]
    for i, spec in enumerate(FIELDS):
        assert decoded.vectors[i].dtype == np.float32
        assert decoded.vectors[i].tolist() == batch.vectors[spec.name][0].tolist()
    assert (decoded.label, decoded.timestamp, decoded.offset) == (1, 1.0, 3)


@pytest.mark.parametrize(("features", "reason"), [
    ({"im": [[0, 1, 2]]}, "bad_shape"),
    ({"im": [[0, 1, 2], [3, 4]]}, "bad_shape"),
    ({"im": [[0, 1, 2], [3, 4, 17]]}, "out_of_bounds"),
    ({"im": [[0, 1, 2], [3, 4, "x"]]}, "wrong_type"),
    ({"im": "AAAA"}, "wrong_type"),
    ({"emb": "not base64!"}, "bad_base64"),
    ({"emb": base64.b64encode(np.zeros(3, "<f4").tobytes()).decode()}, "bad_shape"),
    ({"emb": base64.b64encode(np.array([0, np.nan, 0, 0], "<f4").tobytes()).decode()},
     "non_finite"),
    ({"emb": None}, "missing_feature"),
    ({"age": "old"}, "wrong_type"),
    ({"other": 1.0}, "unknown_feature"),
])
def test_each_violation_is_dead_lettered_with_its_reason(features: dict[str, object],
                                                         reason: str) -> None:
    decoded = decode(event(**features))
    assert isinstance(decoded, DeadLetter), decoded
    assert decoded.reason == reason and reason in REASONS
    assert decoded.value == event(**features) and decoded.offset == 3


def test_non_finite_pixels_and_duplicate_keys_take_the_strict_path() -> None:
    nan = event().replace(b"[3, 4, 16]", b"[3, 4, NaN]")
    assert decode(nan).reason == "non_finite"  # type: ignore[union-attr]
    duplicate = event().replace(b'"label": 1', b'"label": 1, "label": 0')
    assert decode(duplicate).reason == "duplicate_key"  # type: ignore[union-attr]
    escaped = event().replace(b'"event_id": "e"', b'"event_id": "\\u0065"')
    assert isinstance(decode(escaped), DecodedEvent)


def test_vector_fields_are_required() -> None:
    with pytest.raises(ValueError, match="at least one vector or image field"):
        VectorEventDecoder(["age"], [])
