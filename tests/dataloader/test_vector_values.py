"""Vector and image values: every encoding round-trips, every violation has its reason, the batch
path equals the row-by-row path, and the schema keys are validated with errors naming the key."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from driftline.configs import ConfigError, build_config
from driftline.dataloader.field_values import NonFinite
from driftline.dataloader.schema import EventSchema, ImageField, VectorField
from driftline.dataloader.vector_values import array_block, array_json, array_value


def vector(**keys: Any) -> VectorField:
    return build_config({"name": "v", "type": "vector", "length": 3, **keys}, VectorField)


def image(**keys: Any) -> ImageField:
    return build_config({"name": "im", "type": "image", "shape": [2, 3], **keys}, ImageField)


@pytest.mark.parametrize("spec", [vector(), vector(encoding="base64_float32"), image(),
                                  image(encoding="base64_uint8"),
                                  build_config({"name": "rgb", "type": "image",
                                                "shape": [2, 2, 3]}, ImageField)])
def test_every_encoding_round_trips(spec: Any) -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(5, spec.size)).astype(np.float32)
    if spec.encoding != "base64_uint8":
        rows += rng.normal(size=rows.shape).astype(np.float32)
    # through JSON text, as a producer and a consumer see it
    column = [json.loads(json.dumps(array_json(spec, row))) for row in rows]
    block, problems = array_block(spec, column)
    assert problems == {}
    assert block.dtype == np.float32 and block.shape == (5, spec.size)
    np.testing.assert_array_equal(block, rows)


def test_base64_float32_is_little_endian_float32() -> None:
    values = np.array([1.5, -2.0, 3.25], dtype="<f4")
    text = base64.b64encode(values.tobytes()).decode()
    np.testing.assert_array_equal(array_value(vector(encoding="base64_float32"), text), values)


@pytest.mark.parametrize(("spec", "item", "kind", "detail"), [
    (vector(), [1, 2], "bad_shape", "2 values, expected 3"),
    (vector(), "1,2,3", "wrong_type", "the value is str, not an array"),
    (vector(), [1, "2", 3], "wrong_type", "element 1 is str, not a number"),
    (vector(), [1, True, 3], "wrong_type", "element 1 is bool, not a number"),
    (vector(), [1, None, 3], "wrong_type", "element 1 is NoneType, not a number"),
    (vector(), [1, [2], 3], "wrong_type", "element 1 is list, not a number"),
    (vector(), [1, NonFinite("NaN"), 3], "non_finite", "element 1 is not a finite number"),
    (vector(), [1, 1e300, 3], "non_finite", "beyond float32's range"),
    (image(), [[1, 2, 3], [4, 5]], "bad_shape", "element 1 has 2 entries, expected 3"),
    (image(), [[1, 2, 3]], "bad_shape", "1 entries, expected 2x3"),
    (image(), [1, 2, 3, 4, 5, 6], "bad_shape", "the value has 6 entries, expected 2x3"),
    (image(), [1, 2], "wrong_type", "element 0 is int, not an array"),
    (image(), [[1, 2, 3], [4, 5, "6"]], "wrong_type", "element 1][2 is str"),
    (image(range=[0, 16]), [[1, 2, 3], [4, 5, 17]], "out_of_bounds",
     "pixel 5 = 17.0 is outside [0.0, 16.0]"),
    (vector(encoding="base64_float32"), [1, 2, 3], "wrong_type", "a base64 text is expected"),
    (vector(encoding="base64_float32"), "not base64!", "bad_base64", "not base64"),
    (vector(encoding="base64_float32"), base64.b64encode(b"\0" * 8).decode(), "bad_shape",
     "8 bytes decoded, expected 12 (3 float32 values)"),
    (vector(encoding="base64_float32"),
     base64.b64encode(np.array([1, np.inf, 0], dtype="<f4").tobytes()).decode(), "non_finite",
     "element 1 is not a finite number"),
    (image(encoding="base64_uint8"), base64.b64encode(b"\1" * 5).decode(), "bad_shape",
     "5 bytes decoded, expected 6"),
])
def test_each_violation_has_its_reason(spec: Any, item: Any, kind: str, detail: str) -> None:
    good = array_json(spec, np.arange(spec.size))
    block, problems = array_block(spec, [good, item, good])
    assert list(problems) == [1]
    assert problems[1].kind == kind
    assert detail in str(problems[1])
    assert np.isnan(block[1]).all()
    np.testing.assert_array_equal(block[[0, 2]], np.tile(np.arange(spec.size), (2, 1)))


def test_the_batch_path_equals_row_by_row() -> None:
    spec = image(range=[-5, 300])
    rng = np.random.default_rng(1)
    column: list[Any] = []
    for _ in range(200):
        row = rng.integers(-10, 310, size=(2, 3)).tolist()
        if rng.random() < 0.1:
            row[1] = row[1][:2]
        if rng.random() < 0.1:
            row[0][0] = "x"
        column.append(row)
    block, problems = array_block(spec, column)
    for k, item in enumerate(column):
        if k in problems:
            with pytest.raises(Exception) as caught:
                array_value(spec, item)
            assert caught.value.kind == problems[k].kind  # type: ignore[attr-defined]
        else:
            np.testing.assert_array_equal(array_value(spec, item), block[k])
    assert 0 < len(problems) < 200


def test_array_json_refuses_what_the_field_cannot_hold() -> None:
    with pytest.raises(ValueError, match="takes 3 values, got 2"):
        array_json(vector(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"integers in 0\.\.255"):
        array_json(image(encoding="base64_uint8"), np.full(6, 256))


@pytest.mark.parametrize(("field", "message"), [
    ({"name": "v", "type": "vector"}, "fields[0].length"),
    ({"name": "v", "type": "vector", "length": 0}, "fields[0].length"),
    ({"name": "v", "type": "vector", "length": 3, "encoding": "base64_uint8"},
     "fields[0].encoding"),
    ({"name": "i", "type": "image", "shape": [8]}, "fields[0].shape"),
    ({"name": "i", "type": "image", "shape": [8, 0]}, "fields[0].shape[1]: must be >= 1"),
    ({"name": "i", "type": "image", "shape": [1000, 1000]}, "fields[0].shape: [1000, 1000] has"),
    ({"name": "i", "type": "image", "shape": [8, 8], "range": [2, 1]},
     "fields[0].range: low must be <= high"),
    ({"name": "i", "type": "image", "shape": [8, 8], "encoding": "base64_uint8",
      "range": [0, 16]}, "fields[0].range: does not apply to encoding base64_uint8"),
    ({"name": "i", "type": "image", "shape": [8, 8], "length": 3},
     "fields[0].length: unknown key"),
])
def test_bad_vector_keys_name_the_key(field: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"fields": [field]}, EventSchema, source="s.yaml")
    assert message in str(caught.value)


def test_array_fields_know_their_size() -> None:
    schema = build_config({"fields": [
        {"name": "x", "type": "numeric"},
        {"name": "rgb", "type": "image", "shape": [4, 5, 3]},
        {"name": "e", "type": "vector", "length": 768}]}, EventSchema)
    assert [(f.name, f.dims, f.size) for f in schema.array_fields] == [
        ("rgb", (4, 5, 3), 60), ("e", (768,), 768)]
